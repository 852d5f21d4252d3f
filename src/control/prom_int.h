/* Helpers shared by the exposition's files (control/prom.c, prom_node.c):
 * family headers, escaped label values, one sample. */
#ifndef RG_CONTROL_PROM_INT_H
#define RG_CONTROL_PROM_INT_H

#include <stdint.h>

#include "control/prom.h"
#include "core/buf.h"

/* "# HELP @name @help\n# TYPE @name @type\n". */
void rg_prom__family(struct rg_buf *b, const char *name, const char *type,
                     const char *help);

/* @v as a label value: backslash, double quote and newline escaped (text
 * format 0.0.4). */
void rg_prom__value(struct rg_buf *b, const char *v);

/* One sample without labels: "@name @v\n". */
void rg_prom__u64(struct rg_buf *b, const char *name, uint64_t v);

/* A gauge or counter family of one sample without labels. */
void rg_prom__one(struct rg_buf *b, const char *name, const char *type,
                  const char *help, uint64_t v);

/* The raftgate_* series (prom_node.c). */
void rg_prom__node(const struct rg_prom_src *s, struct rg_buf *b);

#endif
