#include "expr.h"

#include "codec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"

#define MAX_DEPTH 256

/* Characters that reorder how source text is displayed ("Trojan Source");
 * Elixir itself refuses them unescaped in strings. */
static bool is_bidi(uint32_t cp)
{
        return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069);
}

static bool is_control(uint32_t cp)
{
        return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

/* ---- the checker -------------------------------------------------------- */

enum frame_kind {
        F_PAREN,
        F_BRACKET,
        F_BRACE,
        F_BINARY,  /* << >> */
        F_INTERP,  /* #{ } inside a string */
        F_LITERAL, /* string, charlist, heredoc or sigil */
};

struct frame {
        enum frame_kind kind;
        char close;   /* closing character; for heredocs the quote tripled */
        bool heredoc; /* closes with three of close */
        bool interp;  /* #{ starts code */
        char what[24];
        unsigned line, col;
};

struct scan {
        const char *s;
        size_t n, i;
        unsigned line, col;
        bool multiline;
        struct frame st[MAX_DEPTH];
        size_t depth;
        struct err *e;
        bool erlang; /* Erlang syntax: % comments, $c chars, 'quoted atoms', no #{} */
        /* expr_with_item: where the placeholder stands in code */
        const char *ph;
        size_t phn;
        size_t *hits, nhits, maxhits;
};

static const char *where(const struct scan *sc, unsigned line, unsigned col, char *b, size_t bn)
{
        if (sc->multiline)
                snprintf(b, bn, "line %u, column %u", line, col);
        else
                snprintf(b, bn, "column %u", col);
        return b;
}

static void advance(struct scan *sc)
{
        unsigned char c = (unsigned char)sc->s[sc->i++];
        if (c == '\n') {
                sc->line++;
                sc->col = 1;
        } else if ((c & 0xc0) != 0x80) {
                sc->col++;
        }
}

static void advance_n(struct scan *sc, size_t k)
{
        while (k-- && sc->i < sc->n)
                advance(sc);
}

/* Step over one whole code point (the input is known to be valid UTF-8). */
static void advance_cp(struct scan *sc)
{
        advance(sc);
        while (sc->i < sc->n && ((unsigned char)sc->s[sc->i] & 0xc0) == 0x80)
                advance(sc);
}

static char at(const struct scan *sc, size_t k)
{
        return sc->i + k < sc->n ? sc->s[sc->i + k] : '\0';
}

static struct frame *top(struct scan *sc)
{
        return sc->depth ? &sc->st[sc->depth - 1] : NULL;
}

static int push(struct scan *sc, enum frame_kind kind, char close, const char *what)
{
        char w[48];
        if (sc->depth == MAX_DEPTH)
                return err_set(sc->e, ERR_USAGE, "expression: nested deeper than %d at %s",
                               MAX_DEPTH, where(sc, sc->line, sc->col, w, sizeof w));
        struct frame *f = &sc->st[sc->depth++];
        memset(f, 0, sizeof *f);
        f->kind = kind;
        f->close = close;
        f->line = sc->line;
        f->col = sc->col;
        snprintf(f->what, sizeof f->what, "%s", what);
        return 0;
}

static int push_literal(struct scan *sc, char close, bool heredoc, bool interp, const char *what)
{
        if (push(sc, F_LITERAL, close, what) < 0)
                return -1;
        struct frame *f = top(sc);
        f->heredoc = heredoc;
        f->interp = interp;
        return 0;
}

/* A closing bracket: it must close the innermost open one. */
static int close_frame(struct scan *sc, enum frame_kind kind, const char *text)
{
        char w[48], w2[48];
        struct frame *f = top(sc);
        bool ok = f && (f->kind == kind || (kind == F_BRACE && f->kind == F_INTERP));
        if (!f)
                return err_set(sc->e, ERR_USAGE, "expression: unexpected \"%s\" at %s", text,
                               where(sc, sc->line, sc->col, w, sizeof w));
        if (!ok) {
                static const char *closer[] = {")", "]", "}", ">>", "}", ""};
                return err_set(
                    sc->e, ERR_USAGE,
                    "expression: unexpected \"%s\" at %s (expected \"%s\" to close \"%s\" "
                    "at %s)",
                    text, where(sc, sc->line, sc->col, w, sizeof w), closer[f->kind], f->what,
                    where(sc, f->line, f->col, w2, sizeof w2));
        }
        sc->depth--;
        advance_n(sc, strlen(text));
        return 0;
}

static bool is_ident_char(char c)
{
        return isalnum((unsigned char)c) || c == '_' || ((unsigned char)c & 0x80);
}

static char sigil_close(char open)
{
        switch (open) {
        case '(': return ')';
        case '[': return ']';
        case '{': return '}';
        case '<': return '>';
        case '/':
        case '|':
        case '"':
        case '\'': return open;
        default: return '\0';
        }
}

/* Inside a string, charlist, heredoc or sigil. */
static int scan_literal(struct scan *sc, struct frame *f)
{
        char c = at(sc, 0);
        if (c == '\\') {
                /* an escape, or in uppercase sigils a kept backslash that still
                 * protects the terminator */
                advance(sc);
                if (sc->i < sc->n)
                        advance_cp(sc);
                return 0;
        }
        if (f->interp && c == '#' && at(sc, 1) == '{') {
                if (push(sc, F_INTERP, '}', "#{") < 0)
                        return -1;
                advance_n(sc, 2);
                return 0;
        }
        if (f->heredoc && c == f->close && at(sc, 1) == c && at(sc, 2) == c) {
                sc->depth--;
                advance_n(sc, 3);
                return 0;
        }
        if (!f->heredoc && c == f->close) {
                sc->depth--;
                advance(sc);
                return 0;
        }
        advance(sc);
        return 0;
}

static int scan_sigil(struct scan *sc)
{
        char w[48];
        unsigned line = sc->line, col = sc->col;
        size_t k = 1;
        bool upper = isupper((unsigned char)at(sc, 1));
        if (upper) {
                while (isupper((unsigned char)at(sc, k)) || isdigit((unsigned char)at(sc, k)))
                        k++;
        } else {
                k = 2;
        }
        char d = at(sc, k);
        char name[24];
        snprintf(name, sizeof name, "sigil ~%.*s%c", (int)(k - 1 > 12 ? 12 : k - 1),
                 sc->s + sc->i + 1, d ? d : ' ');
        if ((d == '"' || d == '\'') && at(sc, k + 1) == d && at(sc, k + 2) == d) {
                snprintf(name, sizeof name, "sigil ~%.*s%c%c%c", (int)(k - 1 > 12 ? 12 : k - 1),
                         sc->s + sc->i + 1, d, d, d);
                if (push_literal(sc, d, true, !upper, name) < 0)
                        return -1;
                advance_n(sc, k + 3);
        } else if (sigil_close(d)) {
                if (push_literal(sc, sigil_close(d), false, !upper, name) < 0)
                        return -1;
                advance_n(sc, k + 1);
        } else {
                return err_set(
                    sc->e, ERR_USAGE, "expression: sigil \"%.*s\" without a delimiter at %s",
                    (int)(k > 16 ? 16 : k), sc->s + sc->i, where(sc, line, col, w, sizeof w));
        }
        /* the literal frame records where the sigil started */
        top(sc)->line = line;
        top(sc)->col = col;
        return 0;
}

/* A character literal at sc->i, Erlang's $a or Elixir's ?a (an escape as
 * in $\n): step over it. */
static int char_literal(struct scan *sc)
{
        char w[48];
        char c = at(sc, 0);
        if (sc->i + 1 >= sc->n)
                return err_set(sc->e, ERR_USAGE,
                               "expression: incomplete character literal \"%c\" at %s", c,
                               where(sc, sc->line, sc->col, w, sizeof w));
        advance(sc);
        if (at(sc, 0) == '\\' && sc->i + 1 < sc->n)
                advance(sc);
        advance_cp(sc);
        return 0;
}

/* The placeholder (expr_each's) stands at sc->i in code: note where and step
 * over it. True when it did; nhits past maxhits (with the error set) when
 * there were too many. */
static bool placeholder_at(struct scan *sc)
{
        if (!sc->ph || sc->n - sc->i < sc->phn || memcmp(sc->s + sc->i, sc->ph, sc->phn) != 0 ||
            is_ident_char(at(sc, sc->phn)))
                return false;
        if (sc->nhits == sc->maxhits) {
                err_set(sc->e, ERR_USAGE, "expression: more than %zu %s", sc->maxhits, sc->ph);
                sc->nhits = sc->maxhits + 1;
                return true;
        }
        sc->hits[sc->nhits++] = sc->i;
        advance_n(sc, sc->phn);
        return true;
}

/* In code: brackets, the start of literals, comments, char literals. */
static int scan_code(struct scan *sc)
{
        char c = at(sc, 0);
        if (sc->erlang) {
                switch (c) {
                case '%': /* a comment to the end of the line */
                        while (sc->i < sc->n && sc->s[sc->i] != '\n')
                                advance(sc);
                        return 0;
                case '#': /* maps and records: #{...}, #rec{...} */
                case '?': /* macros: ?MODULE */
                case '~': advance(sc); return 0;
                case '$': /* a character: $a $\n $\\ $( (or --each's placeholder) */
                        if (placeholder_at(sc))
                                return sc->nhits > sc->maxhits ? -1 : 0;
                        return char_literal(sc);
                case '"':
                case '\'': {
                        bool triple = c == '"' && at(sc, 1) == c && at(sc, 2) == c; /* OTP 27 */
                        if (push_literal(sc, c, triple, false,
                                         c == '"' ? "string" : "quoted atom") < 0)
                                return -1;
                        advance_n(sc, triple ? 3 : 1);
                        return 0;
                }
                default: break;
                }
        }
        switch (c) {
        case '#':
                while (sc->i < sc->n && sc->s[sc->i] != '\n')
                        advance(sc);
                return 0;
        case '"':
        case '\'': {
                bool heredoc = at(sc, 1) == c && at(sc, 2) == c;
                const char *what = c == '"' ? (heredoc ? "heredoc \"\"\"" : "string")
                                            : (heredoc ? "heredoc '''" : "charlist");
                if (push_literal(sc, c, heredoc, true, what) < 0)
                        return -1;
                advance_n(sc, heredoc ? 3 : 1);
                return 0;
        }
        case '?':
                /* "valid?" is an identifier; elsewhere ?c is a character */
                if (sc->i > 0 && is_ident_char(sc->s[sc->i - 1])) {
                        advance(sc);
                        return 0;
                }
                return char_literal(sc);
        case '~':
                if (isalpha((unsigned char)at(sc, 1)))
                        return scan_sigil(sc);
                advance_n(sc, at(sc, 1) == '>' && at(sc, 2) == '>' ? 3 : 1);
                return 0;
        case '<':
                if (at(sc, 1) != '<') {
                        advance(sc);
                } else if (at(sc, 2) == '<' || at(sc, 2) == '~') { /* <<< <<~ operators */
                        advance_n(sc, 3);
                } else {
                        if (push(sc, F_BINARY, '>', "<<") < 0)
                                return -1;
                        advance_n(sc, 2);
                }
                return 0;
        case '>':
                if (at(sc, 1) != '>') {
                        advance(sc);
                        return 0;
                }
                if (at(sc, 2) == '>') { /* >>> operator */
                        advance_n(sc, 3);
                        return 0;
                }
                return close_frame(sc, F_BINARY, ">>");
        case '(':
        case '[':
        case '{': {
                char t[2] = {c, '\0'};
                enum frame_kind k = c == '(' ? F_PAREN : c == '[' ? F_BRACKET : F_BRACE;
                if (push(sc, k, c == '(' ? ')' : c == '[' ? ']' : '}', t) < 0)
                        return -1;
                advance(sc);
                return 0;
        }
        case ')': return close_frame(sc, F_PAREN, ")");
        case ']': return close_frame(sc, F_BRACKET, "]");
        case '}': return close_frame(sc, F_BRACE, "}");
        case '$':
                if (placeholder_at(sc))
                        return sc->nhits > sc->maxhits ? -1 : 0;
                advance(sc);
                return 0;
        default: advance(sc); return 0;
        }
}

/* Encoding-level problems first, with their positions. */
static int check_chars(const char *s, size_t n, bool multiline, struct err *e)
{
        unsigned line = 1, col = 1;
        size_t i = 0;
        char w[48];
        struct scan pos = {.multiline = multiline};
        while (i < n) {
                uint32_t cp;
                size_t len = codec_utf8_decode((const unsigned char *)s + i, n - i, &cp);
                if (len == 0)
                        return err_set(e, ERR_USAGE, "expression: invalid UTF-8 at %s",
                                       where(&pos, line, col, w, sizeof w));
                if (cp == 0)
                        return err_set(e, ERR_USAGE, "expression: NUL byte at %s",
                                       where(&pos, line, col, w, sizeof w));
                if (is_control(cp) && cp != '\n' && cp != '\t') {
                        if (cp < 0x80)
                                return err_set(e, ERR_USAGE,
                                               "expression: control character 0x%02X at %s",
                                               (unsigned)cp, where(&pos, line, col, w, sizeof w));
                        return err_set(e, ERR_USAGE, "expression: control character U+%04X at %s",
                                       (unsigned)cp, where(&pos, line, col, w, sizeof w));
                }
                if (is_bidi(cp))
                        return err_set(
                            e, ERR_USAGE,
                            "expression: bidirectional formatting character U+%04X at %s",
                            (unsigned)cp, where(&pos, line, col, w, sizeof w));
                if (cp == '\n') {
                        line++;
                        col = 1;
                } else {
                        col++;
                }
                i += len;
        }
        return 0;
}

/* The check of an expression; with ph, also where that placeholder stands
 * in code (at most maxhits offsets into hits, their count in *nhits). */
static int scan_n(const char *s, size_t n, bool erlang, const char *ph, size_t *hits,
                  size_t maxhits, size_t *nhits, struct err *e)
{
        if (!s || n == 0)
                return err_set(e, ERR_USAGE, "expression: empty");
        if (n > EXPR_MAX)
                return err_set(e, ERR_USAGE, "expression: longer than %d bytes", EXPR_MAX);
        bool multiline = memchr(s, '\n', n) != NULL;
        if (check_chars(s, n, multiline, e) < 0)
                return -1;

        bool blank = true;
        for (size_t i = 0; i < n && blank; i++)
                blank = isspace((unsigned char)s[i]);
        if (blank)
                return err_set(e, ERR_USAGE, "expression: empty");

        /* The scanner state is large; keep it off the stack. */
        struct scan *sc = calloc(1, sizeof *sc);
        if (!sc)
                return err_sys(e, ERR_SOFTWARE, "expression: check");
        sc->s = s;
        sc->n = n;
        sc->line = 1;
        sc->col = 1;
        sc->multiline = multiline;
        sc->e = e;
        sc->erlang = erlang;
        sc->ph = ph;
        sc->phn = ph ? strlen(ph) : 0;
        sc->hits = hits;
        sc->maxhits = maxhits;
        int rc = 0;
        while (rc == 0 && sc->i < sc->n) {
                struct frame *f = top(sc);
                rc = f && f->kind == F_LITERAL ? scan_literal(sc, f) : scan_code(sc);
        }
        if (rc == 0 && sc->depth) {
                char w[48];
                struct frame *f = top(sc);
                if (f->kind == F_LITERAL)
                        rc = err_set(e, ERR_USAGE, "expression: unclosed %s opened at %s", f->what,
                                     where(sc, f->line, f->col, w, sizeof w));
                else
                        rc = err_set(e, ERR_USAGE, "expression: unclosed \"%s\" opened at %s",
                                     f->what, where(sc, f->line, f->col, w, sizeof w));
        }
        if (nhits)
                *nhits = sc->nhits;
        free(sc);
        return rc;
}

static int check_n(const char *s, size_t n, bool erlang, struct err *e)
{
        return scan_n(s, n, erlang, NULL, NULL, 0, NULL, e);
}

int expr_check_n(const char *s, size_t n, struct err *e)
{
        return check_n(s, n, false, e);
}

int expr_check_lang(const char *s, enum expr_lang lang, struct err *e)
{
        if (!s)
                return err_set(e, ERR_USAGE, "expression: empty");
        return check_n(s, strnlen(s, (size_t)EXPR_MAX + 1), lang == EXPR_LANG_ERLANG, e);
}

int expr_check(const char *s, struct err *e)
{
        if (!s)
                return err_set(e, ERR_USAGE, "expression: empty");
        size_t n = strnlen(s, (size_t)EXPR_MAX + 1);
        return expr_check_n(s, n, e);
}

/* ---- --mfa / --args ------------------------------------------------------ */

static bool valid_fun(const char *s, size_t n)
{
        if (n == 0 || !(islower((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = s[i];
                if (isalnum((unsigned char)c) || c == '_')
                        continue;
                if ((c == '?' || c == '!') && i == n - 1)
                        continue;
                return false;
        }
        return true;
}

static bool valid_module(const char *s, size_t n)
{
        if (n >= 2 && s[0] == ':') { /* an Erlang module atom */
                if (!islower((unsigned char)s[1]))
                        return false;
                for (size_t i = 2; i < n; i++)
                        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '@')
                                return false;
                return true;
        }
        /* Alias segments separated by dots */
        bool seg_start = true;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (seg_start) {
                        if (!isupper((unsigned char)c))
                                return false;
                        seg_start = false;
                } else if (c == '.') {
                        seg_start = true;
                } else if (!isalnum((unsigned char)c) && c != '_') {
                        return false;
                }
        }
        return n > 0 && !seg_start;
}

/* Serialises the JSON text itself (already validated by json-c): json-c
 * clamps integers to 64 bits, and the exact digits must survive. */
struct ser {
        const char *s;
        size_t n, i;
        struct buf *out;
        struct err *e;
        int argno;
        bool erlang; /* Erlang terms instead of Elixir */
};

static void skip_ws(struct ser *z)
{
        while (z->i < z->n && strchr(" \t\r\n", z->s[z->i]) && z->s[z->i])
                z->i++;
}

static int ser_oom(struct ser *z)
{
        if (errno == ENOBUFS)
                return err_set(z->e, ERR_USAGE, "--args: the call would be longer than %d bytes",
                               EXPR_MAX);
        return err_sys(z->e, ERR_SOFTWARE, "--args");
}

static unsigned hex4(const char *p)
{
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
                char c = p[k];
                v = v * 16 +
                    (unsigned)(isdigit((unsigned char)c) ? c - '0' : (tolower(c) - 'a' + 10));
        }
        return v;
}

static int put_cp(struct buf *b, uint32_t cp)
{
        char u[4];
        size_t len;
        if (cp < 0x80) {
                u[0] = (char)cp, len = 1;
        } else if (cp < 0x800) {
                u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), len = 2;
        } else if (cp < 0x10000) {
                u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char)(0x80 | (cp & 0x3f)), len = 3;
        } else {
                u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)),
                len = 4;
        }
        return buf_append(b, u, len);
}

