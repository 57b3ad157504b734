/* cli: small value parsers shared by relrun and relrun-pod (no printing, no exit). */
#ifndef RELRUN_CLI_H
#define RELRUN_CLI_H

#include <stdint.h>

#include "err.h"

/* Parse a duration: "250ms", "30s", "5m", "1h", "1h30m", or a bare number of
 * seconds ("90"). Writes milliseconds to *ms. ERR_USAGE naming the flag on
 * error ("--grace \"x\": not a duration (examples: 30s, 5m, 1h30m)"). */
int cli_parse_duration(const char *flag, const char *s, int64_t *ms, struct err *e);

/* Parse a decimal integer within [min, max]. ERR_USAGE naming the flag. */
int cli_parse_int(const char *flag, const char *s, int64_t min, int64_t max, int64_t *out,
                  struct err *e);

#endif
