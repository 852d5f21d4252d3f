/* Copying writes and listening sockets. */
#include "core/io.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"

struct io_wreq {
    uv_write_t req;
    rg_io_cb cb;
    void *arg;
    size_t len;
    char data[];
};

static void io_write_done(uv_write_t *req, int status)
{
    struct io_wreq *w = (struct io_wreq *)req;
    rg_io_cb cb = w->cb;
    void *arg = w->arg;
    size_t len = w->len;

    rg_free(w);
    if (cb != NULL)
        cb(arg, status, len);
}

/* Bytes of @bufs that go out now: 0 when the stream has queued writes or
 * on any error (uv_write then reports it, after the callback contract). */
static size_t try_now(uv_stream_t *s, const uv_buf_t *bufs, unsigned n)
{
    int rv = uv_try_write(s, bufs, n);

    return rv > 0 ? (size_t)rv : 0;
}

ssize_t rg_io_write(uv_stream_t *s, const uv_buf_t *bufs, unsigned n,
                    rg_io_cb cb, void *arg)
{
    struct io_wreq *w;
    size_t total = 0;
    size_t skip, off = 0;
    uv_buf_t b;
    int rv;

    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (total == 0)
        return 0;
    skip = try_now(s, bufs, n);
    if (skip == total)
        return 0;
    w = rg_malloc(sizeof(*w) + total - skip);
    if (w == NULL)
        return UV_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        size_t from = skip < bufs[i].len ? skip : bufs[i].len;

        skip -= from;
        memcpy(w->data + off, bufs[i].base + from, bufs[i].len - from);
        off += bufs[i].len - from;
    }
    w->cb = cb;
    w->arg = arg;
    w->len = off;
    b = uv_buf_init(w->data, (unsigned)off);
    rv = uv_write(&w->req, s, &b, 1, io_write_done);
    if (rv != 0) {
        rg_free(w);
        return rv;
    }
    return (ssize_t)off;
}

int rg_io_split_host(const char *hostport, char *host, size_t cap)
{
    const char *colon = strrchr(hostport, ':');
    size_t hl;

    if (colon == NULL || colon[1] == '\0')
        return UV_EINVAL;
    hl = (size_t)(colon - hostport);
    if (hl >= 2 && hostport[0] == '[' && hostport[hl - 1] == ']') {
        hostport++;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap)
        return UV_EINVAL;
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    return 0;
}

int rg_io_parse_addr(const char *hostport, struct sockaddr_storage *ss)
{
    struct addrinfo hints, *res = NULL;
    const char *colon = strrchr(hostport, ':');
    char host[256];

    if (rg_io_split_host(hostport, host, sizeof(host)) != 0)
        return UV_EINVAL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
        return UV_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
}

int rg_io_port_free(const char *hostport)
{
    struct sockaddr_storage ss;
    int one = 1;
    int fd;
    int rv;

    rv = rg_io_parse_addr(hostport, &ss);
    if (rv != 0)
        return rv;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rv = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) != 0)
        rv = -errno;
    close(fd);
    return rv;
}

int rg_io_listen_socket(const char *hostport, int backlog)
{
    struct sockaddr_storage ss;
    int one = 1;
    int fd;
    int rv;

    rv = rg_io_parse_addr(hostport, &ss);
    if (rv != 0)
        return rv;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) != 0 ||
        listen(fd, backlog) != 0) {
        rv = -errno;
        close(fd);
        return rv;
    }
    return fd;
}
