/* The llhttp glue: callbacks that fill an rg_head and hand message events
 * to the owner's vtable. */
#include "http/msg.h"

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "http/status.h"

static struct rg_msg *msg_of(llhttp_t *p)
{
    return (struct rg_msg *)p; /* p is the first member */
}

/* Record a head collector's failure as the request-path code (-E2BIG
 * named for where it happened, -ENOMEM as is, anything else a malformed
 * head: a fold, an empty name): llhttp then stops with an error. */
static int head_fail(struct rg_msg *m, int rv, int in_url)
{
    if (rv == 0)
        return 0;
    m->err = rv == -E2BIG    ? (in_url ? RG_EURI : RG_EHEAD)
             : rv == -ENOMEM ? -ENOMEM
                             : RG_EPROTO;
    return -1;
}

static int on_message_begin(llhttp_t *p)
{
    struct rg_msg *m = msg_of(p);

    m->err = 0;
    if (m->ops->begin != NULL)
        return head_fail(m, m->ops->begin(m), 0);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct rg_msg *m = msg_of(p);

    if (m->head == NULL)
        return head_fail(m, -EINVAL, 0);
    return head_fail(m, rg_head_add_url(m->head, at, n), 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct rg_msg *m = msg_of(p);

    if (m->head == NULL)
        return head_fail(m, -EINVAL, 0);
    m->name_end = at + n;
    m->name_feed = m->feeds;
    return head_fail(m, rg_head_add_name(m->head, at, n), 0);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct rg_msg *m = msg_of(p);
    const struct rg_head *h = m->head;

    /* A field name is a token, at least one byte (RFC 9110 §5.1); llhttp
     * lets ":" with no name through in places. A new field's name reset
     * in_value; with no name span it is still set. */
    if (h == NULL || h->n_fields == 0 || h->in_value ||
        h->fields[h->n_fields - 1].name_len == 0)
        return head_fail(m, -EINVAL, 0);
    m->want_value = 1;
    m->lf_pending = 0;
    return 0;
}

/* Whether a LF came between the end of the field's name and @at, the
 * start of its value's first span. llhttp 8 also lets through a fold of
 * an empty first line ("X:\r\n b" reads as "X: b"); no legitimate value
 * has a LF before it. Bytes of earlier feeds were checked when each feed
 * ended (lf_pending). */
static int fold_before_value(const struct rg_msg *m, const char *at)
{
    const char *s = m->name_feed == m->feeds ? m->name_end : m->exec_start;

    return m->lf_pending || (at > s && memchr(s, '\n', (size_t)(at - s)));
}

/* Whether a second span of the current value is only the same value split
 * by a read boundary: the last span ended its input, and this one starts
 * the very next input. llhttp 8 accepts obs-fold even in strict mode and
 * drops its CRLF, handing the continuation over as just such a second span
 * (in the same input or, split at the fold, in a later one); anything but
 * a read boundary is a fold, which RFC 9112 §5.2 lets a recipient reject. */
static int value_split_by_read(const struct rg_msg *m, const char *at)
{
    return at == m->exec_start && m->val_feed + 1 == m->feeds &&
           m->val_at_end;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct rg_msg *m = msg_of(p);

    if (m->head == NULL)
        return head_fail(m, -EINVAL, 0);
    if (n == 0)
        return 0; /* llhttp's empty spans at input ends carry nothing */
    if (m->head->in_value ? !value_split_by_read(m, at)
                          : m->want_value && fold_before_value(m, at))
        return head_fail(m, -EINVAL, 0);
    m->want_value = 0;
    m->val_feed = m->feeds;
    m->val_at_end = at + n == m->exec_end;
    return head_fail(m, rg_head_add_value(m->head, at, n), 0);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct rg_msg *m = msg_of(p);
    int rv;

    if (m->head == NULL)
        return head_fail(m, -EINVAL, 0);
    m->want_value = 0;
    /* An empty value has no on_header_value call: make sure it exists. */
    rv = rg_head_add_value(m->head, "", 0);
    if (rv != 0)
        return head_fail(m, rv, 0);
    rg_head_end_value(m->head);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct rg_msg *m = msg_of(p);

    return m->ops->head != NULL ? m->ops->head(m) : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct rg_msg *m = msg_of(p);
    int rv = m->ops->body != NULL ? m->ops->body(m, at, n) : 0;

    if (rv == 0)
        return 0;
    m->err = rv;
    return -1;
}

static int on_message_complete(llhttp_t *p)
{
    struct rg_msg *m = msg_of(p);

    return m->ops->done != NULL ? m->ops->done(m) : 0;
}

static const llhttp_settings_t msg_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_url, /* the reason phrase takes the url span */
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void rg_msg_init(struct rg_msg *m, enum rg_msg_kind kind,
                 const struct rg_msg_ops *ops, struct rg_head *head,
                 void *data)
{
    llhttp_init(&m->p, kind == RG_MSG_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE,
                &msg_settings);
    m->ops = ops;
    m->data = data;
    m->head = head;
    m->exec_start = m->exec_end = NULL;
    m->feeds = m->val_feed = m->name_feed = 0;
    m->name_end = NULL;
    m->val_at_end = m->want_value = m->lf_pending = 0;
    m->err = 0;
}

llhttp_errno_t rg_msg_feed(struct rg_msg *m, const char *at, size_t n)
{
    llhttp_errno_t err;

    if (n > 0)
        m->feeds++;
    m->exec_start = at;
    m->exec_end = at + n;
    err = llhttp_execute(&m->p, at, n);
    if (m->want_value && !m->lf_pending && n > 0) {
        /* The value has not begun: remember a LF in what this feed had
         * after the name, for fold_before_value. */
        const char *s = m->name_feed == m->feeds ? m->name_end : at;

        m->lf_pending = s < at + n && memchr(s, '\n', (size_t)(at + n - s));
    }
    return err;
}

llhttp_errno_t rg_msg_finish(struct rg_msg *m)
{
    m->exec_start = m->exec_end = NULL;
    return llhttp_finish(&m->p);
}

void rg_msg_resume(struct rg_msg *m)
{
    if (llhttp_get_errno(&m->p) == HPE_PAUSED_UPGRADE)
        llhttp_resume_after_upgrade(&m->p);
    else
        llhttp_resume(&m->p);
}

int rg_msg_error_status(const struct rg_msg *m)
{
    return m->err != 0 ? rg_status_of(m->err) : 400;
}
