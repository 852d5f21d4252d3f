/* Hex digits: one digit's value, lower-case only (what this project
 * writes: MACs, trace ids, lease bodies) or either case (what a client
 * may send: percent-escapes, cache keys). No state; any thread. */
#ifndef RG_CORE_HEX_H
#define RG_CORE_HEX_H

/* The value of lower-case hex digit @c, or -1 for any other byte
 * (including 'A'..'F' and NUL). */
static inline int rg_hex_lower(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The value of hex digit @c in either case, or -1. */
static inline int rg_hex_digit(char c)
{
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return rg_hex_lower(c);
}

#endif
