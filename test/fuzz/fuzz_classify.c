/* classify: any pod and Job JSON the API could send is read and classified;
 * a decision always carries a code and a message. */

#include "classify.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct json_tokener *tok = json_tokener_new();
        if (!tok)
                abort();
        struct json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
        json_tokener_free(tok);
        if (!o)
                return 0;
        static struct pod_view pod;
        struct job_view job;
        memset(&job, 0, sizeof job);
        classify_read_pod(o, &pod);
        classify_read_job(o, &job);
        classify_read_event(o, &job);
        struct classify_timers t = {0};
        struct classify_in in = {.pod = &pod, .job = &job, .boot_retries = size % 3};
        for (int64_t now = 1; now < 4000000; now += 600000) {
                in.now = now;
                t = classify_timers_next(&in, &t);
                struct outcome out;
                classify(&in, &t, &out);
                if (out.decided)
                        CHECK(out.what[0] && out.rule && (out.code == 0) == !out.failed);
        }
        json_object_put(o);
        return 0;
}
