// Device memory of a training step; see memplan.h.
#include "common/engine/memplan.h"

static size_t align_up(size_t bytes) { return (bytes + MEMPLAN_ALIGN - 1) / MEMPLAN_ALIGN * MEMPLAN_ALIGN; }

size_t memplan_head_rows(size_t V, size_t N) {
    size_t r = MEMPLAN_HEAD_CHUNK_FLOATS / (V ? V : 1);
    if (r > MEMPLAN_HEAD_MAX_ROWS) r = MEMPLAN_HEAD_MAX_ROWS;
    if (r > N) r = N;
    if (r < 1) r = 1;
    return r;
}

size_t memplan_acts_bytes(const ModelConfig *cfg, const MemPlanOpts *o) {
    MEMPLAN_ACTS_DIMS(cfg, o)
    size_t total = 0;
#define MEMPLAN_ADD(name, count, elem) total += align_up((size_t)(count) * (size_t)(elem));
    MEMPLAN_ACTS_FIELDS(MEMPLAN_ADD)
#undef MEMPLAN_ADD
    return total;
}

void memplan_zero_shard(size_t n, int nranks, int rank, size_t *off, size_t *len, size_t *block,
                        size_t *capacity) {
    size_t R = nranks > 0 ? (size_t)nranks : 1;
    size_t b = (n + R - 1) / R;
    b = (b + MEMPLAN_ZERO_BLOCK_ALIGN - 1) / MEMPLAN_ZERO_BLOCK_ALIGN * MEMPLAN_ZERO_BLOCK_ALIGN;
    size_t o = (size_t)rank * b;
    *off = o < n ? o : n;
    *len = o < n ? (n - o < b ? n - o : b) : 0;
    *block = b;
    *capacity = b * R;
}

void memplan_train(const ModelConfig *cfg, size_t num_params, const MemPlanOpts *o, MemPlan *p) {
    size_t off, len, block, cap;
    int zero = o->zero_stage >= 1 && o->nranks > 1;
    memplan_zero_shard(num_params, zero ? o->nranks : 1, 0, &off, &len, &block, &cap);
    const int bf16 = o->precision == MEMPLAN_BF16;
    p->weights = align_up(num_params * (bf16 ? 2 : 4));
    p->master = bf16 ? align_up(len * 4) : 0;
    p->grads = align_up(cap * 4);
    p->adam = 2 * align_up(len * 4);
    MemPlanOpts t = *o;
    t.eval = 0;
    t.recompute = 1; p->acts_recompute = memplan_acts_bytes(cfg, &t);
    t.recompute = 0; p->acts_full = memplan_acts_bytes(cfg, &t);
    t.eval = 1; p->acts_eval = memplan_acts_bytes(cfg, &t);
    p->acts = o->recompute ? p->acts_recompute : p->acts_full;
    p->reserve = MEMPLAN_RUNTIME_RESERVE;
    p->total = p->weights + p->master + p->grads + p->adam + p->acts + p->reserve;
}
