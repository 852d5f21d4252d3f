/* Named failpoints for test builds (docs/fault-injection.md §4.2 item 8, the C analogue of
 * etcd's gofail): RG_FAILPOINT("raft_before_apply") does what the
 * environment variable RAFTGATE_FAILPOINTS says for that name:
 *
 *   RAFTGATE_FAILPOINTS="name=abort,other=sleep(200)"
 *
 * abort: print "RG-FAILPOINT name" to stderr and abort(); sleep(ms): block
 * the calling thread. In builds without --enable-failpoints the macro is
 * empty and costs nothing. Thread: any; the variable is read once. */
#ifndef RG_CORE_FAILPOINT_H
#define RG_CORE_FAILPOINT_H

#include "config.h"

/* RG_FAILPOINTS_BUILT is 1 in a test build (failpoints and the unsafe
 * switches of docs/fault-injection.md §4.2 item 9), else 0: test it with a plain if. */
#ifdef RG_FAILPOINTS
#define RG_FAILPOINT(name) rg_failpoint_hit(name)
#define RG_FAILPOINTS_BUILT 1
#else
#define RG_FAILPOINT(name) ((void)0)
#define RG_FAILPOINTS_BUILT 0
#endif

void rg_failpoint_hit(const char *name);

#endif