/* One code point of a string's value, escaped for an Elixir "..." literal.
 * next is the following code point (or 0), to escape "#{". */
static int put_elixir_cp(struct buf *b, uint32_t cp, uint32_t next)
{
        switch (cp) {
        case '"': return buf_puts(b, "\\\"");
        case '\\': return buf_puts(b, "\\\\");
        case '\n': return buf_puts(b, "\\n");
        case '\t': return buf_puts(b, "\\t");
        case '\r': return buf_puts(b, "\\r");
        case '#': return buf_puts(b, next == '{' ? "\\#" : "#");
        default: break;
        }
        if (is_control(cp) || is_bidi(cp))
                return buf_printf(b, "\\u{%X}", (unsigned)cp);
        return put_cp(b, cp);
}

/* Decode a JSON string token at z->i (on the opening quote) into raw UTF-8. */
static int json_string(struct ser *z, struct buf *raw)
{
        z->i++; /* " */
        while (z->i < z->n && z->s[z->i] != '"') {
                char c = z->s[z->i];
                if (c != '\\') {
                        if (buf_putc(raw, c) < 0)
                                return ser_oom(z);
                        z->i++;
                        continue;
                }
                char x = z->s[z->i + 1];
                z->i += 2;
                uint32_t cp;
                switch (x) {
                case 'b': cp = '\b'; break;
                case 'f': cp = '\f'; break;
                case 'n': cp = '\n'; break;
                case 'r': cp = '\r'; break;
                case 't': cp = '\t'; break;
                case 'u':
                        cp = hex4(z->s + z->i);
                        z->i += 4;
                        if (cp >= 0xd800 && cp <= 0xdbff && z->s[z->i] == '\\' &&
                            z->s[z->i + 1] == 'u') {
                                uint32_t lo = hex4(z->s + z->i + 2);
                                if (lo >= 0xdc00 && lo <= 0xdfff) {
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                        z->i += 6;
                                }
                        }
                        if (cp >= 0xd800 && cp <= 0xdfff)
                                return err_set(
                                    z->e, ERR_USAGE,
                                    "--args: argument %d: unpaired surrogate \\u%04X in a "
                                    "string",
                                    z->argno, (unsigned)cp);
                        break;
                default: cp = (unsigned char)x; break; /* " \ / */
                }
                if (put_cp(raw, cp) < 0)
                        return ser_oom(z);
        }
        z->i++; /* " */
        return 0;
}

