/* expr: Elixir expressions for relrun tasks — checking a raw expression before
 * it is sent, building a call safely from --mfa/--args JSON, and deriving a
 * short name for the Job.
 *
 * Nothing here evaluates or fully parses Elixir; the checker is a tokenizer
 * that knows enough (strings, heredocs, sigils, char literals, comments,
 * interpolation) to find unbalanced brackets and unclosed quotes, so a typo
 * fails on the laptop with a column number instead of in the pod. */
#ifndef RELRUN_EXPR_H
#define RELRUN_EXPR_H

#include <stddef.h>

#include "err.h"

/* The longest expression accepted, in bytes. */
#define EXPR_MAX (64 * 1024)
/* The longest slug expr_slug writes, without the terminator. */
#define EXPR_SLUG_MAX 40

/* Check a raw expression: non-empty, at most EXPR_MAX bytes, valid UTF-8, no
 * NUL, no control characters other than "\n" and "\t", no Unicode
 * bidirectional formatting characters, () [] {} <<>> balanced and correctly
 * nested, strings "..." '...' heredocs """...""" '''...''' and sigils closed,
 * "#{...}" inside strings and lowercase sigils tracked, ?c char literals and
 * "# ..." comments skipped.
 * Returns 0, or -1 with ERR_USAGE and a message that names what and where:
 *   expression: unclosed "(" opened at column 12
 *   expression: unexpected ")" at line 2, column 5
 *   expression: control character 0x01 at column 3
 * Lines are given only for expressions spanning several lines; columns count
 * characters (code points) from 1. */
int expr_check(const char *s, struct err *e);

/* The same for a buffer of n bytes that may contain NUL bytes. */
int expr_check_n(const char *s, size_t n, struct err *e);

/* The language of a task (relrun --lang). */
enum expr_lang { EXPR_LANG_ELIXIR, EXPR_LANG_ERLANG };

/* expr_check for either language. Erlang: "..." strings, 'quoted atoms',
 * $c characters, % comments; # and ? are code (maps, records, macros). */
int expr_check_lang(const char *s, enum expr_lang lang, struct err *e);

/* Build the Elixir call for mfa with arguments from args_json.
 *
 * mfa is "Mod.fun", "Mod.Sub.fun" (aliases: capitalised segments
 * [A-Z][A-Za-z0-9_]*) or ":erlang_mod.fun" (atom [a-z][a-zA-Z0-9_@]*); the
 * function name is [a-z_][a-zA-Z0-9_]*[?!]?.
 * args_json is a JSON array (NULL means no arguments). JSON maps to Elixir as
 *   string  -> "..." with \\ \" \#{ escaped and control, C1 and bidi
 *              characters as \n \t \r or \u{XX}: no interpolation can run,
 *              the value round-trips byte for byte
 *   object  -> %{"key" => value} (string keys, insertion order; a trailing
 *              object stays a map, never keywords), except the tagged
 *              one-member objects for what JSON has no word for:
 *                {"$atom": "ok"}            -> :ok (quoted when not bare: :"a b")
 *                {"$kw": {"bitrate": 4000}} -> [bitrate: 4000] (in order)
 *                {"$tuple": ["ok", 1]}      -> {"ok", 1}
 *              ("$" keys of other objects are plain map keys)
 *   array   -> [a, b]
 *   number  -> its JSON text (any size integer); a float without a fraction
 *              gets one ("1e3" -> "1.0e3") because Elixir needs it
 *   true/false/null -> true/false/nil
 * On success *out is a new NUL-terminated string (free with free()); it passes
 * expr_check. Errors (ERR_USAGE):
 *   --mfa "foo": want Module.function or :module.function
 *   --args: invalid JSON at offset 7: unexpected character
 *   --args: want a JSON array, got an object */
int expr_from_mfa(const char *mfa, const char *args_json, char **out, struct err *e);

/* The placeholder of --each. */
#define EXPR_ITEM "$item"

/* For --each: one expression per element of the JSON array items_json,
 * each being expr with every $item that stands in code replaced by that
 * element in parentheses, serialised as expr_from_mfa does an argument
 * (`LiveStream.run($item)` with ["s1", {"$atom": "s2"}] gives
 * `LiveStream.run(("s1"))` and `LiveStream.run((:s2))`): no text is spliced.
 * On success *out is a new array of *n new strings, each passing
 * expr_check (expr_each_free). Errors (ERR_USAGE): the expression's own
 * (expr_check), $item not used, $item inside a string, charlist, sigil or
 * comment (a term there could end the quotes), bad JSON or not an array
 * ("--each: want a JSON array, got an object"), an empty array. */
int expr_each(const char *expr, const char *items_json, char ***out, size_t *n, struct err *e);
void expr_each_free(char **exprs, size_t n);
/* expr_each for either language: Erlang items as --lang erlang --args makes
 * them (strings as binaries, objects as maps), $item looked for in Erlang's
 * code (not in "strings", 'atoms' or % comments). */
int expr_each_lang(const char *expr, const char *items_json, enum expr_lang lang, char ***out,
                   size_t *n, struct err *e);

/* expr_from_mfa for either language. Erlang: mfa is "module:function"
 * (atoms [a-z][a-zA-Z0-9_@]*, not reserved words), the call ends in a full
 * stop, and JSON maps to Erlang terms as
 *   string  -> <<"..."/utf8>>, \ and " escaped, all else outside printable
 *              ASCII as \x{H} (Erlang strings interpolate nothing)
 *   object  -> #{<<"key"/utf8>> => value}; the tagged objects as
 *              {"$atom": "ok"} -> ok ('quoted' when not bare: 'a b', 'end'),
 *              {"$kw": {"bitrate": 4000}} -> [{bitrate, 4000}] (a proplist),
 *              {"$tuple": [...]} -> {...}
 *   array   -> [a, b]; numbers as for Elixir; true/false; null -> undefined
 * live_stream:run(<<"s1"/utf8>>, #{<<"bitrate"/utf8>> => 4000}). */
int expr_from_mfa_lang(const char *mfa, const char *args_json, enum expr_lang lang, char **out,
                       struct err *e);

/* Derive a DNS-1123 label from the expression's leading call for use in Job
 * names and labels: "LiveStream.run(\"x\")" -> "live-stream-run",
 * ":erlang.halt()" -> "erlang-halt". At most min(n - 1, EXPR_SLUG_MAX)
 * characters of [a-z0-9-], starting and ending with a letter or digit; "task"
 * when nothing usable is found. n must be at least 5. Returns the length
 * written. */
size_t expr_slug(const char *expr, char *buf, size_t n);

#endif
