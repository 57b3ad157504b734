/* logline: the uniform log event of relrun (DESIGN.md "The uniform log line").
 *
 * Every line from every child of relrun-pod goes through a logline_stream:
 * bytes in, whole events out. A stream splits lines, recognises the start of
 * an event (the app's Logger console format, or a JSON object), groups the
 * lines that continue an event (stack traces, multi-line messages), and hands
 * each finished event to a callback, which usually encodes it with
 * logline_encode as json, logfmt or text. Memory per stream is bounded: an
 * over-long line or event is emitted in parts, each marked split, never
 * dropped. */
#ifndef RELRUN_LOGLINE_H
#define RELRUN_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct logline_format;
struct logline_stream;

enum logline_src { LOGLINE_SRC_APP, LOGLINE_SRC_RPC, LOGLINE_SRC_RELRUN };

/* Erlang/Elixir levels, least to most severe. */
enum logline_level {
        LOGLINE_DEBUG,
        LOGLINE_INFO,
        LOGLINE_NOTICE,
        LOGLINE_WARNING,
        LOGLINE_ERROR,
        LOGLINE_CRITICAL,
        LOGLINE_ALERT,
        LOGLINE_EMERGENCY,
};

/* json: relrun's own JSON form. gcp, ecs, datadog: JSON in the field names
 * and level words a log collector reads (Cloud Logging's structured logging,
 * the Elastic Common Schema, Datadog's reserved attributes), so it takes the
 * level from the line, not from the stream. */
enum logline_out {
        LOGLINE_OUT_JSON,
        LOGLINE_OUT_LOGFMT,
        LOGLINE_OUT_TEXT,
        LOGLINE_OUT_GCP,
        LOGLINE_OUT_ECS,
        LOGLINE_OUT_DATADOG,
};
#define LOGLINE_OUT_NAMES "json, logfmt, text, gcp, ecs or datadog"

#define LOGLINE_MAX_FIELDS 16
#define LOGLINE_TS_MAX     40

struct logline_field {
        const char *key;
        size_t key_len;
        const char *val;
        size_t val_len;
        bool raw_json; /* val is a JSON value (number, bool, object...) to copy as is */
};

/* One event. All pointers are borrowed from whoever built it. */
struct logline_event {
        char ts[LOGLINE_TS_MAX]; /* "2026-11-23T06:00:00.123Z" */
        enum logline_level level;
        enum logline_src src;
        const char *msg;
        size_t msg_len;
        const char *node; /* may be NULL */
        struct logline_field fields[LOGLINE_MAX_FIELDS];
        size_t nfields;
        bool split; /* one part of a line or event too long to keep whole */
};

/* Level names: "debug", "info", ... Parsing accepts "warn" and any case. */
const char *logline_level_name(enum logline_level l);
int logline_level_parse(const char *s, size_t n, enum logline_level *out);
const char *logline_src_name(enum logline_src s);
/* One of LOGLINE_OUT_NAMES; ERR_USAGE otherwise. */
int logline_out_parse(const char *s, enum logline_out *out, struct err *e);
/* The name logline_out_parse takes for f. */
const char *logline_out_name(enum logline_out f);

/* Format a UTC time in milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ"
 * into ts (at least LOGLINE_TS_MAX bytes). */
void logline_format_ts(int64_t unix_ms, char *ts);

/* The app's console format, compiled from a Logger format string such as
 * "$time $metadata[$level] $message\n" (Elixir's default, used when fmt is
 * NULL). Known: $date $time $level $levelpad $metadata $message $node, and
 * for Erlang's logger_formatter templates $erltime (its RFC 3339 time, the
 * offset applied) and $meta:KEY (one metadata value, as field KEY). ERR_USAGE
 * for an unknown $word or a format without $message. Free with
 * logline_format_free. */
int logline_format_new(const char *fmt, struct logline_format **out, struct err *e);
void logline_format_free(struct logline_format *f);

/* The app logs local time (no utc_log): times parsed by f are local to the
 * TZ of this process and are converted to UTC; $time without $date gets
 * today's local date. Default: the app logs UTC. */
void logline_format_set_local(struct logline_format *f, bool local);

/* Match one line (no newline) against the format. Returns true when the line
 * starts an event; then fills ev->ts (the line's time; the date of now_ms when
 * the format has $time but no $date), level, msg (points into line) and the
 * metadata fields (pointing into line). ev->src and ev->node are left alone. */
