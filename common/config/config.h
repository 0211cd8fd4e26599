// Experiment configuration: one typed schema, YAML files, `key.sub=value` command-line overrides.
//
// Every key is declared ONCE, in RLVR_CONFIG_KEYS below. That list generates both the RlvrConfig
// struct the programs read (field name = dotted key with '.' replaced by '_', e.g. actor.optim.lr ->
// cfg.actor_optim_lr) and the schema table the loader, the validator, the printer and `--help-config`
// use, so key names and fields cannot drift apart.
//
// Typical use in a program:
//
//     RlvrConfig cfg;
//     config_defaults(&cfg);
//     if (config_parse_args(&cfg, argc - 1, argv + 1, NULL, NULL, err, sizeof(err)) != 0) { ...print err, exit 2 }
//     config_print(&cfg, stdout);                 // the resolved config, all keys, sorted, YAML
//     char *yaml = config_to_yaml(&cfg);          // for the checkpoint; config_load_string() reads it back
//
// Value types (see docs/configuration.md):
//   INT      int64_t                    512, -1
//   FLOAT    double                     1e-6, 0.28
//   BOOL     bool                       true / false (also yes/no/on/off/1/0)
//   STR      char[CONFIG_STR_MAX]       any text; "" means unset; on the command line the text is taken literally
//   OPTFLOAT CfgOptFloat {set, v}       3.0 or null
//   PAIR     CfgPair {set=true, v[2]}   [0.9, 0.999]
//   OPTPAIR  CfgPair {set, v[2]}        [0.8, 1.2] or null
//   WORDS    char[CONFIG_STR_MAX]       a list of words [console, jsonl]; held as "console,jsonl"
// A constraint is either a list of allowed words "a|b|c" (STR, and each element of WORDS) or an interval "[lo,hi]", "(lo,)" ...
// (numbers; an empty side is unbounded; for pairs it applies to each element).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR_MAX 1024
// The named prompt templates of data.prompt_template (common/tasks/tasks.h renders them); any other
// value must be text containing {prompt}.
#define PROMPT_TEMPLATE_NAMES "default, plain, dapo, chatml, qwen-math"

typedef struct { bool set; double v; } CfgOptFloat;      // set == false: null
typedef struct { bool set; double v[2]; } CfgPair;       // set == false: null (OPTPAIR only)

