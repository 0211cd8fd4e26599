// Training checkpoints: one HDF5 file per save, readable by h5py and h5dump.
//
// Layout of DIR/ckpt_<step, 6+ digits>.h5 (format_version 2; docs/configuration.md has the full table):
//   /                      attrs: magic = "rlvr-checkpoint", format_version, step, policy_version,
//                          optimizer_step, num_params, checksum = "crc32c", header_crc32c, writer,
//                          attrs_crc32c, complete = 1 (written LAST)
//   /config/, /model/...   the policy exactly as model_h5_write lays it out (common/io/model_h5.h):
//                          config/ = HF config attributes, model/<HF tensor name> = float32 tensors
//   /run_config            string dataset: the resolved experiment config YAML (config_to_yaml)
//   /optimizer/adam_m/<HF name>, /optimizer/adam_v/<HF name>   AdamW moments, float32, same shapes
//                          as the tensors (absent when the model has no optimizer state)
//   /rng                   uint64 (rng_len): RNG states, opaque to this library
//   /data                  uint64 (data_len): data cursor, opaque
//   /coordinator           uint8 (coordinator_len): coordinator state (msgpack), opaque
//   /metrics               string dataset, optional: tail of metrics.jsonl
// Every dataset carries a uint32 attribute "crc32c": CRC-32C (Castagnoli) of its raw little-endian
// bytes, verified on load; header_crc32c covers the root's numeric attributes and attrs_crc32c every
// attribute in the file (the model config's included), checked by every verify and load. The file is written as
// NAME.tmp, fsync'd, then renamed to NAME, so a crash never leaves a half-written file under a
// checkpoint name and never touches an existing checkpoint.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/model.h"

#define CKPT_MAGIC "rlvr-checkpoint"
#define CKPT_FORMAT_VERSION 2   // 2: attrs_crc32c covers every attribute (1 is still read, without it)

typedef struct {
    int64_t step;              // training steps completed
    int64_t policy_version;    // weights version published to the rollout workers
    int64_t optimizer_step;    // AdamW t (bias correction)
    Model *model;              // params; adam_m/adam_v saved when non-NULL (both or neither)
    uint64_t *rng;             // (rng_len) RNG states (e.g. Rng.s[4] per stream, flattened)
    size_t rng_len;
    uint64_t *data;            // (data_len) data cursor (epoch, position, shuffle seed, ...)
    size_t data_len;
    uint8_t *coordinator;      // (coordinator_len) opaque coordinator blob (msgpack)
    size_t coordinator_len;
    char *config_yaml;         // resolved config; "" allowed, NULL written as ""
    char *metrics;             // optional metrics tail (JSON Lines); NULL = none
} CheckpointState;

typedef struct {
    int format_version;
    int complete;
    int has_optimizer;
    int64_t step, policy_version, optimizer_step;
    uint64_t num_params;
    size_t rng_len, data_len, coordinator_len;
    size_t datasets_checked;   // full verification: datasets whose checksum matched
    uint64_t bytes_checked;
} CheckpointInfo;

// Load flags.
#define CKPT_LOAD_MODEL_ONLY 1     // skip the optimizer moments (export, inspect, eval)

// Writes st to PATH via PATH.tmp + fsync + rename. Returns 0, or -1 (err names the file and the
// HDF5/OS problem; PATH.tmp is removed and any existing PATH is untouched).
int checkpoint_write(const char *path, const CheckpointState *st, char *err, size_t errlen);

// Writes DIR/ckpt_<step>.h5 (creating DIR), then prunes: the new file plus the newest max_keep-1
// other valid checkpoints are kept, older ones and stale *.tmp files are deleted. Nothing is deleted
// before the new file is complete. path_out (may be NULL) receives the file name.
int checkpoint_save(const char *dir, const CheckpointState *st, int max_keep, char *path_out, size_t path_len,
                    char *err, size_t errlen);

// Reads a checkpoint into st. st->model must point to an EMPTY Model the caller owns (zeroed or
// model_free'd; it is model_init'ed from the file; adam_m/adam_v allocated and read when present and not
// CKPT_LOAD_MODEL_ONLY, grads allocated only in that case too). Every dataset read is checked against
// its CRC. The other buffers are malloc'd: free them with checkpoint_state_free (which does not free
// the model). On failure returns -1, st is left empty (model freed), err names the file and problem.
int checkpoint_load(const char *path, CheckpointState *st, int flags, char *err, size_t errlen);
// Loads only read the file, so every learner rank may load the same checkpoint at once.
void checkpoint_state_free(CheckpointState *st);

// Checks magic, version, completeness and the required datasets (full = 0: cheap, metadata only);
// full = 1 also re-reads every dataset and checks its CRC. info may be NULL.
int checkpoint_verify(const char *path, int full, CheckpointInfo *info, char *err, size_t errlen);

// Newest checkpoint in DIR that verifies (full or header-only); invalid ones are skipped with a
// warning on stderr naming the file and why. Returns 1 (path_out set), 0 when there is none (also
// when DIR does not exist), -1 on an error reading DIR.
int checkpoint_find_latest(const char *dir, int full_verify, char *path_out, size_t path_len, char *err, size_t errlen);

// checkpoint_find_latest + checkpoint_load, falling back to the next older checkpoint when a load
// fails (corrupt data). Returns 1 (loaded; path_out set), 0 (none), -1 (error).
int checkpoint_load_latest(const char *dir, CheckpointState *st, int flags, char *path_out, size_t path_len,
                           char *err, size_t errlen);

// 1 when PATH is an HDF5 file with the checkpoint magic (cheap; used by tools to tell checkpoints
// from native model files).
int checkpoint_is_checkpoint(const char *path);

// CRC-32C (Castagnoli), streaming: crc = checkpoint_crc32c(0, buf, n); crc = checkpoint_crc32c(crc, more, m).
uint32_t checkpoint_crc32c(uint32_t crc, const void *buf, size_t len);
