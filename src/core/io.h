/* Writes on libuv streams that never leave the caller a buffer to keep:
 * what the socket takes at once is written in place (uv_try_write: no
 * copy, no allocation, no epoll_ctl), and only the rest is copied into the
 * write request (STYLE ownership rule 3). */
#ifndef RG_CORE_IO_H
#define RG_CORE_IO_H

#include <stddef.h>
#include <uv.h>

#include "core/err.h"

/* Called once for the part an rg_io_write queued (a positive return),
 * with uv's status and that byte count; never for bytes written at once,
 * and never when rg_io_write returned an error. Always from the loop,
 * never from inside rg_io_write. */
typedef void (*rg_io_cb)(void *arg, int status, size_t len);

/* Write the concatenation of @bufs on @s: as much as the socket takes now
 * at once, the rest copied and queued behind any earlier writes. Returns
 * the number of bytes queued (0: all written, @cb will not run), or a
 * negative uv error (nothing queued, @cb not called). A socket error is
 * reported through @cb, as uv_write does, not as a return value.
 * Thread: @s's loop. */
ssize_t rg_io_write(uv_stream_t *s, const uv_buf_t *bufs, unsigned n,
                    rg_io_cb cb, void *arg);

/* Create a listening TCP socket on "host:port" with SO_REUSEADDR and
 * SO_REUSEPORT (so each worker can own one), non-blocking, close-on-exec.
 * Returns the fd or a negative uv error (and logs nothing). */
int rg_io_listen_socket(const char *hostport, int backlog) RG_MUST_CHECK;

/* Whether "host:port" is free: binds a probe socket without SO_REUSEPORT
 * (then closes it), so a port another process holds, even with
 * SO_REUSEPORT, reads as taken. Returns 0, or a negative uv error such as
 * UV_EADDRINUSE. */
int rg_io_port_free(const char *hostport);

/* The host of "host:port" ("[v6]:port" without the brackets) into @host
 * (@cap bytes): 0, or UV_EINVAL when there is no port or no host, or it
 * does not fit. */
int rg_io_split_host(const char *hostport, char *host, size_t cap)
    RG_MUST_CHECK;

/* Parse "host:port" ("0.0.0.0:8000", "localhost:80", "[::1]:80") into
 * @ss. Returns 0 or UV_EINVAL. Resolves names with getaddrinfo (blocking:
 * config time only). */
int rg_io_parse_addr(const char *hostport, struct sockaddr_storage *ss)
    RG_MUST_CHECK;

#endif
