/* Cache-Control and HTTP dates; see cache_rules.h. */
#define _GNU_SOURCE /* timegm, strptime */
#include "plugins/cache_rules.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#define SECONDS_MAX 2147483648LL

void rg_cc_init(struct rg_cc *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->max_age = cc->s_maxage = cc->min_fresh = -1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Seconds in @p (@n bytes of digits, maybe quoted), or -1. */
static long long seconds(const char *p, size_t n)
{
    long long x = 0;

    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        if (x < SECONDS_MAX)
            x = x * 10 + (p[i] - '0');
    }
    return x < SECONDS_MAX ? x : SECONDS_MAX;
}

static int named(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* One directive: name @p (@n bytes), value @v (@vn bytes, NULL: none). */
static void directive(const char *p, size_t n, const char *v, size_t vn,
                      struct rg_cc *cc)
{
    if (named(p, n, "no-store"))
        cc->no_store = 1;
    else if (named(p, n, "no-cache"))
        cc->no_cache = 1;
    else if (named(p, n, "private"))
        cc->private_ = 1;
    else if (named(p, n, "only-if-cached"))
        cc->only_if_cached = 1;
    else if (v != NULL && named(p, n, "max-age"))
        cc->max_age = seconds(v, vn);
    else if (v != NULL && named(p, n, "s-maxage"))
        cc->s_maxage = seconds(v, vn);
    else if (v != NULL && named(p, n, "min-fresh"))
        cc->min_fresh = seconds(v, vn);
}

void rg_cc_parse(const char *v, size_t n, struct rg_cc *cc)
{
    size_t i = 0;

    while (i < n) {
        size_t ns, ne, vs = 0, ve = 0;
        int has_v = 0, quoted = 0;

        while (i < n && (is_blank(v[i]) || v[i] == ','))
            i++;
        ns = i;
        while (i < n && v[i] != ',' && v[i] != '=' && !is_blank(v[i]))
            i++;
        ne = i;
        while (i < n && is_blank(v[i]))
            i++;
        if (i < n && v[i] == '=') {
            i++;
            while (i < n && is_blank(v[i]))
                i++;
            has_v = 1;
            vs = i;
            while (i < n && (quoted || (v[i] != ',' && !is_blank(v[i])))) {
                if (v[i] == '"')
                    quoted = !quoted;
                else if (v[i] == '\\' && quoted && i + 1 < n)
                    i++;
                i++;
            }
            ve = i;
        }
        while (i < n && v[i] != ',')
            i++; /* junk after the directive */
        if (ne > ns)
            directive(v + ns, ne - ns, has_v ? v + vs : NULL, ve - vs, cc);
    }
}

int rg_http_date(const char *v, size_t n, time_t *out)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    char buf[64];

    while (n > 0 && is_blank(*v)) {
        v++;
        n--;
    }
    while (n > 0 && is_blank(v[n - 1]))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm;
        const char *end;

        memset(&tm, 0, sizeof(tm));
        end = strptime(buf, forms[i], &tm);
        if (end != NULL && *end == '\0') {
            *out = timegm(&tm);
            return 0;
        }
    }
    return -1;
}
