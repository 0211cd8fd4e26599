// The memory plan of a learner config; see plan.h.
#include "learner/plan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/core/check.h"
#include "common/engine/tokenizer.h"
#include "common/io/hf_config.h"
#include "common/io/model_io.h"

#ifdef RLVR_CUDA
#include "common/engine/cuda/cuda_ops.h"
#endif

size_t plan_num_params(const ModelConfig *cfg) {
    const size_t C = (size_t)cfg->hidden_size, V = (size_t)cfg->vocab_size, I = (size_t)cfg->intermediate_size;
    const size_t QD = (size_t)cfg->num_heads * cfg->head_dim, KD = (size_t)cfg->num_kv_heads * cfg->head_dim;
    size_t layer = C + QD * C + 2 * KD * C + C * QD + C + 3 * I * C;
    if (cfg->qkv_bias) layer += QD + 2 * KD;
    return V * C + (size_t)cfg->num_layers * layer + C + (cfg->tie_word_embeddings ? 0 : V * C);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

// model.init.*: the learner's random-init shape (the built-in character tokenizer's vocabulary).
static void init_shape(const RlvrConfig *c, ModelConfig *mc) {
    model_config_default(mc);
    mc->arch = ARCH_QWEN2;
    mc->vocab_size = CHAR_TOK_VOCAB;
    mc->hidden_size = (int)c->model_init_hidden_size;
    mc->intermediate_size = (int)c->model_init_intermediate_size;
    mc->num_layers = (int)c->model_init_num_layers;
    mc->num_heads = (int)c->model_init_num_heads;
    mc->num_kv_heads = (int)c->model_init_num_kv_heads;
    mc->head_dim = mc->num_heads > 0 ? mc->hidden_size / mc->num_heads : 0;
    mc->max_position_embeddings = (int)c->model_init_max_position_embeddings;
    mc->qkv_bias = c->model_init_qkv_bias;
    mc->tie_word_embeddings = c->model_init_tie_word_embeddings;
}

int plan_model_shape(const RlvrConfig *c, ModelConfig *mc, size_t *num_params, char *source, size_t srclen,
                     char *err, size_t errlen) {
    const char *path = c->model_path;
    if (!path[0]) {
        init_shape(c, mc);
        snprintf(source, srclen, "model.init.*");
    } else if (ends_with(path, ".json") || is_dir(path)) {
        // a config.json is enough: no weights are read (planning a 7B run on a login node)
        char cj[CONFIG_STR_MAX + 16];
        if (is_dir(path)) snprintf(cj, sizeof cj, "%s/config.json", path);
        else snprintf(cj, sizeof cj, "%s", path);
        if (hf_config_load(cj, mc, err, errlen) != 0) return -1;
        snprintf(source, srclen, "%s", cj);
    } else {
        Model m;
        if (model_load(path, &m, err, errlen) != 0) return -1;
        *mc = m.cfg;
        model_free(&m);
        snprintf(source, srclen, "%s", path);
    }
    *num_params = plan_num_params(mc);
    return 0;
}

void plan_opts_from_config(const RlvrConfig *c, int nranks, MemPlanOpts *o) {
    memset(o, 0, sizeof *o);
    o->precision = !strcmp(c->trainer_precision, "bf16") ? MEMPLAN_BF16 : MEMPLAN_FP32;
    o->recompute = c->trainer_activation_checkpointing;
    o->flash = c->trainer_flash_attention;
    o->eval = 0;
    o->zero_stage = (int)c->trainer_zero_stage;
    o->nranks = nranks > 0 ? nranks : 1;
    o->micro_batch = (int)c->actor_ppo_micro_batch_size_per_gpu;
    o->seq_len = (int)(c->data_max_prompt_length + c->data_max_response_length);
}

int plan_make(const RlvrConfig *c, int nranks, LearnerPlan *lp, char *err, size_t errlen) {
    ModelConfig mc;
    size_t n = 0;
    char source[sizeof lp->source];
    if (plan_model_shape(c, &mc, &n, source, sizeof source, err, errlen) != 0) return -1;
    plan_from_model(c, &mc, n, nranks, lp);
    snprintf(lp->source, sizeof lp->source, "%s", source);
    return 0;
}

void plan_from_model(const RlvrConfig *c, const ModelConfig *mc, size_t num_params, int nranks, LearnerPlan *lp) {
    memset(lp, 0, sizeof *lp);
    lp->mc = *mc;
    lp->num_params = num_params;
    snprintf(lp->source, sizeof lp->source, "%s", c->model_path[0] ? c->model_path : "model.init.*");
    plan_opts_from_config(c, nranks, &lp->o);
    memplan_train(&lp->mc, lp->num_params, &lp->o, &lp->p);
    lp->ref = c->actor_use_kl_loss ? lp->p.weights : 0;
    // the engine keeps the forward-only slab (pi_old / reference passes) next to the training one
    lp->total = lp->p.total + lp->p.acts_eval + lp->ref;
    if (c->trainer_gpu_memory_gib > 0) {
        lp->gpu_bytes = (size_t)(c->trainer_gpu_memory_gib * PLAN_GIB);
        snprintf(lp->gpu_from, sizeof lp->gpu_from, "trainer.gpu_memory_gib");
    }
}

int plan_check_device(const RlvrConfig *c, const ModelConfig *mc, size_t num_params, int nranks, int device,
                      int sharing, char *err, size_t errlen) {
    LearnerPlan lp;
    plan_from_model(c, mc, num_params, nranks, &lp);
#ifdef RLVR_CUDA
    if (lp.gpu_bytes == 0) {
        size_t free_b = 0, total_b = 0;
        cuda_set_device(device);
        cuda_mem_info(&free_b, &total_b);
        lp.gpu_bytes = total_b;
        snprintf(lp.gpu_from, sizeof lp.gpu_from, "device %d", device);
    }
#else
    (void)device;
#endif
    if (sharing > 1) {   // ranks on one GPU split its memory
        lp.gpu_bytes /= (size_t)sharing;
        size_t k = strlen(lp.gpu_from);
        snprintf(lp.gpu_from + k, sizeof lp.gpu_from - k, ", shared by %d ranks", sharing);
    }
    return plan_check_fit(&lp, err, errlen);
}

static double gib(size_t b) { return (double)b / PLAN_GIB; }

void plan_print(FILE *f, const LearnerPlan *lp) {
    const MemPlanOpts *o = &lp->o;
    const ModelConfig *m = &lp->mc;
    const MemPlan *p = &lp->p;
    fprintf(f, "memory plan (per GPU), model from %s\n", lp->source);
    const int billions = lp->num_params >= 100000000u;   // 0.49B, but 0.46M rather than 0.00B
    fprintf(f, "  shape: %.2f%s parameters, hidden %d, %d layers, %d heads, %d KV heads, MLP %d, vocab %d, %s\n",
            (double)lp->num_params / (billions ? 1e9 : 1e6), billions ? "B" : "M", m->hidden_size, m->num_layers, m->num_heads, m->num_kv_heads, m->intermediate_size,
            m->vocab_size, m->tie_word_embeddings ? "tied" : "untied");
    fprintf(f, "  step:  micro-batch %d x T %d, %s, ZeRO stage %d over %d rank%s, recompute %s, flash attention %s\n",
            o->micro_batch, o->seq_len, o->precision == MEMPLAN_BF16 ? "bf16" : "fp32", o->zero_stage, o->nranks,
            o->nranks > 1 ? "s" : "", o->recompute ? "on" : "off", o->flash ? "on" : "off");
    fprintf(f, "  %-38s %10.2f GiB\n", "weights", gib(p->weights));
    fprintf(f, "  %-38s %10.2f GiB\n", "fp32 master weights", gib(p->master));
    fprintf(f, "  %-38s %10.2f GiB\n", "gradients (fp32)", gib(p->grads));
    fprintf(f, "  %-38s %10.2f GiB\n", "Adam m + v (fp32)", gib(p->adam));
    fprintf(f, "  %-38s %10.2f GiB%s\n", "activations, recompute on", gib(p->acts_recompute), o->recompute ? "   <- used" : "");
    fprintf(f, "  %-38s %10.2f GiB%s\n", "activations, recompute off", gib(p->acts_full), o->recompute ? "" : "   <- used");
    fprintf(f, "  %-38s %10.2f GiB\n", "forward-only pass (old / ref)", gib(p->acts_eval));
    if (lp->ref) fprintf(f, "  %-38s %10.2f GiB\n", "reference policy (actor.use_kl_loss)", gib(lp->ref));
    fprintf(f, "  %-38s %10.2f GiB\n", "runtime reserve (CUDA, cuBLAS, NCCL)", gib(p->reserve));
    fprintf(f, "  %-38s %10.2f GiB\n", "total", gib(lp->total));
    if (lp->gpu_bytes > 0)
        fprintf(f, "  GPU memory %.2f GiB (%s): %s\n", gib(lp->gpu_bytes), lp->gpu_from,
                lp->total <= lp->gpu_bytes ? "fits" : "DOES NOT FIT");
    else
        fprintf(f, "  GPU memory unknown (set trainer.gpu_memory_gib to check the plan against it)\n");
}

// One knob of the plan turned: its total, and whether that fits.
typedef struct {
    const char *what;
    size_t total;
} Knob;

static size_t total_with(const LearnerPlan *lp, const MemPlanOpts *o) {
    MemPlan p;
    memplan_train(&lp->mc, lp->num_params, o, &p);
    return p.total + p.acts_eval + (lp->ref ? p.weights : 0);
}

int plan_check_fit(const LearnerPlan *lp, char *err, size_t errlen) {
    if (lp->gpu_bytes == 0 || lp->total <= lp->gpu_bytes) return 0;
    Knob k[4];
    int nk = 0;
    MemPlanOpts o;
    char micro[96];
    if (!lp->o.recompute) {
        o = lp->o; o.recompute = 1;
        k[nk++] = (Knob){"trainer.activation_checkpointing=true", total_with(lp, &o)};
    }
    if (lp->o.micro_batch > 1) {
        o = lp->o; o.micro_batch = lp->o.micro_batch / 2;
        snprintf(micro, sizeof micro, "actor.ppo_micro_batch_size_per_gpu=%d", o.micro_batch);
        k[nk++] = (Knob){micro, total_with(lp, &o)};
    }
    if (lp->o.zero_stage == 0 || lp->o.nranks < 8) {
        o = lp->o; o.zero_stage = 1; o.nranks = lp->o.nranks < 8 ? 8 : lp->o.nranks;
        k[nk++] = (Knob){lp->o.zero_stage == 0 ? "trainer.zero_stage=1 (figure for 8 ranks)" : "more ranks (figure for 8)",
                         total_with(lp, &o)};
    }
    if (lp->o.precision == MEMPLAN_FP32) {
        o = lp->o; o.precision = MEMPLAN_BF16;
        k[nk++] = (Knob){"trainer.precision=bf16", total_with(lp, &o)};
    }
    // the knob that saves most first
    for (int i = 1; i < nk; i++)
        for (int j = i; j > 0 && k[j].total < k[j - 1].total; j--) { Knob x = k[j]; k[j] = k[j - 1]; k[j - 1] = x; }
    rlvr_err(err, errlen, "the memory plan needs %.2f GiB per GPU but the GPU has %.2f GiB (%s); ", gib(lp->total),
             gib(lp->gpu_bytes), lp->gpu_from[0] ? lp->gpu_from : "device");
    size_t used = strlen(err);
    if (nk == 0) {
        snprintf(err + used, errlen - used, "every memory knob is already turned: use GPUs with more memory or a shorter "
                 "data.max_response_length (rlvr plan prints the breakdown)");
        return -1;
    }
    used += (size_t)snprintf(err + used, errlen > used ? errlen - used : 0, "turn one of:");
    for (int i = 0; i < nk && used < errlen; i++)
        used += (size_t)snprintf(err + used, errlen - used, "%s%s (%.2f GiB%s)", i ? "; " : " ", k[i].what, gib(k[i].total),
                                 k[i].total <= lp->gpu_bytes ? ", fits" : "");
    if (used < errlen)
        snprintf(err + used, errlen - used, "%s (rlvr plan prints the breakdown)",
                 k[0].total > lp->gpu_bytes ? "; none fits alone: combine them" : "");
    return -1;
}
