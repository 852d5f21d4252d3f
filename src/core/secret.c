/* Secret files; see secret.h. */
#include "core/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

int rg_secret_read(const char *path, size_t min, size_t max,
                   unsigned char **out, size_t *len)
{
    unsigned char *buf;
    size_t n = 0;
    int fd, rv = 0;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf = rg_malloc(max + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    while (n <= max) {
        ssize_t r = read(fd, buf + n, max + 1 - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rv = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rv == 0 && (n < min || n > max))
        rv = -ERANGE;
    if (rv != 0) {
        rg_secret_free(buf, max + 1);
        return rv;
    }
    *out = buf;
    *len = n;
    return 0;
}

unsigned char *rg_secret_dup(const unsigned char *p, size_t len)
{
    unsigned char *k = rg_malloc(len > 0 ? len : 1);

    if (k != NULL)
        memcpy(k, p, len);
    return k;
}

void rg_secret_free(unsigned char *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    rg_free(p);
}