// X(field, "dotted.key", TYPE, "default", "constraint", "help")
#define RLVR_CONFIG_KEYS(X) \
    /* ---- trainer ---- */ \
    X(trainer_mode, "trainer.mode", STR, "grpo", "grpo|sft", "what the learner trains: RL with GRPO, or supervised fine-tuning") \
    X(trainer_device, "trainer.device", STR, "cpu", "cpu|cuda", "compute backend of the learner: the CPU engine, or one CUDA GPU per rank (chosen by local rank; docs/cuda.md)") \
    X(trainer_precision, "trainer.precision", STR, "fp32", "fp32|bf16", "learner arithmetic: fp32 everywhere, or bf16 weights and activations with fp32 master weights, Adam moments and log-prob head (cuda only)") \
    X(trainer_zero_stage, "trainer.zero_stage", INT, "0", "[0,1]", "0: every rank holds the whole AdamW state; 1: AdamW state (and bf16 masters) sharded over the ranks (ZeRO-1)") \
    X(trainer_activation_checkpointing, "trainer.activation_checkpointing", BOOL, "false", "", "cuda: keep each layer's input only and recompute the layer in backward (memory for time)") \
    X(trainer_flash_attention, "trainer.flash_attention", BOOL, "true", "", "cuda: fused causal attention that never stores the T x T matrix") \
    X(trainer_allow_tf32, "trainer.allow_tf32", BOOL, "false", "", "cuda, fp32 precision: let cuBLAS use TF32 tensor cores (faster, ~1e-3 relative error)") \
    X(trainer_gpu_memory_gib, "trainer.gpu_memory_gib", FLOAT, "0", "[0,)", "GPU memory the memory plan checks against; 0: ask the device (set it to plan on a machine without the GPU)") \
    X(trainer_total_training_steps, "trainer.total_training_steps", INT, "100", "[1,)", "training steps (one step = one batch of data.train_batch_size prompts)") \
    X(trainer_save_freq, "trainer.save_freq", INT, "50", "[0,)", "checkpoint every N steps; 0: only the final one (the last step is always saved)") \
    X(trainer_max_keep_ckpt, "trainer.max_keep_ckpt", INT, "3", "[1,)", "checkpoints kept in RUN_DIR/checkpoints (older complete ones are deleted)") \
    X(trainer_run_dir, "trainer.run_dir", STR, "runs/default", "", "run directory: checkpoints/, logs/, metrics.jsonl, rendezvous.json") \
    X(trainer_seed, "trainer.seed", INT, "1", "[0,)", "run seed; every prompt and sample derives its own RNG stream from it") \
    X(trainer_logger, "trainer.logger", WORDS, "[console, jsonl]", "console|jsonl|tensorboard", "where the per-step metrics go: the status line, RUN_DIR/metrics.jsonl, TensorBoard event files in RUN_DIR/tensorboard/ (verl's key)") \
    X(trainer_log_freq, "trainer.log_freq", INT, "1", "[1,)", "print metrics every N steps (all steps go to metrics.jsonl)") \
    X(trainer_test_freq, "trainer.test_freq", INT, "0", "[0,)", "validate on data.val_files (eval.*) every N steps and at the last; 0: never") \
    X(trainer_val_before_train, "trainer.val_before_train", BOOL, "false", "", "also validate the initial policy (with trainer.test_freq > 0)") \
    X(trainer_resume, "trainer.resume", BOOL, "false", "", "resume from the newest complete checkpoint in RUN_DIR/checkpoints (--resume)") \
    X(trainer_stage_detector_window, "trainer.stage_detector.window", INT, "20", "[2,)", "steps in the moving window of the rising/plateau detector") \
    X(trainer_stage_detector_rise_threshold, "trainer.stage_detector.rise_threshold", FLOAT, "0.002", "[0,)", "accuracy slope per step above which training counts as rising") \
    X(trainer_stage_detector_entropy_threshold, "trainer.stage_detector.entropy_threshold", FLOAT, "0.05", "[0,)", "relative entropy change over a window below which entropy counts as settled") \
    X(trainer_stage_detector_min_step, "trainer.stage_detector.min_step", INT, "50", "[0,)", "no plateau is declared before this step") \
    /* ---- data ---- */ \
    X(data_train_files, "data.train_files", STR, "arith", "", "\"arith\" for the synthetic arithmetic task, or a JSON Lines file of {prompt, answer}") \
    X(data_val_files, "data.val_files", STR, "", "", "validation set: \"arith\" (held-out problems), a .jsonl path, or \"\" for none") \
    X(data_train_batch_size, "data.train_batch_size", INT, "8", "[1,)", "prompts per training step (each gets rollout.n responses)") \
    X(data_max_prompt_length, "data.max_prompt_length", INT, "512", "[1,)", "prompts longer than this many tokens are skipped") \
    X(data_max_response_length, "data.max_response_length", INT, "1024", "[1,)", "L_max: response tokens at most, EOS included") \
    X(data_prompt_template, "data.prompt_template", STR, "{prompt}", "", "text sent to the model, {prompt} replaced by the problem; or a template name: default (problem + the paper's instruction), plain, dapo, chatml, qwen-math (docs/tasks.md); with data.apply_chat_template: the user message") \
    X(data_apply_chat_template, "data.apply_chat_template", BOOL, "false", "", "put each prompt through the model's chat template as one user message, with the assistant header after it") \
    X(data_chat_template, "data.chat_template", STR, "", "|qwen2.5|smollm2|llama3|llama3.1|llama3.2", "\"\": the renderer recognised from the model's chat template; a name forces that built-in one") \
    X(data_shuffle, "data.shuffle", BOOL, "true", "", "shuffle the training prompts every epoch (seeded by trainer.seed)") \
    X(data_arith_digits, "data.arith.digits", INT, "2", "[1,9]", "arith task: digits per operand") \
    X(data_arith_ops, "data.arith.ops", STR, "+-", "", "arith task: operators to draw from (any of + - *)") \
    X(data_arith_steps, "data.arith.steps", INT, "1", "[1,8]", "arith task: operations per problem") \
    X(data_arith_heldout_size, "data.arith.heldout_size", INT, "200", "[0,)", "arith task: problems held out for validation") \
    /* ---- model ---- */ \
    X(model_path, "model.path", STR, "", "", "initial policy: HF directory or native .h5 file; \"\" = random init from model.init.*") \
    X(model_init_hidden_size, "model.init.hidden_size", INT, "64", "[2,)", "random init (char tokenizer): hidden size C") \
    X(model_init_intermediate_size, "model.init.intermediate_size", INT, "192", "[1,)", "random init: SwiGLU inner width") \
    X(model_init_num_layers, "model.init.num_layers", INT, "2", "[1,256]", "random init: transformer layers") \
    X(model_init_num_heads, "model.init.num_heads", INT, "4", "[1,)", "random init: query heads") \
    X(model_init_num_kv_heads, "model.init.num_kv_heads", INT, "2", "[1,)", "random init: key/value heads (divides num_heads)") \
    X(model_init_max_position_embeddings, "model.init.max_position_embeddings", INT, "256", "[1,)", "random init: longest sequence") \
    X(model_init_rope_theta, "model.init.rope_theta", FLOAT, "10000", "(0,)", "random init: RoPE base") \
    X(model_init_qkv_bias, "model.init.qkv_bias", BOOL, "true", "", "random init: Qwen2-style q/k/v biases") \
    X(model_init_tie_word_embeddings, "model.init.tie_word_embeddings", BOOL, "true", "", "random init: lm_head shares the embedding") \
    X(model_init_std, "model.init.std", FLOAT, "0.02", "(0,)", "random init: weight standard deviation") \
    /* ---- actor (policy update) ---- */ \
    X(actor_ppo_mini_batch_size, "actor.ppo_mini_batch_size", INT, "4", "[1,)", "prompts per optimizer step (x rollout.n responses); divides data.train_batch_size") \
    X(actor_ppo_micro_batch_size_per_gpu, "actor.ppo_micro_batch_size_per_gpu", INT, "8", "[1,)", "sequences per forward/backward pass on one rank (gradient accumulation)") \
    X(actor_ppo_epochs, "actor.ppo_epochs", INT, "1", "[1,)", "passes over each batch") \
    X(actor_clip_ratio_low, "actor.clip_ratio_low", FLOAT, "0.2", "[0,1]", "eps_low: ratio clipped below at 1 - eps_low") \
    X(actor_clip_ratio_high, "actor.clip_ratio_high", FLOAT, "0.28", "[0,)", "eps_high (DAPO clip-higher): ratio clipped above at 1 + eps_high") \
    X(actor_clip_ratio_c, "actor.clip_ratio_c", OPTFLOAT, "3.0", "(1,)", "dual clip: for A < 0 the token loss is capped at c*|A|; null disables") \
    X(actor_loss_agg_mode, "actor.loss_agg_mode", STR, "token-mean", "token-mean|seq-mean-token-sum|seq-mean-token-mean", "how token losses become the batch loss (token-mean: over all tokens of all ranks)") \
    X(actor_entropy_coeff, "actor.entropy_coeff", FLOAT, "0", "", "entropy bonus coefficient (the paper: 0)") \
    X(actor_use_kl_loss, "actor.use_kl_loss", BOOL, "false", "", "add a KL penalty against the frozen initial policy") \
    X(actor_kl_loss_coef, "actor.kl_loss_coef", FLOAT, "0.001", "[0,)", "beta of the KL penalty") \
    X(actor_kl_loss_type, "actor.kl_loss_type", STR, "low_var_kl", "k1|abs|k2|k3|low_var_kl", "KL estimator (low_var_kl = k3 clamped to [-10, 10])") \
    X(actor_grad_clip, "actor.grad_clip", FLOAT, "1.0", "[0,)", "global gradient-norm clip; 0 disables") \
    X(actor_recompute_old_log_prob, "actor.recompute_old_log_prob", BOOL, "false", "", "recompute pi_old on the learner instead of using the workers' log-probs") \
    X(actor_optim_lr, "actor.optim.lr", FLOAT, "1e-6", "(0,)", "AdamW peak learning rate") \
    X(actor_optim_weight_decay, "actor.optim.weight_decay", FLOAT, "0.1", "[0,)", "AdamW decoupled weight decay") \
    X(actor_optim_betas, "actor.optim.betas", PAIR, "[0.9, 0.999]", "[0,1)", "AdamW beta1, beta2") \
    X(actor_optim_eps, "actor.optim.eps", FLOAT, "1e-8", "(0,)", "AdamW epsilon") \
    X(actor_optim_warmup_steps, "actor.optim.warmup_steps", INT, "10", "[0,)", "linear warm-up, in optimizer steps") \
    X(actor_optim_lr_scheduler, "actor.optim.lr_scheduler", STR, "constant", "constant|cosine", "learning-rate schedule after warm-up") \
    X(actor_optim_min_lr_ratio, "actor.optim.min_lr_ratio", FLOAT, "0", "[0,1]", "cosine: final lr as a fraction of the peak") \
    /* ---- rollout ---- */ \
    X(rollout_n, "rollout.n", INT, "8", "[1,)", "G: responses sampled per prompt (one group)") \
    X(rollout_temperature, "rollout.temperature", FLOAT, "1.0", "(0,)", "sampling temperature of training rollouts (GRPO needs G different samples: no greedy)") \
    X(rollout_top_p, "rollout.top_p", FLOAT, "1.0", "(0,1]", "nucleus sampling mass") \
    X(rollout_top_k, "rollout.top_k", INT, "-1", "[-1,)", "top-k sampling; -1 disables") \
    X(rollout_max_new_tokens, "rollout.max_new_tokens", INT, "0", "[0,)", "response tokens at most; 0 = data.max_response_length") \
    X(rollout_max_staleness, "rollout.max_staleness", INT, "0", "[0,)", "accept groups generated up to this many policy versions old; 0 = on-policy") \
    X(rollout_workers, "rollout.workers", INT, "2", "[0,)", "rollout workers the launch scripts start") \
    X(rollout_credits, "rollout.credits", INT, "2", "[1,)", "prompt groups a worker may hold at once (the coordinator allows up to 4x; a worker without --credits asks for ceil(max_batch / n) + 1)") \
    X(rollout_max_batch, "rollout.max_batch", INT, "32", "[0,)", "a worker's engine slots (samples decoded together; a finished one is refilled at once); 0 = as many as gpu_memory_fraction allows (cuda only)") \
    X(rollout_device, "rollout.device", STR, "cpu", "cpu|cuda", "where a worker generates; cuda needs a build with -DRLVR_CUDA=ON and a visible GPU") \
    X(rollout_precision, "rollout.precision", STR, "fp32", "fp32|bf16", "a cuda worker's weights, KV cache and activations (bf16: fp32 accumulation and sampling); cpu is fp32") \
    X(rollout_gpu_memory_fraction, "rollout.gpu_memory_fraction", FLOAT, "0.9", "(0,1]", "share of the GPU's memory a cuda worker takes (weights + KV cache + work); workers sharing a GPU split it") \
    /* ---- algorithm ---- */ \
    X(algorithm_adv_estimator, "algorithm.adv_estimator", STR, "grpo", "grpo", "advantage estimator") \
    X(algorithm_norm_adv_by_std_in_grpo, "algorithm.norm_adv_by_std_in_grpo", BOOL, "true", "", "divide by the group std (false: Dr.GRPO)") \
    X(algorithm_epsilon, "algorithm.epsilon", FLOAT, "1e-6", "(0,)", "A = (R - mean) / (std + epsilon)") \
    X(algorithm_ppl_shaping_enable, "algorithm.ppl_shaping.enable", BOOL, "false", "", "PPL advantage shaping (paper eq. 7, 9)") \
    X(algorithm_ppl_shaping_alpha, "algorithm.ppl_shaping.alpha", FLOAT, "0.01", "[0,)", "A <- A * (1 - alpha * w), w the group-standardised ln PPL") \
    X(algorithm_ppl_shaping_iqr_filter, "algorithm.ppl_shaping.iqr_filter", BOOL, "false", "", "compute mu/sigma after 1.5*IQR outlier removal (authors' code)") \
    X(algorithm_ppl_shaping_clamp, "algorithm.ppl_shaping.clamp", OPTPAIR, "null", "", "clamp the factor (1 - alpha*w) to [lo, hi], e.g. [0.8, 1.2]; null: no clamp") \
    X(algorithm_ppl_shaping_sigma_floor, "algorithm.ppl_shaping.sigma_floor", FLOAT, "1e-6", "[0,)", "sigma <= floor is replaced by 1") \
    X(algorithm_ppl_shaping_sigma_ddof, "algorithm.ppl_shaping.sigma_ddof", INT, "0", "[0,1]", "sigma = sqrt(sum (x - mu)^2 / (n - ddof)): 0 population std (the authors' code), 1 sample std") \
    X(algorithm_position_shaping_enable, "algorithm.position_shaping.enable", BOOL, "false", "", "position bonus (paper eq. 8, 10)") \
    X(algorithm_position_shaping_gamma, "algorithm.position_shaping.gamma", FLOAT, "0.1", "[0,)", "bonus scale gamma") \
    X(algorithm_position_shaping_m, "algorithm.position_shaping.m", FLOAT, "15", "", "slope m of r_t = m (l_t - n)") \
    X(algorithm_position_shaping_n, "algorithm.position_shaping.n", FLOAT, "0.5", "", "centre n (the paper prints -0.5; the authors' code and intent: +0.5)") \
    X(algorithm_position_shaping_d, "algorithm.position_shaping.d", FLOAT, "1", "", "sigmoid sharpness d") \
    X(algorithm_position_shaping_cap, "algorithm.position_shaping.cap", OPTFLOAT, "0.5", "[0,)", "bonus capped at cap*|A|; null: uncapped") \
    X(algorithm_position_shaping_start_step, "algorithm.position_shaping.start_step", INT, "200", "[0,)", "active for start_step < step < end_step") \
    X(algorithm_position_shaping_end_step, "algorithm.position_shaping.end_step", INT, "300", "[0,)", "end of the active window (exclusive)") \
    X(algorithm_position_shaping_start_at_plateau, "algorithm.position_shaping.start_at_plateau", BOOL, "false", "", "start at the detected plateau instead, for end_step - start_step steps") \
    X(algorithm_filter_groups_enable, "algorithm.filter_groups.enable", BOOL, "false", "", "DAPO dynamic sampling: drop groups whose rewards all agree") \
    X(algorithm_filter_groups_metric, "algorithm.filter_groups.metric", STR, "acc", "acc|score", "what must vary within a kept group") \
    X(algorithm_filter_groups_max_num_gen_batches, "algorithm.filter_groups.max_num_gen_batches", INT, "10", "[0,)", "give up after this many generation rounds per step; 0: never") \
    /* ---- reward ---- */ \
    X(reward_format, "reward.format", STR, "pm1", "pm1|01", "correct/wrong rewards: +1/-1 (paper) or 1/0") \
    X(reward_verifier, "reward.verifier", STR, "arith", "math|arith", "answer checker") \
    X(reward_style, "reward.style", STR, "default", "default|boxed|math_dapo|prime_math", "how math answers are extracted and compared: ours (default), ours with a box required, verl's math_dapo (DAPO) or prime_math (PRIME) reward") \
    X(reward_overlong_buffer_enable, "reward.overlong_buffer.enable", BOOL, "false", "", "DAPO overlong shaping") \
    X(reward_overlong_buffer_len, "reward.overlong_buffer.len", INT, "1024", "[0,)", "L_cache: penalty ramps over the last len tokens before data.max_response_length") \
    X(reward_overlong_buffer_penalty_factor, "reward.overlong_buffer.penalty_factor", FLOAT, "1.0", "[0,)", "penalty at L_max") \
    /* ---- coordinator (learner rank 0) ---- */ \
    X(coordinator_endpoint, "coordinator.endpoint", STR, "tcp://127.0.0.1:0", "", "ZeroMQ endpoint workers talk to; port 0 = pick a free port (see RUN_DIR/rendezvous.json)") \
    X(coordinator_pub_endpoint, "coordinator.pub_endpoint", STR, "tcp://127.0.0.1:0", "", "ZeroMQ endpoint weights are published on; port 0 = pick a free port") \
    X(coordinator_lease_s, "coordinator.lease_s", FLOAT, "120", "(0,)", "a lease (one prompt group) ends after this many seconds without word from its worker; a silent worker's leases end sooner, after min(lease_s, 3 heartbeat_s)") \
    X(coordinator_heartbeat_s, "coordinator.heartbeat_s", FLOAT, "5", "(0,)", "worker heartbeat period") \
    X(coordinator_max_lease_s, "coordinator.max_lease_s", FLOAT, "0", "[0,)", "hard limit on one lease even while its worker heartbeats (a stuck generation); 0: none") \
    X(coordinator_max_message_mb, "coordinator.max_message_mb", INT, "256", "[1,)", "larger messages are dropped") \
    /* ---- evaluation ---- */ \
    X(eval_n, "eval.n", INT, "8", "[1,)", "samples per problem (Acc@n / Maj@n / Pass@n)") \
    X(eval_temperature, "eval.temperature", FLOAT, "0.6", "[0,)", "evaluation sampling temperature") \
    X(eval_top_p, "eval.top_p", FLOAT, "0.95", "(0,1]", "evaluation nucleus mass") \
    X(eval_max_new_tokens, "eval.max_new_tokens", INT, "0", "[0,)", "0 = data.max_response_length")

