/* Named failpoints for test builds (docs/fault-injection.md §4.2 item 8, the
 * C analogue of etcd's gofail). RAFTGATE_FAILPOINTS says what each name
 * does, as a comma-separated list of name=action:
 *
 *   RAFTGATE_FAILPOINTS="raft_before_apply=abort,conn_write=every(7)"
 *
 * RG_FAILPOINT(name) is a point that can stop the process or stall:
 *   abort      print "RG-FAILPOINT name" to stderr and abort();
 *   sleep(ms)  block the calling thread.
 * RG_FAILPOINT_ERR(name) is a point where an operation can fail; it is
 * true when it should:
 *   error      every time;
 *   every(n)   on every n-th time (counted per name, all threads).
 * In builds without --enable-failpoints both macros are constants and cost
 * nothing. Thread: any; the variable is read once. */
#ifndef RG_CORE_FAILPOINT_H
#define RG_CORE_FAILPOINT_H

#include "config.h"

/* RG_FAILPOINTS_BUILT is 1 in a test build (failpoints and the unsafe
 * switches of docs/fault-injection.md §4.2 item 9), else 0: test it with a
 * plain if. */
#ifdef RG_FAILPOINTS
#define RG_FAILPOINT(name) rg_failpoint_hit(name)
#define RG_FAILPOINT_ERR(name) rg_failpoint_fails(name)
#define RG_FAILPOINTS_BUILT 1
#else
#define RG_FAILPOINT(name) ((void)0)
#define RG_FAILPOINT_ERR(name) 0
#define RG_FAILPOINTS_BUILT 0
#endif

void rg_failpoint_hit(const char *name);

/* 1 when failpoint @name says this operation fails, else 0. Allocates
 * nothing (it may run inside the allocator). */
int rg_failpoint_fails(const char *name);

#endif
