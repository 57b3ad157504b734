/* cron: the schedule of a CronJob, checked locally the way the Kubernetes
 * API server checks spec.schedule (robfig/cron's standard parser: five
 * fields or a macro; no time zone prefix), so that a bad schedule fails
 * before anything is posted and the message names the field at fault. */
#ifndef RELRUN_CRON_H
#define RELRUN_CRON_H

#include "err.h"

/* Check a schedule: "minute hour day-of-month month day-of-week" with the
 * ranges 0-59, 0-23, 1-31, 1-12 (or JAN-DEC), 0-6 (or SUN-SAT); names in any
 * case. A field is a comma-separated list of items; an item is "*" or "?",
 * a value, a range "a-b", each optionally with a step "/n" (every 15
 * minutes: star-slash-15). Or one of the macros @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight, @hourly.
 * Kubernetes rejects @every, a day-of-week of 7 and CRON_TZ=/TZ= prefixes
 * (spec.timeZone instead), and so does this.
 * Returns 0, or -1 with ERR_USAGE and a message such as
 * 'hour "24": 24 is out of range 0-23' (the caller adds which flag). */
int cron_check(const char *schedule, struct err *e);

#endif