#define CFG_CTYPE_INT int64_t
#define CFG_CTYPE_FLOAT double
#define CFG_CTYPE_BOOL bool
#define CFG_CTYPE_STR char
#define CFG_CTYPE_OPTFLOAT CfgOptFloat
#define CFG_CTYPE_PAIR CfgPair
#define CFG_CTYPE_OPTPAIR CfgPair
#define CFG_CTYPE_WORDS char
#define CFG_DIM_INT
#define CFG_DIM_FLOAT
#define CFG_DIM_BOOL
#define CFG_DIM_STR [CONFIG_STR_MAX]
#define CFG_DIM_OPTFLOAT
#define CFG_DIM_PAIR
#define CFG_DIM_OPTPAIR
#define CFG_DIM_WORDS [CONFIG_STR_MAX]

typedef struct {
#define CFG_FIELD_(field, key, type, def, cons, help) CFG_CTYPE_##type field CFG_DIM_##type;
    RLVR_CONFIG_KEYS(CFG_FIELD_)
#undef CFG_FIELD_
} RlvrConfig;

typedef enum { CFG_INT, CFG_FLOAT, CFG_BOOL, CFG_STR, CFG_OPTFLOAT, CFG_PAIR, CFG_OPTPAIR, CFG_WORDS } CfgType;

