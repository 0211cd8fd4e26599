// Rollout generation: turns assignments (proto/wire.h WireAssign) into finished groups (WireGroup)
// with the KV-cache engine (common/engine/infer.h), the verifiers (common/tasks/verifier.h) and the quality flags
// (common/tasks/quality.h). No networking here: rollout/worker.c feeds it from the coordinator, tests feed
// it directly.
//
// Several assignments can be generated in one batch when their sampling settings agree
// (rollout_assign_compatible): each prompt is prefilled once and all G * n samples decode together.
// Sample i of prompt p is seeded with sampler_seed(assign.seed, assign.prompt_id, i) and the engine is
// batch invariant, so the tokens of a (seed, prompt id, sample index) never depend on what else was in
// the batch, on the worker, or on the number of threads.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/device.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"
#include "common/tasks/quality.h"
#include "common/engine/tokenizer.h"
#include "proto/wire.h"

typedef struct {
    int max_batch;         // samples decoded together (engine slots); a finished one's slot is refilled at once
                           // (on cuda, 0 = as many as gpu_memory_fraction allows)
    DeviceOpts device;     // cpu | cuda, fp32 | bf16, gpu memory fraction (common/engine/device.h)
    int send_entropies;    // 1: fill WireResponse.entropies
    int zero_one_reward;   // 0: +1 / -1 (paper), 1: 1 / 0
    QualityParams quality;
} RolloutGenOpts;

void rollout_gen_opts_default(RolloutGenOpts *o);   // max_batch 32, entropies on, +1/-1

// Seconds spent per phase, accumulated across calls.
typedef struct {
    double gen_s;     // prefill + decode (genloop_run)
    double score_s;   // detokenise + verifier + quality flags
    double weights_s; // installing new weights
    uint64_t tokens;  // sampled tokens
    uint64_t samples, groups, correct;
} RolloutTimers;

// The engine a worker keeps between rounds: the model (config + current weights), the tokenizer and
// the generation engine resized on demand: an Infer (cpu) or the GPU engine (cuda; first visible
// device, pin it with CUDA_VISIBLE_DEVICES). The host copy of the weights is kept in both cases (a
// resized GPU engine is loaded from it).
typedef struct {
    Model model;
    Tokenizer tok;
    Infer inf;
    int inf_ready, inf_batch, inf_seq;   // current engine capacity (Infer or GPU)
    void *gpu;                            // CudaGen (common/engine/cuda/cuda_gen_backend.h) when device is cuda
    int64_t version;                      // policy version of model.params (-1: none installed)
    int version_from_coordinator;         // 0: weights came from a local --model fallback
    RolloutGenOpts opts;
} RolloutEngine;

// Takes ownership of *m (its config, params and tokenizer text; m is zeroed). The tokenizer is the
// model's (tokenizer_from_model). version: the policy version of m's weights (-1 when they are placeholders).
// Returns 0, or -1 with err (unknown tokenizer, tokenizer larger than the vocabulary, device cuda
// without the CUDA backend or without a visible GPU).
int rollout_engine_init(RolloutEngine *e, Model *m, int64_t version, int from_coordinator,
                        const RolloutGenOpts *o, char *err, size_t errlen);
void rollout_engine_free(RolloutEngine *e);

// Installs a float32 parameter buffer (n floats, the model's layout). -1 with err when n differs.
int rollout_engine_set_weights(RolloutEngine *e, const float *w, size_t n, int64_t version, char *err, size_t errlen);
// Installs n bf16 values (a bf16 learner's broadcast), widened to fp32 exactly (common/core/bf16.h).
// -1 with err when n differs or a value is not finite (the old weights are kept).
int rollout_engine_set_weights_bf16(RolloutEngine *e, const uint16_t *w, size_t n, int64_t version, char *err, size_t errlen);
// Installs the weights of a model file (HF directory or native .h5). -1 with err when it cannot be
// read or its architecture differs from the engine's.
int rollout_engine_load_weights(RolloutEngine *e, const char *path, int64_t version, char *err, size_t errlen);

// 1 when a and b may share one batch: same sampling parameters, stop tokens and max_new_tokens.
int rollout_assign_compatible(const WireAssign *a, const WireAssign *b);

// The generation parameters of an assignment; every EOS id of the model (its tokenizer's eos_ids) is
// added to the stop tokens when the assignment does not list it (a response never continues past EOS). -1 with err when the
// assignment's settings cannot be used with this model.
int rollout_gen_params(const RolloutEngine *e, const WireAssign *a, GenParams *gp, char *err, size_t errlen);

// Generates the groups of n compatible assignments: out[j] (zeroed by the caller) gets
// a[j]->group_size responses, the prompt / lease ids and seed of a[j], and policy_version = the
// engine's version. Free each with wire_group_free. Returns 0, or -1 with err (the outputs are left
// empty) when an assignment is unusable (prompt too long, token outside the vocabulary, ...).
int rollout_generate(RolloutEngine *e, const WireAssign *const *a, int n, WireGroup *out, RolloutTimers *t,
                     char *err, size_t errlen);

// Streaming generation: groups start in free engine slots while earlier ones decode, and each is
// handed back as soon as its G samples are done (the worker's loop: rollout/worker.c).
typedef struct {
    void *ud;
    // The next assignment to start: 1 with *a set (valid until done is called for it), 0 when none is
    // ready now (asked again at the next step while a slot is free). It must use first's sampling
    // settings and a prompt of at most max_prompt tokens (what the engine was sized for).
    int (*next)(void *ud, int max_prompt, const WireAssign **a);
    // a's group: rc 0 with *g (the callee owns it: wire_group_free), or rc -1 with err (g empty): the
    // assignment cannot be generated (unknown verifier, token outside the vocabulary, numerical trouble).
    void (*done)(void *ud, const WireAssign *a, WireGroup *g, int rc, const char *err);
} RolloutFeed;

// Runs the feed until it has nothing ready and every started group is done; the engine is sized
// for first's settings: max_batch slots of max(max_prompt, first's prompt) + max_new_tokens positions
// (at least what it held; give the longest prompt the caller will hand out first). Returns 0, or -1
// with err when the engine cannot be set up (nothing was started).
int rollout_generate_stream(RolloutEngine *e, const WireAssign *first, int max_prompt, const RolloutFeed *feed,
                            RolloutTimers *t, char *err, size_t errlen);

// Scores one response text: reward, correct and the quality flags of *r (other fields untouched).
// An unknown verifier name is an error (-1, err says which names are known).
int rollout_score(const char *verifier, const char *gold, const char *text, size_t len, int zero_one_reward,
                  const QualityParams *qp, WireResponse *r, char *err, size_t errlen);
