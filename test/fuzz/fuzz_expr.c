/* expr: the raw-expression check and --mfa/--args serialisation (fuzzing
 * found a NaN heap over-read here within a minute). A serialised call must
 * itself pass the check. */

#include "err.h"
#include "expr.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct err e;
        expr_check_n((const char *)data, size, &e);
        char *s = fuzz_cstr(data, size);
        if (!s)
                return 0;
        char *out = NULL;
        if (expr_from_mfa("M.f", s, &out, &e) == 0) {
                CHECK(out && !strncmp(out, "M.f(", 4));
                CHECK(expr_check(out, &e) == 0);
                free(out);
        } else {
                CHECK(!out && e.code == ERR_USAGE && e.msg[0]);
        }
        char slug[64];
        expr_slug(s, slug, sizeof slug);
        free(s);
        return 0;
}