/* raw (UTF-8) as the inside of an Erlang "..." or '...': ASCII printable as
 * it is, the quote and backslash escaped, everything else \x{H} (Erlang has
 * no interpolation; escaping all non-ASCII keeps the text plain and makes
 * <<"..."/utf8>> exact). */
static int put_erlang_text(struct ser *z, const struct buf *raw, char quote)
{
        const unsigned char *p = (const unsigned char *)raw->data;
        size_t n = raw->len, i = 0;
        while (i < n) {
                uint32_t cp;
                size_t len = codec_utf8_decode(p + i, n - i, &cp);
                if (len == 0)
                        return err_set(z->e, ERR_USAGE,
                                       "--args: argument %d: a string is not valid UTF-8",
                                       z->argno);
                int r;
                if (cp == (uint32_t)quote || cp == '\\')
                        r = buf_printf(z->out, "\\%c", (char)cp);
                else if (cp == '\n')
                        r = buf_puts(z->out, "\\n");
                else if (cp == '\t')
                        r = buf_puts(z->out, "\\t");
                else if (cp == '\r')
                        r = buf_puts(z->out, "\\r");
                else if (cp < 0x20 || cp >= 0x7f)
                        r = buf_printf(z->out, "\\x{%X}", (unsigned)cp);
                else
                        r = buf_putc(z->out, (char)cp);
                if (r < 0)
                        return ser_oom(z);
                i += len;
        }
        return 0;
}

