// The memory plan of a learner config: per-GPU bytes of a training step (common/engine/memplan.h) for
// the config's model shape, micro-batch and sequence length, and the check that refuses a cuda run
// which cannot fit, naming the knobs that would make it fit. `learner --dry-run` and `rlvr plan` print
// it; the learner checks it at the start of every trainer.device=cuda run.
#pragma once
#include <stddef.h>
#include <stdio.h>

#include "common/config/config.h"
#include "common/engine/memplan.h"
#include "common/engine/model.h"

#define PLAN_GIB ((double)(1ull << 30))

typedef struct {
    ModelConfig mc;
    size_t num_params;
    char source[1100];   // where the shape came from (config.json, a model file, model.init.*)
    MemPlanOpts o;
    MemPlan p;
    size_t ref;          // the frozen reference policy's weights (actor.use_kl_loss), else 0
    size_t total;        // what the learner's engine allocates: p.total + the forward-only slab + ref
    size_t gpu_bytes;    // memory the plan is checked against (0: unknown)
    char gpu_from[64];   // "trainer.gpu_memory_gib", "device", ""
} LearnerPlan;

// Parameters of a model of shape cfg (the tensor table of model_init, without allocating it).
size_t plan_num_params(const ModelConfig *cfg);
// The model shape of the config: model.path's config.json (a directory holding one, or the file
// itself), else the model file's header (loaded), else model.init.*. 0, or -1 with err.
int plan_model_shape(const RlvrConfig *c, ModelConfig *mc, size_t *num_params, char *source, size_t srclen,
                     char *err, size_t errlen);
// MemPlanOpts of the config's trainer.* / actor.* / data.* keys for nranks ranks.
void plan_opts_from_config(const RlvrConfig *c, int nranks, MemPlanOpts *o);
// The whole plan for nranks ranks (shape read as plan_model_shape says; gpu_bytes from
// trainer.gpu_memory_gib, 0 when unset). 0, or -1 with err.
int plan_make(const RlvrConfig *c, int nranks, LearnerPlan *lp, char *err, size_t errlen);
// The plan of a model already loaded (the learner's start-up check).
void plan_from_model(const RlvrConfig *c, const ModelConfig *mc, size_t num_params, int nranks, LearnerPlan *lp);
// trainer.device=cuda start-up: the plan against trainer.gpu_memory_gib, else the total memory of
// `device`, divided among the `sharing` ranks that use the device; 0 when it fits, else -1 with err
// naming the knobs (plan_check_fit).
int plan_check_device(const RlvrConfig *c, const ModelConfig *mc, size_t num_params, int nranks, int device,
                      int sharing, char *err, size_t errlen);
// A table of the plan's buffers, GiB per GPU.
void plan_print(FILE *f, const LearnerPlan *lp);
// 0 when the plan's total fits in lp->gpu_bytes (or gpu_bytes is 0: unknown), else -1 with err naming
// how much is missing and the knobs that help, the one that helps most first.
int plan_check_fit(const LearnerPlan *lp, char *err, size_t errlen);