typedef struct {
    const char *key;          // "actor.optim.lr"
    const char *field;        // "actor_optim_lr"
    CfgType type;
    const char *def;          // default, as it would be written on the command line
    const char *constraint;   // "a|b" or "[lo,hi]" / "(lo,)" ... or ""
    const char *help;
    size_t offset;            // offsetof(RlvrConfig, field)
} CfgKey;

// The schema, in declaration order (grouped by section).
const CfgKey *config_schema(int *n);
const CfgKey *config_find_key(const char *key);          // NULL when unknown
const char *config_type_name(CfgType t);                 // "integer", "number", ...
// Whether the WORDS value S ("console,jsonl") holds WORD.
int config_words_has(const char *s, const char *word);

// Loading flags.
#define CONFIG_IGNORE_UNKNOWN 1   // warn on stderr instead of failing (old checkpoints' configs)

void config_defaults(RlvrConfig *c);
// Applies a YAML file on top of *c: nested maps become dotted keys (a map key may itself be dotted:
// `optim.lr: 1e-6` under `actor:`). Unknown keys, wrong types, out-of-range values, duplicate keys
// and YAML syntax errors return -1 with "FILE:LINE: ..." in err (with a did-you-mean suggestion).
int config_load_file(RlvrConfig *c, const char *path, char *err, size_t errlen);
// Same for YAML text; `srcname` names the source in messages.
int config_load_string(RlvrConfig *c, const char *yaml, const char *srcname, int flags, char *err, size_t errlen);
// Sets one key from text as typed on the command line: numbers, true/false, null, [a, b], [word, word].
// STR keys take the text literally. `src` names the origin in messages ("command line").
int config_set(RlvrConfig *c, const char *key, const char *value, const char *src, char *err, size_t errlen);
// Applies one "key.sub=value" argument.
int config_override(RlvrConfig *c, const char *arg, char *err, size_t errlen);
// Cross-key checks (batch divisibility, windows, lengths, ...) and every key's own range again.
int config_validate(const RlvrConfig *c, char *err, size_t errlen);
// 1 when a data.prompt_template writes chat markup itself: the names "chatml" and "qwen-math", or text
// with <|im_start|> or <|start_header_id|>. Such a prompt must not go through a chat template too.
int config_prompt_template_writes_chat(const char *t);