/* A JSON string as an Erlang binary: <<"..."/utf8>>. */
static int ser_erlang_string(struct ser *z)
{
        struct buf raw;
        buf_init(&raw, EXPR_MAX);
        int rc = json_string(z, &raw);
        if (rc == 0 && buf_puts(z->out, "<<\"") < 0)
                rc = ser_oom(z);
        if (rc == 0)
                rc = put_erlang_text(z, &raw, '"');
        if (rc == 0 && buf_puts(z->out, "\"/utf8>>") < 0)
                rc = ser_oom(z);
        buf_fini(&raw);
        return rc;
}

/* Erlang's reserved words: an atom of that name must be quoted. */
static bool erlang_reserved(const char *s, size_t n)
{
        static const char *const words[] = {
            "after", "and",     "andalso", "band",  "begin", "bnot", "bor",  "bsl",
            "bsr",   "bxor",    "case",    "catch", "cond",  "div",  "else", "end",
            "fun",   "if",      "let",     "maybe", "not",   "of",   "or",   "orelse",
            "query", "receive", "rem",     "try",   "when",  "xor"};
        for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
                if (strlen(words[k]) == n && memcmp(words[k], s, n) == 0)
                        return true;
        return false;
}

/* An atom Erlang reads bare: [a-z][a-zA-Z0-9_@]*, not a reserved word. */
static bool erlang_bare_atom(const char *s, size_t n)
{
        if (!n || !islower((unsigned char)s[0]) || erlang_reserved(s, n))
                return false;
        for (size_t k = 1; k < n; k++) {
                unsigned char ch = (unsigned char)s[k];
                if (!(isalnum(ch) || ch == '_' || ch == '@'))
                        return false;
        }
        return true;
}

