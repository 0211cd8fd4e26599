// The GPU learner's memory plan (common/engine/memplan.h) on the CPU: the activation slab of a small
// config against sizes worked out by hand field by field, the orderings a plan must keep (recompute <
// full, eval < train, bf16 < fp32, ZeRO-1 < stage 0) and the ZeRO-1 shards: for every n tried and 1..9
// ranks they cover [0, n) exactly once, in rank order, in equal blocks of a multiple of 64 floats.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/memplan.h"
#include "tests/harness.h"

static void small_config(ModelConfig *c) {
    memset(c, 0, sizeof(*c));
    c->vocab_size = 100; c->hidden_size = 64; c->intermediate_size = 96; c->num_layers = 2;
    c->num_heads = 4; c->num_kv_heads = 2; c->head_dim = 16;
}

static MemPlanOpts opts(MemPlanPrecision p, int recompute, int flash, int eval) {
    MemPlanOpts o;
    memset(&o, 0, sizeof(o));
    o.precision = p; o.recompute = recompute; o.flash = flash; o.eval = eval;
    o.zero_stage = 0; o.nranks = 1; o.micro_batch = 2; o.seq_len = 8;
    return o;
}

static size_t sum(const size_t *v, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s;
}

// B 2, T 8 (N 16), C 64, L 2, H 4, KV 2, D 16, I 96, V 100; bytes per field after rounding up to 256,
// in MEMPLAN_ACTS_FIELDS order.
static void test_slab_by_hand(void) {
    ModelConfig c;
    small_config(&c);
    // fp32, every layer kept (Lk 2, Lr 3), flash (att_lse, no T x T), training.
    static const size_t fp32_full[] = {
        256, 256,              // tokens, targets: 16 ints = 64 B
        256, 256,              // rope cos / sin: 8 x 8 floats
        12288,                 // resid: 3 x 16 x 64 x 4
        8192, 256,             // ln1 (2 x 16 x 64 x 4), ln1_rstd (2 x 16 x 4 = 128)
        8192, 4096, 4096,      // q (2 x 16 x 64), k, v (2 x 16 x 32)
        0, 512,                // att absent; att_lse 2 layers x B 2 x H 4 x T 8 floats
        8192, 8192, 8192, 256, // atty, resid_mid, ln2, ln2_rstd
        12288, 12288, 12288,   // gate, up, mlp_h: 2 x 16 x 96 x 4
        4096, 256, 256,        // lnf, lnf_rstd, lse
        6400, 0,               // logits: 16 rows x 100 x 4; logits16 only in bf16
        256, 256, 256,         // stats (4 x 16 floats), dlogp, dent
        4096, 4096,            // dresid, dln: 16 x 64 x 4
        4096, 2048, 2048,      // dq, dk, dv
        6144, 6144, 6144,      // dbig (16 x max(96, 64)), dgate, dup
        256,                   // emb_index: 3 x 16 + 1 ints
        8448,                  // att_scratch: B H T + 2 N H D = 64 + 2048 floats (per-head dK/dV partials)
    };
    MemPlanOpts o = opts(MEMPLAN_FP32, 0, 1, 0);
    CHECK_EQ_INT(memplan_acts_bytes(&c, &o), sum(fp32_full, sizeof(fp32_full) / sizeof(fp32_full[0])));

    // bf16, recompute (Lk 1, Lr 3): activations 2 bytes, statistics and dresid fp32, the bf16 dz chunk.
    static const size_t bf16_rc[] = {
        256, 256, 256, 256,
        6144,                  // resid: 3 x 16 x 64 x 2
        2048, 256,             // ln1: 16 x 64 x 2
        2048, 1024, 1024,      // q, k, v
        0, 256,                // att_lse: 1 layer x 64 floats
        2048, 2048, 2048, 256,
        3072, 3072, 3072,      // gate, up, mlp_h: 16 x 96 x 2
        2048, 256, 256,
        6400, 3328,            // logits fp32; logits16 16 x 100 x 2 = 3200 -> 3328
        256, 256, 256,
        4096, 2048,            // dresid fp32, dln bf16
        2048, 1024, 1024,
        3072, 3072, 3072,
        256, 8448,
    };
    o = opts(MEMPLAN_BF16, 1, 1, 0);
    CHECK_EQ_INT(memplan_acts_bytes(&c, &o), sum(bf16_rc, sizeof(bf16_rc) / sizeof(bf16_rc[0])));

    // cuBLAS attention (flash 0): the (L, B, H, T, T) probabilities and the full-matrix scratch instead.
    o = opts(MEMPLAN_FP32, 0, 0, 0);
    const size_t att = 2 * 2 * 4 * 8 * 8 * 4;                                        // 4096
    const size_t scratch = (3 * 16 * 64 + 4 * 16 * 32 + 2 * 2 * 8 * 8) * 4;          // 20992
    CHECK_EQ_INT(memplan_acts_bytes(&c, &o),
                 sum(fp32_full, sizeof(fp32_full) / sizeof(fp32_full[0])) - 512 - 8448 + att + scratch);
    CHECK_EQ_INT(memplan_head_rows(100, 16), 16);
    CHECK_EQ_INT(memplan_head_rows(151936, 8192), MEMPLAN_HEAD_CHUNK_FLOATS / 151936);
    CHECK_EQ_INT(memplan_head_rows(10, 100000), MEMPLAN_HEAD_MAX_ROWS);
}

