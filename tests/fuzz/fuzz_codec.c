/* libFuzzer target for the Raft command decoder and the state machine
 * behind it. The input is taken three ways:
 *  1. as a log entry: when it decodes, encoding the decoded commands again
 *     must give the very same bytes (one encoding per entry); decoded or
 *     not, rg_fsm_apply on a fresh state machine must not crash;
 *  2. as the body of commands built around it (each type and kind), so
 *     that arbitrary JSON reaches PUT, REPLACE_ALL and NODE_SET;
 *  3. the state reached must survive snapshot/restore byte for byte, and
 *     its export loaded with REPLACE_ALL must give the same config hash.
 * Seeds: tests/fuzz/corpus/fuzz_codec/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/codec.h"
#include "raft/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static struct rg_fsm_result res[RG_CODEC_MAX_CMDS];

static void reencode(const uint8_t *data, size_t size, const struct rg_entry *e)
{
    size_t need = rg_codec_size(e->cmds, e->n_cmds);
    unsigned char *b;

    CHECK(need == size);
    b = malloc(need);
    CHECK(b != NULL);
    CHECK(rg_codec_encode(e->cmds, e->n_cmds, e->term, e->ts_ms, b, need) ==
          (long)need);
    CHECK(memcmp(b, data, size) == 0);
    free(b);
}

/* Encode @n commands and apply them at @index. */
static void apply_cmds(struct rg_fsm *f, uint64_t index, const struct rg_cmd *c,
                       unsigned n)
{
    size_t need = rg_codec_size(c, n);
    void *b;

    if (need == 0)
        return;
    b = malloc(need);
    CHECK(b != NULL);
    CHECK(rg_codec_encode(c, n, 1, 0, b, need) == (long)need);
    CHECK(rg_fsm_apply(f, index, b, need, res) == n);
    CHECK(rg_fsm_applied_index(f) == index);
    free(b);
}

/* Commands of each type around the input as body; the first byte picks
 * the key, so that PUTs can collide with REPLACE_ALL ids. */
static void body_commands(struct rg_fsm *f, const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"a", "b", "1", "s1"};
    struct rg_cmd c[6];
    const char *key = keys[size ? data[0] % 4 : 0];
    unsigned i;

    if (size > RG_CODEC_MAX_BODY)
        return;
    memset(c, 0, sizeof(c));
    for (i = 0; i < 6; i++) {
        c[i].type = (uint8_t)(i == 5 ? RG_CMD_PUT : RG_CMD_PUT + i % 5);
        c[i].kind = (uint8_t)(i == 5 ? RG_KIND_ROUTE : RG_KIND_SERVICE);
        c[i].key = key;
        c[i].key_len = (uint16_t)strlen(key);
        c[i].body = (const char *)data;
        c[i].body_len = (uint32_t)size;
    }
    /* PUT, DELETE, REPLACE_ALL, NODE_SET, NODE_DEL, PUT route */
    apply_cmds(f, 2, c, 6);
}

/* Snapshot, restore into a fresh state machine, snapshot again: same
 * bytes. The export reloaded gives the same hash. */
static void check_roundtrips(const struct rg_fsm *f)
{
    struct rg_fsm *g = rg_fsm_new(NULL, NULL), *h = rg_fsm_new(NULL, NULL);
    void *s1, *s2;
    size_t l1, l2, el;
    char *e;
    struct rg_cmd c;

    CHECK(g != NULL && h != NULL);
    CHECK(rg_fsm_snapshot(f, &s1, &l1) == 0);
    CHECK(rg_fsm_restore(g, s1, l1) == 0);
    CHECK(rg_fsm_snapshot(g, &s2, &l2) == 0);
    CHECK(l1 == l2 && memcmp(s1, s2, l1) == 0);
    CHECK(rg_fsm_config_hash(g) == rg_fsm_config_hash(f));
    e = rg_fsm_export(f, &el);
    CHECK(e != NULL);
    memset(&c, 0, sizeof(c));
    c.type = RG_CMD_REPLACE_ALL;
    c.body = e;
    c.body_len = (uint32_t)el;
    apply_cmds(h, 1, &c, 1);
    CHECK(res[0].status == RG_FSM_OK);
    CHECK(rg_fsm_config_hash(h) == rg_fsm_config_hash(f));
    rg_free(e);
    rg_free(s1);
    rg_free(s2);
    rg_fsm_free(g);
    rg_fsm_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_fsm *f;
    struct rg_entry e;

    if (rg_codec_decode(data, size, &e) == 0) {
        CHECK(size % 8 == 0);
        reencode(data, size, &e);
        rg_entry_release(&e);
    }
    f = rg_fsm_new(NULL, NULL);
    CHECK(f != NULL);
    (void)rg_fsm_apply(f, 1, data, size, res);
    CHECK(rg_fsm_applied_index(f) == 1);
    body_commands(f, data, size);
    check_roundtrips(f);
    rg_fsm_free(f);
    return 0;
}
