/* Unit tests for core/rgassert.h: a failed RG_ASSERT prints the fixed
 * marker line the fault-injection log scan looks for and dies of SIGABRT;
 * a passing one does nothing and evaluates its condition once. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rgassert.h"

struct child {
    char out[2048]; /* what the child wrote to stderr */
    size_t len;
    int status; /* from waitpid */
};

/* Records its own line in *@line, then checks @v == 2: the parent calls
 * it with 2 to learn the line, the child with 1 to trip it. */
static void check_two(int v, int *line)
{
    *line = __LINE__, RG_ASSERT(v == 2);
}

static void trip_two(void)
{
    int line;

    check_two(1, &line);
}

/* A condition text far longer than the marker's line buffer. */
static void trip_long(void)
{
    static char cond[1500];

    memset(cond, 'c', sizeof(cond) - 1);
    rg_assert__fail("long.c", 7, cond);
}

/* Run @fn in a child whose stderr is a pipe; collect what it wrote and
 * how it ended. No core file: the abort is expected. */
static void run_child(void (*fn)(void), struct child *c)
{
    struct rlimit no_core = {0, 0};
    int fds[2];
    pid_t pid;
    ssize_t n;

    memset(c, 0, sizeof(*c));
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    while (c->len < sizeof(c->out) - 1) { /* until EOF: the child ended */
        n = read(fds[0], c->out + c->len, sizeof(c->out) - 1 - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        c->len += (size_t)n;
    }
    c->out[c->len] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &c->status, 0), pid);
}

/* The child prints exactly "RG-ASSERT <file>:<line>: <cond>" and dies of
 * SIGABRT (not a plain exit: the process must not go on). */
START_TEST(failure_prints_marker_and_aborts)
{
    struct child c;
    char want[512];
    int line = 0;

    check_two(2, &line);
    ck_assert_int_gt(line, 0);
    snprintf(want, sizeof(want), "RG-ASSERT %s:%d: v == 2\n", __FILE__, line);
    run_child(trip_two, &c);
    ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
                  "child status %#x, want SIGABRT", c.status);
    ck_assert_str_eq(c.out, want);
}
END_TEST

/* A condition text too long for the buffer still gives one marker line,
 * cut to the buffer, newline-terminated. */
START_TEST(long_condition_is_one_line)
{
    struct child c;

    run_child(trip_long, &c);
    ck_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT);
    ck_assert_uint_eq(c.len, 512);
    ck_assert(strncmp(c.out, "RG-ASSERT long.c:7: ccc", 23) == 0);
    ck_assert_ptr_eq(strchr(c.out, '\n'), c.out + c.len - 1);
}
END_TEST

/* A true condition neither prints nor aborts, and is evaluated once. */
START_TEST(success_is_silent_and_evaluates_once)
{
    int n = 0;

    RG_ASSERT(++n == 1);
    ck_assert_int_eq(n, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rgassert");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, failure_prints_marker_and_aborts);
    tcase_add_test(tc, long_condition_is_one_line);
    tcase_add_test(tc, success_is_silent_and_evaluates_once);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
