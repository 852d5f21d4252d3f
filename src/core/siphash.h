/* SipHash-2-4 (Aumasson and Bernstein), a keyed hash for tables indexed
 * by strings an attacker chooses: without the key, collisions cannot be
 * aimed. rg_siphash_process uses one random key per process. */
#ifndef RG_CORE_SIPHASH_H
#define RG_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The hash of @len bytes at @p under the 16-byte key @k. */
uint64_t rg_siphash(const uint8_t k[16], const void *p, size_t len);

/* The hash under this process's key (random, drawn on first use from
 * getrandom, aborting when the kernel has none; the same in every
 * thread). Thread: any. */
uint64_t rg_siphash_process(const void *p, size_t len);

#endif
