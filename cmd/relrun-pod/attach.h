/* relrun-pod --eval EXPR / --remote: reach the node of the task that a
 * relrun-pod already runs in this container (relrun eval / relrun remote
 * exec this). Not a library: cmd/relrun-pod only. */
#ifndef RELRUN_POD_ATTACH_H
#define RELRUN_POD_ATTACH_H

#include <stdbool.h>

/* True when argv (before any "--") asks for --eval or --remote. */
bool attach_wanted(int argc, char **argv);

/* Run that mode; returns the process's exit code: --eval 0 on a return, 1 on
 * raise/throw/exit, N on exit({:shutdown, N}), 66 when no task node is in
 * this container, 69 when the node is not reachable, 78 when its cookie is
 * refused or it has no distribution, 64 on bad usage. --remote does not
 * return on success (it execs the release's remote console). */
int attach_main(int argc, char **argv);

#endif
