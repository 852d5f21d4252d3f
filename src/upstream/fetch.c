/* libcurl's multi_socket interface on a libuv loop; see fetch.h.
 *
 * curl says which sockets to watch (on_socket: one uv_poll_t each, tied to
 * curl's socket with curl_multi_assign) and when to wake it (on_curl_timer:
 * the one uv_timer_t); both wake-ups call curl_multi_socket_action, after
 * which finished transfers are collected from curl_multi_info_read.
 *
 * Re-entrancy: no user callback ever runs inside a curl call. Finished
 * transfers are first taken out of the multi handle and queued (collect),
 * then called back one by one (dispatch). A callback may therefore start
 * fetches (curl_multi_add_handle only arms the timer), cancel any fetch (a
 * queued one is marked and skipped, a running one removed and freed) and
 * close the fetcher (the queue is then drained without callbacks). The
 * fetcher's memory goes only in the close callbacks of its uv handles
 * (STYLE ownership rule 2), which never run before dispatch returns. */
#include "upstream/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>

#include "core/alloc.h"
#include "core/log.h"
#include "upstream/fetch_int.h"

struct rg_fetch_sock { /* one socket curl asked us to watch */
    uv_poll_t poll;
    struct rg_fetcher *f;
    curl_socket_t fd;
    struct rg_fetch_sock *prev, *next; /* in f->socks */
};

/* curl_global_init is not thread-safe in 7.88: once per process. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rv;

static void curl_init(void)
{
    curl_init_rv = curl_global_init_mem(CURL_GLOBAL_DEFAULT, rg_malloc, rg_free,
                                        rg_realloc, rg_strdup, rg_calloc);
}

static void maybe_free(struct rg_fetcher *f)
{
    if (f->closing && f->n_open == 0)
        rg_free(f);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rg_fetcher *f = h->data;

    f->n_open--;
    maybe_free(f);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct rg_fetch_sock *s = h->data;
    struct rg_fetcher *f = s->f;

    rg_free(s);
    f->n_open--;
    maybe_free(f);
}

static void sock_close(struct rg_fetch_sock *s)
{
    struct rg_fetcher *f = s->f;

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        f->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Transfers in flight keep the loop alive through the timer (each has a
 * timeout, so curl always has one armed); idle connections do not. */
static void set_ref(struct rg_fetcher *f)
{
    if (f->n_active > 0)
        uv_ref((uv_handle_t *)&f->timer);
    else
        uv_unref((uv_handle_t *)&f->timer);
}

static void active_unlink(struct rg_fetch *x)
{
    struct rg_fetcher *f = x->f;

    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        f->active = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    f->n_active--;
    set_ref(f);
}

/* Out of the multi handle, onto the queue of callbacks. */
static void queue_done(struct rg_fetch *x, CURLcode code)
{
    struct rg_fetcher *f = x->f;

    (void)curl_multi_remove_handle(f->multi, x->easy);
    x->code = code;
    active_unlink(x);
    x->done = 1;
    if (f->done_tail != NULL)
        f->done_tail->next = x;
    else
        f->done = x;
    f->done_tail = x;
}

/* Take every finished transfer out of the multi handle, in order, then
 * the doomed ones (failed as out of memory). */
static void collect(struct rg_fetcher *f)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result;
        struct rg_fetch *x = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        /* m is invalid once its handle is removed. */
        (void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        queue_done(x, code);
    }
    for (struct rg_fetch *x = f->active, *next; f->n_doomed > 0 && x != NULL;
         x = next) {
        next = x->next;
        if (x->doomed) {
            x->why = "cannot watch its socket (out of memory)";
            queue_done(x, CURLE_OUT_OF_MEMORY);
        }
    }
    f->n_doomed = 0;
}

/* Call back every queued transfer, then free it. A callback may close the
 * fetcher: the rest are then freed without a call. */
static void dispatch(struct rg_fetcher *f)
{
    struct rg_fetch *x;

    while ((x = f->done) != NULL) {
        f->done = x->next;
        if (f->done == NULL)
            f->done_tail = NULL;
        if (!x->cancelled && !f->closing)
            rg_fetch__complete(x);
        rg_fetch__free(x);
    }
}

static void on_timer(uv_timer_t *t);

/* Tell curl about @fd's @flags (or a timeout), then call back whatever
 * finished. When curl_multi_socket_action fails (out of memory, e.g. for
 * a new socket's entry), curl skips rearming its timer and a transfer
 * could wait on nothing: the timer is then set from curl_multi_timeout
 * (every transfer has a timeout pending), and curl retries from there. */
