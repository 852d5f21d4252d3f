/* Last served config: "raftgate-lastgood <revision>\n" then the document. */
#include "config/lastgood.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

#define LASTGOOD_FILE "lastgood.json"
#define LASTGOOD_MAX (64u << 20)

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int rg_lastgood_save(const char *dir, uint64_t revision, const char *doc,
                     size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX], head[64];
    int fd, rv, hl;

    snprintf(path, sizeof(path), "%s/%s", dir, LASTGOOD_FILE);
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, LASTGOOD_FILE);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    hl = snprintf(head, sizeof(head), "raftgate-lastgood %" PRIu64 "\n",
                  revision);
    rv = write_all(fd, head, (size_t)hl);
    if (rv == 0)
        rv = write_all(fd, doc, len);
    if (rv == 0 && fsync(fd) != 0)
        rv = -errno;
    close(fd);
    if (rv == 0 && rename(tmp, path) != 0)
        rv = -errno;
    if (rv != 0)
        unlink(tmp);
    return rv;
}

static int read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    char *buf;
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rv = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 ||
        (uint64_t)st.st_size > LASTGOOD_MAX) {
        close(fd);
        return -EINVAL;
    }
    buf = rg_malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    r = read(fd, buf, (size_t)st.st_size);
    if (r != st.st_size)
        rv = r < 0 ? -errno : -EINVAL;
    close(fd);
    if (rv != 0) {
        rg_free(buf);
        return rv;
    }
    buf[r] = '\0';
    *out = buf;
    *len = (size_t)r;
    return 0;
}

int rg_lastgood_load(const char *dir, uint64_t *revision, char **doc,
                     size_t *len)
{
    char path[PATH_MAX];
    char *buf = NULL, *nl, *end;
    size_t n = 0;
    int rv;

    snprintf(path, sizeof(path), "%s/%s", dir, LASTGOOD_FILE);
    rv = read_file(path, &buf, &n);
    if (rv != 0)
        return rv;
    nl = memchr(buf, '\n', n);
    if (nl == NULL || strncmp(buf, "raftgate-lastgood ", 18) != 0) {
        rg_free(buf);
        return -EINVAL;
    }
    errno = 0;
    *revision = strtoull(buf + 18, &end, 10);
    if (errno != 0 || end != nl) {
        rg_free(buf);
        return -EINVAL;
    }
    n -= (size_t)(nl + 1 - buf);
    memmove(buf, nl + 1, n + 1);
    *doc = buf;
    *len = n;
    return 0;
}
