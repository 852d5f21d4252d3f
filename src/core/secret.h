/* Secret files (auth): the cluster key of raft.cluster_key_file. Read
 * whole, kept in memory, wiped when freed. Thread: any. */
#ifndef RG_CORE_SECRET_H
#define RG_CORE_SECRET_H

#include <stddef.h>

/* The bytes of secret a cluster key holds: read by the node config and
 * checked again by the Raft transport (raft/transport.c), whose keyed
 * handshake (raft/hsauth.h) it keys. */
#define RG_CLUSTER_KEY_MIN 32
#define RG_CLUSTER_KEY_MAX 4096

/* Read @path whole into *@out (rg_malloc'd, caller frees with
 * rg_secret_free) and *@len. Returns 0, -ERANGE (shorter than @min or
 * longer than @max bytes), -ENOMEM, or another negative errno (open or
 * read failed). */
int rg_secret_read(const char *path, size_t min, size_t max,
                   unsigned char **out, size_t *len);

/* A copy of the secret @p (@len bytes) to keep, freed with
 * rg_secret_free; NULL out of memory. */
unsigned char *rg_secret_dup(const unsigned char *p, size_t len);

/* Wipe and free a secret from rg_secret_read or rg_secret_dup; NULL is
 * ignored. */
void rg_secret_free(unsigned char *p, size_t len);

#endif
