/* The last config a cluster node served, kept in its data dir, so that a
 * restarted node serves it at once (rather than nothing) until its Raft
 * log has been replayed, and keeps serving it while cut off from the
 * cluster (docs/architecture.md §4: every node proxies from its local copy). The file
 * is written atomically (temp file, fsync, rename). */
#ifndef RG_CONFIG_LASTGOOD_H
#define RG_CONFIG_LASTGOOD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Save @doc (@len bytes of data-plane gateway JSON, borrowed) as the
 * config at store @revision in folder @dir. Returns 0 or -errno; on error
 * the previous file stays. Blocking I/O: control thread, small files. */
int rg_lastgood_save(const char *dir, uint64_t revision, const char *doc,
                     size_t len) RG_MUST_CHECK;

/* Load the saved config from @dir: *@doc is an rg_malloc'd NUL-terminated
 * string the caller frees. Returns 0, -ENOENT when there is none, -EINVAL
 * for a damaged file, or -errno. */
int rg_lastgood_load(const char *dir, uint64_t *revision, char **doc,
                     size_t *len) RG_MUST_CHECK;

#endif
