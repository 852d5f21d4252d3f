/* The access log: one JSON object per request, formatted on the worker and
 * written off the hot path (uv_fs_write in the threadpool, double
 * buffered, flushed every 100 ms). Lines that find both buffers full are
 * dropped and counted, never blocking the loop. */
#ifndef RG_HTTP_ACCESSLOG_H
#define RG_HTTP_ACCESSLOG_H

#include <uv.h>

struct rg_accesslog;
struct rg_req;

/* Open @path for appending, on @loop. Returns NULL and sets *@err to a
 * negative errno on failure. Thread: the loop's (or before it runs). */
struct rg_accesslog *rg_accesslog_new(uv_loop_t *loop, const char *path,
                                      int *err);

/* Format and queue @r's line (borrowed). Thread: the log's loop. */
void rg_accesslog_request(struct rg_accesslog *a, const struct rg_req *r);

/* Reopen every access log (logrotate, SIGUSR1): each log opens its path
 * again at its next flush tick (within 100 ms), between two writes, so
 * no line is torn or lost; the lines queued before go to the old file or
 * the new. Any thread (an atomic counter). */
void rg_accesslog_reopen_all(void);

/* Write what is buffered (synchronously), close the file and the timer;
 * the memory is freed in the timer's close callback. Accepts NULL. */
void rg_accesslog_close(struct rg_accesslog *a);

/* Append @s to @b as a JSON string body (no quotes), escaping as needed.
 * An error stays in @b (rg_buf_error). */
struct rg_buf;
void rg_json_escape(struct rg_buf *b, const char *s, size_t n);

#endif
