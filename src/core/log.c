/* Error log: one formatted line per write(2), a timestamp and level prefix. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum rg_log_level rg_log_max_level = RG_LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = {
    "error", "warn", "notice", "info", "debug",
};

int rg_log_level_parse(const char *s, enum rg_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum rg_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int rg_log_open(const char *path)
{
    int fd = 2;
    int old;

    if (path != NULL && strcmp(path, "stderr") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
    }
    old = atomic_exchange(&log_fd, fd);
    if (old > 2)
        close(old);
    return 0;
}

int rg_log_reopen(const char *path)
{
    int old = atomic_load(&log_fd);
    int fd, rv = 0;

    if (path == NULL || strcmp(path, "stderr") == 0 || old <= 2)
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (dup2(fd, old) < 0 || fcntl(old, F_SETFD, FD_CLOEXEC) < 0)
        rv = -errno;
    close(fd);
    return rv;
}

void rg_log_write(enum rg_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;
    int m;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level]);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(atomic_load(&log_fd), line, (size_t)n) < 0) {
        /* Nowhere left to report a failing error log. */
    }
}