bool logline_format_match(const struct logline_format *f, const char *line, size_t n,
                          int64_t now_ms, struct logline_event *ev);

/* Encode one event as a single line (ending in '\n') onto out. Text form keeps
 * a multi-line message readable: continuation lines are indented. The JSON
 * forms reserve room for the worst case once and write in place. Returns -1
 * only if out's cap is reached (or, near the cap, memory ran out). */
int logline_encode(const struct logline_event *ev, enum logline_out fmt, struct buf *out);

typedef int (*logline_emit_fn)(void *ctx, const struct logline_event *ev);
typedef int64_t (*logline_clock_fn)(void *ctx); /* UTC ms since the epoch */

struct logline_stream_opts {
        enum logline_src src;
        enum logline_level plain_level;   /* level of lines that carry none */
        const struct logline_format *fmt; /* borrowed; NULL = lines never start events by format */
        const char *node;                 /* borrowed; may be NULL */
        logline_emit_fn emit;
        void *emit_ctx;
        logline_clock_fn clock; /* NULL = the real clock */
        void *clock_ctx;
        size_t max_line;  /* 0 = 64 KiB */
        size_t max_event; /* 0 = 256 KiB */
};

/* New stream; NULL only when out of memory. */
struct logline_stream *logline_stream_new(const struct logline_stream_opts *o);

/* Match event starts by fmt from now on (borrowed; NULL = none), e.g. once
 * the app's own format is known. */
void logline_stream_set_format(struct logline_stream *s, const struct logline_format *fmt);
void logline_stream_free(struct logline_stream *s);

/* Feed bytes as they were read; any split is fine. Emits every event that is
 * known to be complete. Returns -1 if the emit callback failed or memory ran
 * out. */
int logline_stream_feed(struct logline_stream *s, const char *data, size_t n);

/* Mark the end of one read from the child: lines of the next read get a new
 * receive time. (A line that does not start an event continues the pending
 * one only when it is indented, whatever read it came in.) */
void logline_stream_chunk_end(struct logline_stream *s);

/* Emit the pending event, if any (the child went quiet). */
int logline_stream_flush(struct logline_stream *s);

/* End of input: the partial last line becomes an event too, then flush. */
int logline_stream_finish(struct logline_stream *s);

/* True while an event is held back waiting for continuation lines. */
bool logline_stream_pending(const struct logline_stream *s);

/* ---- Decoding: the coordinator reads relrun-pod's events back -------------- */

/* What a top-level key of an event is, in any profile relrun-pod writes
 * (json: ts level src msg node; gcp: time severity message
 * logging.googleapis.com/labels; ecs: @timestamp log.level message log.logger
 * service.node.name; datadog: timestamp status message logger.name). key is
 * the raw text between the quotes; a key written with escapes is OTHER. */
enum logline_role {
        LOGLINE_ROLE_OTHER, /* a metadata field */
        LOGLINE_ROLE_TS,
        LOGLINE_ROLE_LEVEL,
        LOGLINE_ROLE_SRC,
        LOGLINE_ROLE_MSG,
        LOGLINE_ROLE_NODE,
        LOGLINE_ROLE_LABELS, /* gcp's labels object: src and node ride in it */
        LOGLINE_ROLE_SKIP,   /* said by the profile, not by the app (ecs.version) */
};
enum logline_role logline_key_role(const char *key, size_t n);

/* A level as any profile words it ("WARNING", "warn", "err", "crit", "fatal",
 * "trace", gcp's "DEFAULT", ...; any case) as the Erlang level. Returns 0, or
 * -1 for a word no profile uses (*out untouched). */
int logline_level_word(const char *s, size_t n, enum logline_level *out);

/* Append s[0..n) to out so that a terminal shows it and obeys none of it:
 * printable text, tab and newline as they are; every other C0 control (ESC,
 * so every CSI and OSC sequence, BEL, CR, ...), DEL and every C1 control
 * (U+0080-U+009F, or a lone byte 0x80-0x9F) written visibly as \xNN; other
 * bytes that are not valid UTF-8 as U+FFFD. Returns 0, or -1 at out's cap. */
int logline_text_safe(struct buf *out, const char *s, size_t n);

/* How many bytes s[0..n) starts with that logline_text_safe writes as they
 * are (printable ASCII, tab, newline): n for the usual line. */
size_t logline_plain_prefix(const char *s, size_t n);

#endif
