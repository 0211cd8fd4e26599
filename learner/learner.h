// The learner program's state and its pieces (learner_main.c drives them):
//   learner_main.c   config, model, tokenizer, resume, coordinator (rank 0)
//   learner_grpo     the GRPO loop (grpo.c)
//   learner_sft      the supervised loop (sft.c)
//   learner_save     checkpoints (state.c)
#pragma once
#include <signal.h>
#include <stdint.h>

#include "common/core/check.h"
#include "common/config/config.h"
#include "common/engine/model.h"
#include "common/core/rng.h"
#include "common/engine/tokenizer.h"
#include "learner/coordinator/coordinator.h"
#include "common/tasks/data_stream.h"
#include "learner/dist.h"
#include "learner/metrics_log.h"
#include "learner/tensorboard.h"
#include "learner/trainer.h"

#define LEARNER_PATH_MAX 4096
#define LEARNER_STATE_VERSION 1   // layout of the /data and /rng arrays in the checkpoint

typedef struct {
    RlvrConfig cfg;
    Dist d;
    char run_dir[LEARNER_PATH_MAX], ckpt_dir[LEARNER_PATH_MAX], metrics_path[LEARNER_PATH_MAX];
    char rendezvous_path[LEARNER_PATH_MAX];
    Model model;
    Model ref;               // frozen initial policy (actor.use_kl_loss)
    int has_ref;
    Tokenizer tok;
    Trainer tr;
    Rng rng;                 // the learner's own stream (checkpointed; reserved for shuffles)
    Coordinator *coord;      // rank 0, grpo only
    DataStream data;         // grpo: rank 0; sft: every rank (deterministic)
    long step;               // training steps completed
    int64_t version;         // policy version published
    long plateau_step;       // stage detector's plateau step (-1 none)
    MetricsHistory hist;
    TbWriter tb;             // rank 0 with trainer.logger tensorboard (fd -1 otherwise)
    int weights_via_file;    // publish HDF5 snapshot paths instead of chunked weights
    uint16_t *weights_bf16;  // (num_params) rank 0 of a bf16 GPU learner: the weights it publishes, reused
    int debug_check_every;   // compare parameter checksums across ranks every N steps (0: never)
    int resumed;
    long resume_opt_step;    // AdamW step count from the checkpoint
    uint8_t *coord_blob;     // coordinator state from the checkpoint, restored before coord_start
    size_t coord_blob_len;
    int stopped_by_signal;   // every rank agreed to stop on SIGTERM / SIGINT (whichever rank got it)
    int final_save_failed;   // the checkpoint at the end (final, or the one a stop signal asked for) failed
    char last_ckpt[LEARNER_PATH_MAX];   // rank 0: the newest checkpoint this run wrote ("" none)
    long ppid;               // the launcher (mpirun / srun) that started this rank: its death stops the run
    int launcher_gone;       // the run stopped because the launcher died (exit code LEARNER_EXIT_FAILED)
} Learner;

// Exit codes of the learner, written also to RUN_DIR/exit_status.json (docs/operations.md has the
// table of what launch/resume_loop.sh does with each). 0 means the run's state is safely on disk.
enum {
    LEARNER_EXIT_OK = 0,            // all steps done and the final checkpoint written, or stopped by a
                                    // signal after writing its checkpoint
    LEARNER_EXIT_FAILED = 1,        // an error stopped the run (resume from the newest checkpoint)
    LEARNER_EXIT_USAGE = 2,         // bad arguments or config: restarting cannot help
    LEARNER_EXIT_CKPT_FAILED = 3,   // the run ended but its last checkpoint failed (e.g. disk full): the
                                    // newest checkpoint on disk is older than the state it stopped in
};
#define LEARNER_EXIT_STATUS_FILE "exit_status.json"

// Rank 0: writes RUN_DIR/exit_status.json {"exit_code", "state", "step", "checkpoint", "pid"}
// (temp file + rename) so a launcher can tell the learner's verdict from mpirun's exit status.
void learner_write_exit_status(const Learner *L, int code, const char *state);
// 1 when the process that started this rank is gone (mpirun SIGKILLed): the run then stops as on
// SIGTERM. Sets learner_sigterm and logs once.
int learner_check_launcher(Learner *L);

// Set by the signal handlers; acted on at step boundaries (all ranks agree first).
extern volatile sig_atomic_t learner_sigterm, learner_sigusr1;
void learner_install_signals(void);

// Rank 0: one step's metrics line to the loggers trainer.logger names besides the console (jsonl:
// RUN_DIR/metrics.jsonl; tensorboard: the event file). A failed write is a warning: the run goes on.
void learner_write_metrics(Learner *L, const char *line);

// Writes a checkpoint of the current state (rank 0 writes; every rank calls it). 0 or -1 on every rank
// (rank 0's error reported on stderr). A failed periodic checkpoint lets the run go on; a failed final
// or stop checkpoint makes the run's exit code LEARNER_EXIT_CKPT_FAILED.
int learner_save(Learner *L, const char *why);
// Loads the newest complete checkpoint (rank 0 picks it, every rank reads it). 1 loaded, 0 none.
// Exits the program on a fatal error.
int learner_resume(Learner *L);

int learner_grpo(Learner *L);
// Rank 0: validates the current policy (learner/validate.h), appends to RUN_DIR/val_metrics.jsonl and
// prints a line. Returns the step's metrics line (malloc'd, may be NULL) with val_* keys added; the
// old line is freed. A failed validation is reported and the line comes back unchanged.
char *learner_validate_step(Learner *L, char *line);
int learner_sft(Learner *L);

// Publishes the current weights as L->version (rank 0, grpo).
void learner_publish(Learner *L);
// Rank 0 message to stderr with a "learner:" prefix.
void learner_log(const Learner *L, const char *fmt, ...) RLVR_PRINTF(2, 3);