static void test_orderings(void) {
    ModelConfig c;   // Qwen2.5-1.5B's shape
    memset(&c, 0, sizeof(c));
    c.vocab_size = 151936; c.hidden_size = 1536; c.intermediate_size = 8960; c.num_layers = 28;
    c.num_heads = 12; c.num_kv_heads = 2; c.head_dim = 128;
    for (int p = 0; p <= 1; p++) {
        MemPlanOpts full = opts((MemPlanPrecision)p, 0, 1, 0), rc = opts((MemPlanPrecision)p, 1, 1, 0),
                    ev = opts((MemPlanPrecision)p, 0, 1, 1);
        full.micro_batch = rc.micro_batch = ev.micro_batch = 1;
        full.seq_len = rc.seq_len = ev.seq_len = 4096;
        const size_t bf = memplan_acts_bytes(&c, &full), br = memplan_acts_bytes(&c, &rc), be = memplan_acts_bytes(&c, &ev);
        printf("1.5B T 4096 %s: acts full %.2f GiB, recompute %.2f GiB, eval %.2f GiB\n", p ? "bf16" : "fp32",
               bf / 1073741824.0, br / 1073741824.0, be / 1073741824.0);
        CHECK(br < bf);
        CHECK(be < br);
        MemPlan plan;
        full.nranks = 8;
        memplan_train(&c, 1543714304, &full, &plan);
        CHECK_EQ_INT(plan.acts, plan.acts_full);
        CHECK_EQ_INT(plan.total, plan.weights + plan.master + plan.grads + plan.adam + plan.acts + plan.reserve);
        MemPlan z1;
        full.zero_stage = 1;
        memplan_train(&c, 1543714304, &full, &z1);
        CHECK(z1.adam < plan.adam);
        CHECK(z1.grads >= plan.grads);   // padded to 8 equal blocks
        CHECK(p == 0 ? z1.master == 0 : z1.master < z1.weights * 2);
    }
    MemPlanOpts a = opts(MEMPLAN_FP32, 0, 1, 0), b = opts(MEMPLAN_BF16, 0, 1, 0);
    ModelConfig s;
    small_config(&s);
    CHECK(memplan_acts_bytes(&s, &b) < memplan_acts_bytes(&s, &a));
}

static void test_zero_shards(void) {
    static const size_t ns[] = {0, 1, 63, 64, 65, 1000, 4097, 123457, 1543714304};
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        const size_t n = ns[k];
        for (int R = 1; R <= 9; R++) {
            size_t next = 0, block0 = 0, cap0 = 0;
            int ok = 1;
            for (int r = 0; r < R; r++) {
                size_t off, len, block, cap;
                memplan_zero_shard(n, R, r, &off, &len, &block, &cap);
                if (r == 0) { block0 = block; cap0 = cap; }
                ok &= block == block0 && cap == cap0;                       // the same blocks on every rank
                ok &= block % MEMPLAN_ZERO_BLOCK_ALIGN == 0 && cap == block * (size_t)R && cap >= n;
                ok &= off == next && len <= block;                          // contiguous, in rank order
                ok &= len == block || off + len == n;                       // short only at the end
                next = off + len;
            }
            CHECK_MSG(ok && next == n, "n %zu, %d ranks: shards do not tile [0, n) (end %zu)", n, R, next);
        }
    }
}

int main(void) {
    test_slab_by_hand();
    test_orderings();
    test_zero_shards();
    return tests_done();
}
