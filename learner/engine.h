// The learner's training engine: the one seam between the trainer (trainer.c, sft.c) and the compute
// backend of trainer.device. cpu = the fp32 CPU engine (common/engine/forward.h, optim.h), whose calls
// these are one for one; cuda = the CUDA engine (common/engine/cuda/cuda_model.h) on this rank's GPU.
//
// Inputs and outputs of the passes are HOST arrays in both (tokens, targets, logp, entropy, dlogp, dent:
// (B, T)), so the loss runs on the host unchanged. The gradient buffer and the weights live where the
// engine computes (host or device): learner/comm.h moves them between ranks.
//
// The host Model holds the parameters the rest of the learner reads (checkpoints, weight publishing,
// validation). On cuda it is refreshed by engine_params_to_host / engine_state_to_host only.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/forward.h"
#include "common/engine/model.h"
#include "common/engine/optim.h"

typedef struct {
    int cuda;            // 0: CPU engine; 1: CUDA engine
    int bf16;            // cuda only: bf16 weights / activations, fp32 masters
    int recompute;       // cuda only: activation checkpointing
    int flash;           // cuda only: fused attention
    int allow_tf32;      // cuda only
    int device;          // cuda only: device ordinal
    size_t opt_off, opt_len;   // AdamW range of this rank (stage 0: 0, num_params)
    size_t capacity;     // floats of the gradient buffer (>= num_params: ZeRO-1 padding)
    int maxB, maxT;      // largest micro-batch
    int eval_only;       // 1: no training state (grads / Adam), forward-only passes
} EngineOpts;

typedef struct {
    EngineOpts o;
    Model *m;            // the policy on the host
    Model *ref;          // the frozen reference policy on the host, or NULL
    Acts acts;           // CPU engine: activations of the last forward
    void *cm, *cref;     // CUDA engine: CudaModel of the policy / of the reference (NULL when none)
    void *ca, *ca_eval;  // CUDA engine: CudaActs for training / for forward-only passes
} Engine;

// trainer.* keys -> options (device, range and capacity left for the caller: 0, num_params, num_params).
void engine_opts_from_config(EngineOpts *o, const char *device, const char *precision, int recompute, int flash,
                             int allow_tf32, size_t num_params, int maxB, int maxT);
// m must hold grads and Adam state on the CPU engine (model_alloc_train); on cuda the host's grads /
// Adam state, when present, are uploaded (the Adam range only). 0, or -1 with err.
int engine_init(Engine *e, Model *m, Model *ref, const EngineOpts *o, char *err, size_t errlen);
void engine_free(Engine *e);

// Forward + head of the policy with activations kept for engine_backward; entropy may be NULL.
void engine_forward_head(Engine *e, const int *tokens, const int *targets, int B, int T, float temperature,
                         float *logp, float *entropy);
// Forward-only log-probs of the policy (ref 0: pi_old recompute) or of the reference (ref 1). On the
// CPU engine it reuses the training activations: call it before engine_forward_head of the same
// micro-batch.
void engine_logp(Engine *e, int ref, const int *tokens, const int *targets, int B, int T, float temperature, float *logp);
// Gradients of the last engine_forward_head: dlogp (B, T) = dLoss/dlogp, dent (B, T) = dLoss/dH or
// NULL. Accumulates into the gradient buffer.
void engine_backward(Engine *e, const float *dlogp, const float *dent);

void engine_zero_grads(Engine *e);
// The gradient buffer (host or device pointer, engine_on_device tells) of o.capacity floats.
float *engine_grads(const Engine *e);
int engine_on_device(const Engine *e);
// Sum of squares of grads[off, off + n) in double, deterministic.
double engine_grad_sqnorm(const Engine *e, size_t off, size_t n);
// grads[off, off + n) *= factor.
void engine_scale_grads(Engine *e, size_t off, size_t n, float factor);
// One AdamW step (1-based step) on [off, off + n) of the parameters, inside this rank's optimizer range.
void engine_adamw(Engine *e, const AdamWConfig *c, float lr, long step, size_t off, size_t n);
// The compute weights (host or device) that the ranks exchange: fp32 params, or the bf16 copy on
// cuda with bf16; *elem_bytes per parameter.
void *engine_weights(const Engine *e, size_t *elem_bytes);
// FNV-1a of the compute weights, for the "ranks agree" debug check.
uint64_t engine_weights_checksum(const Engine *e);

// cuda: m->params from the device (bf16: exact fp32 masters of this rank's range, bf16 values widened
// elsewhere, so ZeRO-1 callers gather the masters). CPU: nothing to do.
void engine_params_to_host(Engine *e);
// cuda + bf16: the bf16 compute weights (num_params values) straight from the device into host, for the
// weight broadcast (half the bytes, no fp32 copy); returns 0. Otherwise -1 and host is untouched: the
// caller publishes m->params after engine_params_to_host.
int engine_weights_bf16(Engine *e, uint16_t *host);
// As engine_params_to_host, plus m->adam_m / adam_v of this rank's range (cuda).
void engine_state_to_host(Engine *e);
