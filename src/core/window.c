/* Fixed windows: see core/window.h. Months and years go through gmtime_r
 * and timegm (UTC: no time zone or locale involved). */
#include "core/window.h"

#include <time.h>

static const uint64_t fixed_len[RG_WIN_MONTH] = {1, 60, 3600, 86400};

/* The first second of the month (@year 0) or year holding @now, moved on
 * by @ahead months or years. */
static uint64_t calendar(uint64_t now, int year, int ahead)
{
    time_t t = (time_t)now;
    struct tm tm;

    gmtime_r(&t, &tm);
    tm.tm_sec = tm.tm_min = tm.tm_hour = 0;
    tm.tm_mday = 1;
    if (year) {
        tm.tm_mon = 0;
        tm.tm_year += ahead;
    } else {
        tm.tm_mon += ahead;
    }
    return (uint64_t)timegm(&tm);
}

uint64_t rg_window_start(enum rg_window_unit u, uint64_t now)
{
    if (u < RG_WIN_MONTH)
        return now - now % fixed_len[u];
    return calendar(now, u == RG_WIN_YEAR, 0);
}

uint64_t rg_window_end(enum rg_window_unit u, uint64_t now)
{
    if (u < RG_WIN_MONTH)
        return now - now % fixed_len[u] + fixed_len[u];
    return calendar(now, u == RG_WIN_YEAR, 1);
}