/* A JSON string as an Erlang atom: bare when it can be, else 'quoted'. */
static int ser_erlang_atom(struct ser *z, bool key)
{
        struct buf raw;
        buf_init(&raw, EXPR_MAX);
        int rc = json_string(z, &raw);
        if (rc == 0 && !raw.len)
                rc = err_set(z->e, ERR_USAGE, "--args: argument %d: an empty %s", z->argno,
                             key ? "keyword key" : "atom name");
        if (rc == 0 && raw.len > 255)
                rc = err_set(z->e, ERR_USAGE, "--args: argument %d: an atom longer than 255",
                             z->argno);
        if (rc == 0 && erlang_bare_atom(buf_str(&raw), raw.len)) {
                if (buf_append(z->out, raw.data, raw.len) < 0)
                        rc = ser_oom(z);
        } else if (rc == 0) {
                if (buf_putc(z->out, '\'') < 0)
                        rc = ser_oom(z);
                if (rc == 0)
                        rc = put_erlang_text(z, &raw, '\'');
                if (rc == 0 && buf_putc(z->out, '\'') < 0)
                        rc = ser_oom(z);
        }
        buf_fini(&raw);
        return rc;
}

static int ser_string(struct ser *z)
{
        if (z->erlang)
                return ser_erlang_string(z);
        struct buf raw;
        buf_init(&raw, EXPR_MAX);
        int rc = json_string(z, &raw);
        if (rc == 0 && buf_putc(z->out, '"') < 0)
                rc = ser_oom(z);
        const unsigned char *p = (const unsigned char *)buf_str(&raw);
        size_t n = raw.len, i = 0;
        while (rc == 0 && i < n) {
                uint32_t cp, next = 0;
                size_t len = codec_utf8_decode(p + i, n - i, &cp);
                if (len == 0) {
                        rc = err_set(z->e, ERR_USAGE,
                                     "--args: argument %d: a string is not valid UTF-8", z->argno);
                        break;
                }
                if (i + len < n)
                        next = p[i + len];
                if (put_elixir_cp(z->out, cp, next) < 0)
                        rc = ser_oom(z);
                i += len;
        }
        if (rc == 0 && buf_putc(z->out, '"') < 0)
                rc = ser_oom(z);
        buf_fini(&raw);
        return rc;
}

static int ser_number(struct ser *z)
{
        size_t start = z->i;
        bool frac = false, exp = false;
        while (z->i < z->n && strchr("+-0123456789.eE", z->s[z->i]) && z->s[z->i]) {
                if (z->s[z->i] == '.')
                        frac = true;
                if (z->s[z->i] == 'e' || z->s[z->i] == 'E')
                        exp = true;
                z->i++;
        }
        const char *t = z->s + start;
        size_t len = z->i - start;
        if (!len) /* validate_json let something through that is not a number */
                return err_set(z->e, ERR_USAGE, "--args: argument %d: not a JSON number at %zu",
                               z->argno, start);
        if (frac || exp) {
                char tmp[512];
                if (len >= sizeof tmp)
                        return err_set(z->e, ERR_USAGE,
                                       "--args: argument %d: number \"%.20s...\" is "
                                       "too long for a float",
                                       z->argno, t);
                memcpy(tmp, t, len);
                tmp[len] = '\0';
                errno = 0;
                double d = strtod(tmp, NULL);
                if (!isfinite(d) || (errno == ERANGE && d != 0))
                        return err_set(z->e, ERR_USAGE,
                                       "--args: argument %d: number %s is out of range for a float",
                                       z->argno, tmp);
                if (errno == ERANGE) /* underflow: Elixir would refuse the literal */
                        return err_set(z->e, ERR_USAGE,
                                       "--args: argument %d: number %s is too small for a float",
                                       z->argno, tmp);
                for (size_t k = 0; k < len; k++) {
                        char c = t[k];
                        if ((c == 'e' || c == 'E') && !frac && buf_puts(z->out, ".0") < 0)
                                return ser_oom(z);
                        if (buf_putc(z->out, c == 'E' ? 'e' : c) < 0)
                                return ser_oom(z);
                }
                return 0;
        }
        if (buf_append(z->out, t, len) < 0)
                return ser_oom(z);
        return 0;
}

static int ser_value(struct ser *z);
static int ser_container(struct ser *z, char close, bool keywords);

