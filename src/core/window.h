/* Fixed rate-limit windows (second, minute, hour, day: UTC-aligned; month
 * and year: calendar, UTC), pure arithmetic on seconds since the epoch.
 * Shared by the local rate-limiting policy (src/plugins/) and the quota
 * ledger of the state machine (raft/fsm_quota.c), which must compute the
 * same windows from a log entry's timestamp on every replica: no clock,
 * no locale, no state. Thread: any. */
#ifndef RG_CORE_WINDOW_H
#define RG_CORE_WINDOW_H

#include <stdint.h>

enum rg_window_unit {
    RG_WIN_SECOND = 0,
    RG_WIN_MINUTE,
    RG_WIN_HOUR,
    RG_WIN_DAY,
    RG_WIN_MONTH,
    RG_WIN_YEAR,
    RG_WIN_UNITS,
};

/* The first second of the window of unit @u holding @now (s since the
 * epoch, UTC), and the first second after it. @u < RG_WIN_UNITS. */
uint64_t rg_window_start(enum rg_window_unit u, uint64_t now);
uint64_t rg_window_end(enum rg_window_unit u, uint64_t now);

#endif
