/* kubeconfig: any file as --kubeconfig loads or fails with a config error,
 * quickly (nesting is bounded). No exec plugin can run: inputs with '/' or
 * '\' (the only ways to name a program outside PATH) are skipped and PATH is
 * an empty directory. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "fuzz.h"
#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int fd = -1;
        static char path[64];
        if (fd < 0) {
                setenv("PATH", "/nonexistent-relrun-fuzz", 1);
                fd = memfd_create("kubeconfig", 0);
                if (fd < 0)
                        abort();
                snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        }
        if (memchr(data, '/', size) || memchr(data, '\\', size))
                return 0;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
                abort();
        struct kubeconfig_opts o = {.kubeconfig = path,
                                    .env_kubeconfig = "",
                                    .home = "/nonexistent-relrun-fuzz",
                                    .sa_dir = "/nonexistent-relrun-fuzz",
                                    .env_service_host = "",
                                    .env_service_port = "",
                                    .exec_timeout_ms = 100};
        struct kubeconfig_rest *r = NULL;
        struct err e;
        if (kubeconfig_load(&o, &r, &e) == 0) {
                CHECK(r);
                kubeconfig_rest_free(r);
        } else {
                CHECK(!r && e.msg[0]);
        }
        return 0;
}
