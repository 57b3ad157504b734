/* cron: the schedule checker never crashes and always says why it refused. */

#include "cron.h"
#include "err.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = fuzz_cstr(data, size);
        if (!s)
                return 0;
        struct err e;
        err_clear(&e);
        if (cron_check(s, &e) < 0)
                CHECK(e.code != 0 && e.msg[0]);
        free(s);
        return 0;
}
