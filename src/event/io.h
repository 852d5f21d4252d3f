/* Writes on libuv streams whose payload lives in the write request itself,
 * so callers never track buffer lifetimes (STYLE ownership rule 3). */
#ifndef RG_EVENT_IO_H
#define RG_EVENT_IO_H

#include <stddef.h>
#include <uv.h>

/* Called once per successful rg_io_write*, with uv's status and the byte
 * count that was queued. Never called when rg_io_write* returned an error. */
typedef void (*rg_io_cb)(void *arg, int status, size_t len);

/* Queue the concatenation of @bufs (copied before return) on @s.
 * Returns 0 or a negative uv error; on error nothing is queued and @cb is
 * not called. Thread: @s's loop. */
int rg_io_write(uv_stream_t *s, const uv_buf_t *bufs, unsigned n,
                rg_io_cb cb, void *arg);

/* Queue @p (@len bytes), taking ownership of @p (an rg_malloc block) on
 * success only; it is freed after the write completes. */
int rg_io_write_take(uv_stream_t *s, char *p, size_t len, rg_io_cb cb,
                     void *arg);

/* Create a listening TCP socket on "host:port" with SO_REUSEADDR and
 * SO_REUSEPORT (so each worker can own one), non-blocking, close-on-exec.
 * Returns the fd or a negative uv error (and logs nothing). */
int rg_io_listen_socket(const char *hostport, int backlog);

/* Whether "host:port" is free: binds a probe socket without SO_REUSEPORT
 * (then closes it), so a port another process holds, even with
 * SO_REUSEPORT, reads as taken. Returns 0, or a negative uv error such as
 * UV_EADDRINUSE. */
int rg_io_port_free(const char *hostport);

/* Parse "host:port" ("0.0.0.0:8000", "localhost:80", "[::1]:80") into
 * @ss. Returns 0 or UV_EINVAL. Resolves names with getaddrinfo (blocking:
 * config time only). */
int rg_io_parse_addr(const char *hostport, struct sockaddr_storage *ss);

#endif