/* An atom or keyword key that Elixir reads bare: [a-z_][a-zA-Z0-9_@]*[?!]? */
static bool bare_atom(const char *s, size_t n)
{
        if (!n || !(islower((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t k = 1; k < n; k++) {
                unsigned char ch = (unsigned char)s[k];
                bool last = k == n - 1;
                if (!(isalnum(ch) || ch == '_' || ch == '@' || (last && (ch == '?' || ch == '!'))))
                        return false;
        }
        return true;
}

/* The JSON string at z->i as an atom name: bare when it can be, else quoted
 * like a string (no interpolation can run). key: as a keyword key ("name:",
 * "\"a b\":"), else as an atom (":name", ":\"a b\""). */
static int ser_atom(struct ser *z, bool key)
{
        if (z->erlang)
                return ser_erlang_atom(z, key);
        struct buf raw;
        buf_init(&raw, EXPR_MAX);
        size_t at = z->i;
        int rc = json_string(z, &raw);
        if (rc == 0 && !raw.len)
                rc = err_set(z->e, ERR_USAGE, "--args: argument %d: an empty %s", z->argno,
                             key ? "keyword key" : "atom name");
        if (rc == 0 && bare_atom(buf_str(&raw), raw.len)) {
                if ((!key && buf_putc(z->out, ':') < 0) ||
                    buf_append(z->out, raw.data, raw.len) < 0 || (key && buf_putc(z->out, ':') < 0))
                        rc = ser_oom(z);
        } else if (rc == 0) {
                z->i = at; /* again, as an escaped string */
                if ((!key && buf_putc(z->out, ':') < 0) || ser_string(z) < 0 ||
                    (key && buf_putc(z->out, ':') < 0))
                        rc = -1;
        }
        buf_fini(&raw);
        return rc;
}

/* The tagged objects that write what JSON has no word for, each an object
 * of exactly one member:
 *   {"$atom": "ok"}               -> :ok
 *   {"$kw": {"bitrate": 4000}}    -> [bitrate: 4000]   (a keyword list, in order)
 *   {"$tuple": ["ok", 1]}         -> {"ok", 1}
 * Returns 1 when z->i was on one (and it was written), 0 when it is a plain
 * object (z->i unchanged), -1 on error. */
static int ser_tagged(struct ser *z)
{
        size_t start = z->i;
        z->i++; /* { */
        skip_ws(z);
        if (z->i >= z->n || z->s[z->i] != '"') {
                z->i = start;
                return 0;
        }
        struct buf key;
        buf_init(&key, 64);
        int rc = json_string(z, &key);
        const char *k = buf_str(&key);
        char want = !strcmp(k, "$atom")    ? '"'
                    : !strcmp(k, "$kw")    ? '{'
                    : !strcmp(k, "$tuple") ? '['
                                           : 0;
        char tag[8];
        snprintf(tag, sizeof tag, "%s", k);
        buf_fini(&key);
        if (rc < 0)
                return -1;
        if (!want) {
                z->i = start;
                return 0;
        }
        skip_ws(z);
        z->i++; /* : */
        skip_ws(z);
        if (z->s[z->i] != want)
                return err_set(z->e, ERR_USAGE, "--args: argument %d: {\"%s\": ...} takes %s",
                               z->argno, tag,
                               want == '"'   ? "a string (the atom's name)"
                               : want == '{' ? "an object (the keyword list)"
                                             : "an array (the tuple's elements)");
        if (want == '"') {
                if (ser_atom(z, false) < 0)
                        return -1;
        } else if (want == '[') {
                size_t open = z->out->len;
                if (ser_value(z) < 0)
                        return -1;
                /* the list just written, as a tuple */
                z->out->data[open] = '{';
                z->out->data[z->out->len - 1] = '}';
        } else if (ser_container(z, '}', true) < 0) {
                return -1;
        }
        skip_ws(z);
        if (z->s[z->i] != '}')
                return err_set(z->e, ERR_USAGE,
                               "--args: argument %d: {\"%s\": ...} must be the object's only "
                               "member",
                               z->argno, tag);
        z->i++;
        return 1;
}

/* An array as a list, an object as a map with string keys, or (keywords) an
 * object as a keyword list. */
static int ser_container(struct ser *z, char close, bool keywords)
{
        bool obj = close == '}';
        if (buf_puts(z->out, keywords ? "[" : !obj ? "[" : z->erlang ? "#{" : "%{") < 0)
                return ser_oom(z);
        z->i++;
        skip_ws(z);
        bool first = true;
        while (z->i < z->n && z->s[z->i] != close) {
                if (!first && buf_puts(z->out, ", ") < 0)
                        return ser_oom(z);
                first = false;
                /* Erlang keywords: a proplist, [{key, value}] */
                bool pair = obj && keywords && z->erlang;
                if (pair && buf_putc(z->out, '{') < 0)
                        return ser_oom(z);
                if (obj) {
                        if ((keywords ? ser_atom(z, true) : ser_string(z)) < 0)
                                return -1;
                        skip_ws(z);
                        z->i++; /* : */
                        if (buf_puts(z->out, pair ? ", " : keywords ? " " : " => ") < 0)
                                return ser_oom(z);
                }
                if (ser_value(z) < 0)
                        return -1;
                if (pair && buf_putc(z->out, '}') < 0)
                        return ser_oom(z);
                skip_ws(z);
                if (z->s[z->i] == ',') {
                        z->i++;
                        skip_ws(z);
                }
        }
        z->i++;
        if (buf_puts(z->out, keywords || !obj ? "]" : "}") < 0)
                return ser_oom(z);
        return 0;
}

static int ser_value(struct ser *z)
{
        skip_ws(z);
        char c = z->i < z->n ? z->s[z->i] : '\0';
        switch (c) {
        case '"': return ser_string(z);
        case '{': {
                int t = ser_tagged(z);
                return t < 0 ? -1 : t ? 0 : ser_container(z, '}', false);
        }
        case '[': return ser_container(z, ']', false);
        case 't':
        case 'f':
        case 'n': {
                const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
                z->i += strlen(word);
                if (buf_puts(z->out, c == 'n' ? (z->erlang ? "undefined" : "nil") : word) < 0)
                        return ser_oom(z);
                return 0;
        }
        default: return ser_number(z);
        }
}

static const char *json_type_word(json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_object: return "an object";
        case json_type_string: return "a string";
        case json_type_int:
        case json_type_double: return "a number";
        case json_type_boolean: return "a boolean";
        case json_type_null: return "null";
        default: return "something else";
        }
}

/* json-c takes NaN, Infinity and -Infinity even in strict mode; JSON has no
 * such numbers and Elixir no such floats. Writes where the first one is. */
static bool non_finite(json_object *o, char *where, size_t n)
{
        if (json_object_is_type(o, json_type_double)) {
                /* 1e999 is infinite too, but a number: the serialiser says
                 * it is out of range. */
                if (isfinite(json_object_get_double(o)) ||
                    !strpbrk(json_object_to_json_string(o), "NnIi"))
                        return false;
                snprintf(where, n, "%s", "");
                return true;
        }
        char sub[128];
        if (json_object_is_type(o, json_type_array)) {
                size_t len = json_object_array_length(o);
                for (size_t i = 0; i < len; i++)
                        if (non_finite(json_object_array_get_idx(o, i), sub, sizeof sub)) {
                                snprintf(where, n, "[%zu]%.100s", i, sub);
                                return true;
                        }
        } else if (json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, val)
                {
                        if (non_finite(val, sub, sizeof sub)) {
                                snprintf(where, n, "[\"%.40s\"]%.100s", key, sub);
                                return true;
                        }
                }
        }
        return false;
}

/* json-c validates (strict, UTF-8) and reports the position of an error. */
static int validate_json(const char *flag, const char *args, struct err *e)
{
        size_t n = strlen(args);
        if (n > EXPR_MAX)
                return err_set(e, ERR_USAGE, "%s: longer than %d bytes", flag, EXPR_MAX);
        struct json_tokener *tok = json_tokener_new_ex(64);
        if (!tok)
                return err_sys(e, ERR_SOFTWARE, "%s", flag);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        json_object *o = json_tokener_parse_ex(tok, args, (int)n);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        int rc = 0;
        if (!o && jerr == json_tokener_continue)
                rc = err_set(e, ERR_USAGE,
                             "%s: invalid JSON at offset %zu: unexpected end of input", flag, n);
        else if (!o)
                rc = err_set(e, ERR_USAGE, "%s: invalid JSON at offset %zu: %s", flag, end,
                             json_tokener_error_desc(jerr));
        else if (end < n && strspn(args + end, " \t\r\n") != n - end)
                rc = err_set(e, ERR_USAGE,
                             "%s: invalid JSON at offset %zu: trailing data after the array", flag,
                             end + strspn(args + end, " \t\r\n"));
        else if (!json_object_is_type(o, json_type_array))
                rc =
                    err_set(e, ERR_USAGE, "%s: want a JSON array, got %s", flag, json_type_word(o));
        char where[160];
        if (rc == 0 && non_finite(o, where, sizeof where))
                rc = err_set(e, ERR_USAGE,
                             "%s: %s is NaN or Infinity, which JSON does not have (and "
                             "Elixir floats cannot be): write a number or a string",
                             flag, where);
        json_object_put(o);
        json_tokener_free(tok);
        return rc;
}

int expr_from_mfa(const char *mfa, const char *args_json, char **out, struct err *e)
{
        return expr_from_mfa_lang(mfa, args_json, EXPR_LANG_ELIXIR, out, e);
}

/* "mod:fun", each an atom Erlang reads bare. */
static bool valid_erlang_mfa(const char *mfa)
{
        const char *colon = strchr(mfa, ':');
        return colon && erlang_bare_atom(mfa, (size_t)(colon - mfa)) &&
               erlang_bare_atom(colon + 1, strlen(colon + 1));
}

int expr_from_mfa_lang(const char *mfa, const char *args_json, enum expr_lang lang, char **out,
                       struct err *e)
{
        bool erlang = lang == EXPR_LANG_ERLANG;
        if (!mfa || !*mfa)
                return err_set(e, ERR_USAGE, "--mfa: empty");
        if (erlang && !valid_erlang_mfa(mfa))
                return err_set(e, ERR_USAGE,
                               "--mfa \"%.200s\": want module:function (Erlang atoms, "
                               "[a-z][a-zA-Z0-9_@]*) with --lang erlang",
                               mfa);
        const char *dot = erlang ? NULL : strrchr(mfa, '.');
        size_t mlen = dot ? (size_t)(dot - mfa) : 0;
        if (erlang) {
                /* checked above */
        } else if (!dot || !valid_module(mfa, mlen))
                return err_set(e, ERR_USAGE,
                               "--mfa \"%.200s\": want Module.function or :module.function", mfa);
        else if (!valid_fun(dot + 1, strlen(dot + 1)))
                return err_set(e, ERR_USAGE,
                               "--mfa \"%.200s\": \"%.100s\" is not a function name "
                               "([a-z_][a-zA-Z0-9_]*[?!]?)",
                               mfa, dot + 1);
        if (args_json && validate_json("--args", args_json, e) < 0)
                return -1;

        struct buf b;
        buf_init(&b, EXPR_MAX);
        int rc = 0;
        if (buf_puts(&b, mfa) < 0 || buf_putc(&b, '(') < 0) {
                rc = err_sys(e, ERR_SOFTWARE, "--mfa");
                goto out;
        }
        if (args_json) {
                struct ser z = {
                    .s = args_json, .n = strlen(args_json), .out = &b, .e = e, .erlang = erlang};
                skip_ws(&z);
                z.i++; /* [ */
                skip_ws(&z);
                while (z.i < z.n && z.s[z.i] != ']') {
                        z.argno++;
                        if (z.argno > 1 && buf_puts(&b, ", ") < 0) {
                                rc = ser_oom(&z);
                                goto out;
                        }
                        if (ser_value(&z) < 0) {
                                rc = -1;
                                goto out;
                        }
                        skip_ws(&z);
                        if (z.i < z.n && z.s[z.i] == ',') {
                                z.i++;
                                skip_ws(&z);
                        }
                }
        }
        if (buf_puts(&b, erlang ? ")." : ")") < 0) {
                rc = err_set(e, ERR_USAGE, "--args: the call would be longer than %d bytes",
                             EXPR_MAX);
                goto out;
        }
        /* Belt and braces: what we built must pass the same check as a raw one. */
        if (check_n(b.data, b.len, erlang, e) < 0) {
                rc = err_prefix(e, "--mfa: internal error");
                goto out;
        }
        char *s = buf_detach(&b);
        if (!s) {
                rc = err_sys(e, ERR_SOFTWARE, "--mfa");
                goto out;
        }
        *out = s;
out:
        buf_fini(&b);
        return rc;
}

/* ---- slug -------------------------------------------------------------- */

size_t expr_slug(const char *expr, char *buf, size_t n)
{
        size_t max = n - 1 < EXPR_SLUG_MAX ? n - 1 : EXPR_SLUG_MAX;
        char full[EXPR_SLUG_MAX * 2 + 2];
        size_t len = 0;
        const char *p = expr ? expr : "";
        while (isspace((unsigned char)*p))
                p++;
        if (*p == ':')
                p++;
        /* The leading call head: Mod.Sub.fun, stopping at "(", space, etc. */
        const char *end = p;
        while (*end && (isalnum((unsigned char)*end) || *end == '_' || *end == '.'))
                end++;
        bool dash = false;
        for (const char *q = p; q < end && len + 2 < sizeof full; q++) {
                char c = *q;
                if (!isalnum((unsigned char)c)) {
                        dash = len > 0;
                        continue;
                }
                /* a word boundary inside CamelCase: aB, or the B of ABc */
                if (isupper((unsigned char)c) && q > p &&
                    (islower((unsigned char)q[-1]) || isdigit((unsigned char)q[-1]) ||
                     (isupper((unsigned char)q[-1]) && q + 1 < end &&
                      islower((unsigned char)q[1]))))
                        dash = len > 0;
                if (dash) {
                        full[len++] = '-';
                        dash = false;
                }
                full[len++] = (char)tolower((unsigned char)c);
        }
        if (len > max) {
                /* cut at a word boundary when one is near enough */
                size_t cut = max;
                while (cut > 0 && full[cut] != '-')
                        cut--;
                len = cut > 0 ? cut : max;
        }
        while (len > 0 && full[len - 1] == '-')
                len--;
        if (len == 0) {
                memcpy(full, "task", 4);
                len = 4;
        }
        memcpy(buf, full, len);
        buf[len] = '\0';
        return len;
}

/* ---- --each: the item in the expression ----------------------------------- */

#define ITEM_HITS_MAX 64

/* expr with term (in parentheses) at each of hits; a new string or NULL. */
static char *splice(const char *expr, size_t n, const size_t *hits, size_t nhits,
                    const struct buf *term, bool erlang, struct err *e)
{
        struct buf b;
        buf_init(&b, EXPR_MAX);
        size_t at = 0;
        for (size_t i = 0; i < nhits; i++) {
                if (buf_append(&b, expr + at, hits[i] - at) < 0 || buf_putc(&b, '(') < 0 ||
                    buf_append(&b, term->data, term->len) < 0 || buf_putc(&b, ')') < 0)
                        goto toolong;
                at = hits[i] + strlen(EXPR_ITEM);
        }
        if (buf_append(&b, expr + at, n - at) < 0)
                goto toolong;
        if (check_n(b.data, b.len, erlang, e) < 0) {
                err_prefix(e, "--each: internal error");
                buf_fini(&b);
                return NULL;
        }
        char *s = buf_detach(&b);
        if (!s)
                err_sys(e, ERR_SOFTWARE, "--each");
        return s;
toolong:
        buf_fini(&b);
        err_set(e, ERR_USAGE, "--each: an expression would be longer than %d bytes", EXPR_MAX);
        return NULL;
}

void expr_each_free(char **exprs, size_t n)
{
        for (size_t i = 0; exprs && i < n; i++)
                free(exprs[i]);
        free(exprs);
}

int expr_each(const char *expr, const char *items_json, char ***out, size_t *nout, struct err *e)
{
        return expr_each_lang(expr, items_json, EXPR_LANG_ELIXIR, out, nout, e);
}

int expr_each_lang(const char *expr, const char *items_json, enum expr_lang lang, char ***out,
                   size_t *nout, struct err *e)
{
        size_t hits[ITEM_HITS_MAX], nhits = 0;
        bool erlang = lang == EXPR_LANG_ERLANG;
        if (!expr)
                return err_set(e, ERR_USAGE, "expression: empty");
        size_t n = strnlen(expr, (size_t)EXPR_MAX + 1);
        if (scan_n(expr, n, erlang, EXPR_ITEM, hits, ITEM_HITS_MAX, &nhits, e) < 0)
                return -1;
        /* every other $item is in a string, a charlist, a sigil or a comment,
         * where a term spliced in could end the quotes */
        size_t all = 0, pl = strlen(EXPR_ITEM);
        for (const char *p = expr; (p = strstr(p, EXPR_ITEM)); p += pl)
                if (!is_ident_char(p[pl]))
                        all++;
        if (all > nhits && erlang)
                return err_set(e, ERR_USAGE,
                               "--each: %s inside a string, quoted atom or comment: write it as "
                               "code (<<\"id \", (%s)/binary>>)",
                               EXPR_ITEM, EXPR_ITEM);
        if (all > nhits)
                return err_set(e, ERR_USAGE,
                               "--each: %s inside a string, charlist, sigil or comment: write it "
                               "as code (\"id \" <> %s, or \"#{%s}\")",
                               EXPR_ITEM, EXPR_ITEM, EXPR_ITEM);
        if (nhits == 0)
                return err_set(e, ERR_USAGE, "--each: the expression does not use %s", EXPR_ITEM);
        if (!items_json || validate_json("--each", items_json, e) < 0)
                return -1;
        struct buf term;
        buf_init(&term, EXPR_MAX);
        char **v = NULL;
        size_t count = 0;
        int rc = -1;
        struct ser z = {
            .s = items_json, .n = strlen(items_json), .out = &term, .e = e, .erlang = erlang};
        skip_ws(&z);
        z.i++; /* [ */
        skip_ws(&z);
        while (z.i < z.n && z.s[z.i] != ']') {
                buf_reset(&term);
                z.argno++;
                if (ser_value(&z) < 0)
                        goto out;
                char **nv = realloc(v, (count + 1) * sizeof *v);
                if (!nv) {
                        err_sys(e, ERR_SOFTWARE, "--each");
                        goto out;
                }
                v = nv;
                if (!(v[count] = splice(expr, n, hits, nhits, &term, erlang, e)))
                        goto out;
                count++;
                skip_ws(&z);
                if (z.i < z.n && z.s[z.i] == ',') {
                        z.i++;
                        skip_ws(&z);
                }
        }
        if (count == 0) {
                err_set(e, ERR_USAGE, "--each: the array is empty");
                goto out;
        }
        *out = v;
        *nout = count;
        v = NULL;
        rc = 0;
out:
        expr_each_free(v, count);
        buf_fini(&term);
        return rc;
}
