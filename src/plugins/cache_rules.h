/* HTTP caching rules the proxy-cache reads from headers (RFC 9111):
 * Cache-Control directives and HTTP dates (Expires). Pure functions of
 * their input: any thread. */
#ifndef RG_PLUGINS_CACHE_RULES_H
#define RG_PLUGINS_CACHE_RULES_H

#include <stddef.h>
#include <time.h>

/* The directives the cache acts on; -1: absent. */
struct rg_cc {
    unsigned no_store : 1, no_cache : 1, private_ : 1, only_if_cached : 1;
    long long max_age, s_maxage, min_fresh; /* seconds */
};

/* Parse Cache-Control value @v (@n bytes, not NUL-terminated): a comma-
 * separated list of `name` or `name=value` (value a token or quoted
 * string), names in any case; unknown directives are skipped, as are a
 * malformed number (the directive counts as absent) and junk up to the
 * next comma. Seconds are capped at 2^31 (RFC 9111 §1.2.2). Adds to
 * what @cc holds: several headers may be parsed into one (start with
 * rg_cc_init). */
void rg_cc_init(struct rg_cc *cc);
void rg_cc_parse(const char *v, size_t n, struct rg_cc *cc);

/* An HTTP date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the
 * obsolete RFC 850 and asctime forms) in @v (@n bytes) as seconds since
 * the epoch into *@out: 0, or -1 when it is not one (Expires: 0 and the
 * like, which RFC 9111 reads as already expired). */
int rg_http_date(const char *v, size_t n, time_t *out);

#endif
