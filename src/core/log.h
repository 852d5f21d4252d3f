/* The error log: levelled lines to stderr or a file, safe from any thread.
 * Lines are written with one write(2) each so threads never interleave. */
#ifndef RG_CORE_LOG_H
#define RG_CORE_LOG_H

enum rg_log_level {
    RG_LOG_ERROR = 0,
    RG_LOG_WARN,
    RG_LOG_NOTICE,
    RG_LOG_INFO,
    RG_LOG_DEBUG,
};

extern enum rg_log_level rg_log_max_level;

/* Parse "error|warn|notice|info|debug"; returns -EINVAL on anything else. */
int rg_log_level_parse(const char *s, enum rg_log_level *out);

/* Send the log to @path (opened O_APPEND), or to stderr when @path is NULL
 * or "stderr". Returns 0 or -errno; on failure the old target stays.
 * Thread: call before workers start, or from the control thread on reopen. */
int rg_log_open(const char *path);

/* Reopen the log file @path (logrotate, SIGUSR1): the new file takes the
 * old one's descriptor number (dup2), so a line another thread is writing
 * goes whole to one file or the other. Nothing to do for stderr. Returns
 * 0 or -errno (the old file stays). Thread: the control thread. */
int rg_log_reopen(const char *path);

void rg_log_write(enum rg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks the level before evaluating the arguments. */
#define rg_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= rg_log_max_level)                                       \
            rg_log_write((level), __VA_ARGS__);                                \
    } while (0)

#endif