static void act(struct rg_fetcher *f, curl_socket_t fd, int flags)
{
    long ms = -1;
    int running;

    if (curl_multi_socket_action(f->multi, fd, flags, &running) != CURLM_OK) {
        if (curl_multi_timeout(f->multi, &ms) != CURLM_OK || ms < 0)
            ms = f->n_active > 0 ? 100 : -1;
        if (ms >= 0)
            uv_timer_start(&f->timer, on_timer, ms > 0 ? (uint64_t)ms : 1, 0);
    }
    collect(f);
    dispatch(f);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct rg_fetch_sock *s = h->data;
    struct rg_fetcher *f = s->f;
    int flags = 0;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    /* curl may tell on_socket to drop s in here: s is not used after. */
    act(f, s->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
    act(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: never call curl back from here (it is inside a
 * curl call); a 0 fires on the loop's next turn. */
static int on_curl_timer(CURLM *multi, long ms, void *arg)
{
    struct rg_fetcher *f = arg;

    if (ms < 0)
        uv_timer_stop(&f->timer);
    else
        uv_timer_start(&f->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

static struct rg_fetch_sock *sock_new(struct rg_fetcher *f, curl_socket_t fd)
{
    struct rg_fetch_sock *s = rg_calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (uv_poll_init_socket(f->loop, &s->poll, fd) != 0) {
        rg_free(s);
        return NULL;
    }
    s->poll.data = s;
    s->f = f;
    s->fd = fd;
    uv_unref((uv_handle_t *)&s->poll); /* see set_ref */
    f->n_open++;
    s->next = f->socks;
    if (s->next != NULL)
        s->next->prev = s;
    f->socks = s;
    return s;
}

/* A socket of @easy's transfer cannot be watched: it fails (as out of
 * memory) once the curl call running this returns. Not a -1 to curl: 7.88
 * then leaves every transfer in flight without an end. */
static int doom(struct rg_fetcher *f, CURL *easy)
{
    struct rg_fetch *x = NULL;

    rg_log(RG_LOG_WARN, "fetch: cannot watch a socket; its transfer fails");
    if (easy != NULL &&
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x) == CURLE_OK &&
        x != NULL && !x->done) {
        x->doomed = 1;
        f->n_doomed++;
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION. It also runs inside curl_multi_cleanup, while
 * the fetcher closes. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
                     void *sp)
{
    struct rg_fetcher *f = arg;
    struct rg_fetch_sock *s = sp;
    int ev = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            (void)curl_multi_assign(f->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = sock_new(f, fd);
        if (s == NULL)
            return doom(f, easy);
        (void)curl_multi_assign(f->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    return uv_poll_start(&s->poll, ev, on_poll) == 0 ? 0 : doom(f, easy);
}

struct rg_fetcher *rg_fetcher_new(uv_loop_t *loop)
{
    struct rg_fetcher *f;

    if (pthread_once(&curl_once, curl_init) != 0 || curl_init_rv != CURLE_OK)
        return NULL;
    f = rg_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->multi = curl_multi_init();
    if (f->multi == NULL) {
        rg_free(f);
        return NULL;
    }
    f->loop = loop;
    (void)curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    (void)curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    (void)curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    (void)curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    f->n_open = 1;
    set_ref(f);
    return f;
}

void rg_fetcher_close(struct rg_fetcher *f)
{
    struct rg_fetch *x;

    if (f == NULL || f->closing)
        return;
    f->closing = 1;
    while ((x = f->active) != NULL) {
        (void)curl_multi_remove_handle(f->multi, x->easy);
        active_unlink(x);
        rg_fetch__free(x);
    }
    /* The sockets of cached connections are dropped in here too. */
    (void)curl_multi_cleanup(f->multi);
    f->multi = NULL;
    while (f->socks != NULL)
        sock_close(f->socks);
    uv_close((uv_handle_t *)&f->timer, on_handle_closed);
    /* Queued transfers, if a callback closed us, are freed by dispatch. */
}

void rg_fetch_cancel(struct rg_fetch *x)
{
    if (x->done) {
        x->cancelled = 1;
        return;
    }
    (void)curl_multi_remove_handle(x->f->multi, x->easy);
    active_unlink(x);
    rg_fetch__free(x);
}

int rg_fetch_start(struct rg_fetcher *f, const char *url,
                   const struct rg_fetch_opts *o, rg_fetch_cb cb, void *arg,
                   struct rg_fetch **out)
{
    static const struct rg_fetch_opts defaults;
    struct rg_fetch *x;
    CURLMcode mc;
    int rv;

    if (f->closing)
        return -ECANCELED;
    if ((rv = rg_fetch__new(f, url, o != NULL ? o : &defaults, &x)) != 0)
        return rv;
    x->cb = cb;
    x->arg = arg;
    /* Listed first: adding may already call on_socket or the timer. */
    x->next = f->active;
    if (x->next != NULL)
        x->next->prev = x;
    f->active = x;
    f->n_active++;
    set_ref(f);
    mc = curl_multi_add_handle(f->multi, x->easy);
    if (mc != CURLM_OK) {
        active_unlink(x);
        rg_fetch__free(x);
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    }
    if (out != NULL)
        *out = x;
    return 0;
}
