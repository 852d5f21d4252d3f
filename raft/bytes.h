/* Little-endian integers in byte buffers: the layout of the command codec
 * (codec.c), the quota lease bodies (fsm_quota.c) and the transport's
 * handshakes (hsauth.c, transport.c). Byte by byte, so @p needs no
 * alignment and the host's byte order does not matter. No state; any
 * thread. */
#ifndef RG_RAFT_BYTES_H
#define RG_RAFT_BYTES_H

#include <stdint.h>

static inline void rg_put16le(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void rg_put32le(unsigned char *p, uint32_t v)
{
    rg_put16le(p, (uint16_t)v);
    rg_put16le(p + 2, (uint16_t)(v >> 16));
}

static inline void rg_put64le(unsigned char *p, uint64_t v)
{
    rg_put32le(p, (uint32_t)v);
    rg_put32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t rg_get16le(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t rg_get32le(const unsigned char *p)
{
    return rg_get16le(p) | (uint32_t)rg_get16le(p + 2) << 16;
}

static inline uint64_t rg_get64le(const unsigned char *p)
{
    return rg_get32le(p) | (uint64_t)rg_get32le(p + 4) << 32;
}

#endif