// Program arguments (argv WITHOUT the program name): `--config FILE` / `--config=FILE` / `-c FILE`
// (repeatable, loaded in order), `--run-dir DIR` (= trainer.run_dir=DIR), `--resume`
// (= trainer.resume=true) and `key.sub=value` overrides, applied after all files in the order given.
// Then config_validate(). Any other argument is copied to rest[] (capacity argc; *nrest set) when
// rest is non-NULL, and is an error otherwise. Starts from *c: call config_defaults() first.
// Returns 0 (ready), -1 (err filled: print it, exit 2), or 1 when --help-config was given: the key
// table has been printed to stdout and the program should exit 0.
int config_parse_args(RlvrConfig *c, int argc, char **argv, char **rest, int *nrest, char *err, size_t errlen);

// The value of one key as text (the same text the YAML printer writes); -1 when the key is unknown.
int config_value_text(const RlvrConfig *c, const char *key, char *buf, size_t buflen);
// YAML of every key, sorted by key, nested by section; malloc'd, caller frees. Loading it back with
// config_load_string() gives a config that config_equal() to *c (floats round-trip exactly).
char *config_to_yaml(const RlvrConfig *c);
void config_print(const RlvrConfig *c, FILE *f);
// 1 when every key has the same value (floats compared bit for bit).
int config_equal(const RlvrConfig *a, const RlvrConfig *b);
// Writes "key: old -> new" for each differing key to f (may be NULL); returns the number of them.
int config_diff(const RlvrConfig *a, const RlvrConfig *b, FILE *f);
// The schema as a table: key, type, default, constraint, help (for `--help-config`).
void config_print_help(FILE *f);
// The closest valid key or section name to `key` (edit distance, or the same leaf name under
// another section) into out; returns 1, or 0 (out "") when nothing is close.
int config_suggest(const char *key, char *out, size_t outlen);
