// Supervised fine-tuning (trainer.mode = sft): cross-entropy on prompt -> "\boxed{answer}" + EOS,
// loss on the response tokens only, token-mean over the global mini-batch, data-parallel over the
// ranks. Every rank reads the same problems from the same cursor, so nothing is broadcast but the
// gradients. At the end RUN_DIR/final.h5 holds the policy that grpo mode starts from (model.path).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "learner/learner.h"
#include "common/io/model_io.h"

// One SFT batch of n examples as an RlBatch (one response per group).
static int sft_batch(Learner *L, int n, RlBatch *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    DataItem *items = callocCheck((size_t)n, sizeof *items);
    int32_t **resp = callocCheck((size_t)n, sizeof *resp);
    int *rlen = callocCheck((size_t)n, sizeof(int));
    int rc = 0, k = 0;
    int maxr = (int)L->cfg.data_max_response_length;
    while (k < n) {
        if (data_next(&L->data, &items[k], err, errlen) != 0) { rc = -1; break; }
        size_t cap = strlen(items[k].answer) + 16;
        char *target = mallocCheck(cap);
        snprintf(target, cap, "\\boxed{%s}", items[k].answer);
        int m = 0;
        resp[k] = data_encode(&L->tok, target, 1, &m, err, errlen);   // room for the EOS
        free(target);
        if (!resp[k]) { rc = -1; k++; break; }
        resp[k][m++] = L->tok.eos_id;
        if (m > maxr) {   // an answer longer than the response budget cannot be learned as is
            L->data.skipped_long++;
            data_item_free(&items[k]); free(resp[k]); resp[k] = NULL;
            continue;
        }
        rlen[k] = m;
        k++;
    }
    if (rc == 0) {
        b->R = b->G = n;
        b->prompt_len = mallocCheck((size_t)n * sizeof(int32_t));
        b->resp_len = mallocCheck((size_t)n * sizeof(int32_t));
        b->prompt_id = mallocCheck((size_t)n * sizeof(int64_t));
        b->version = callocCheck((size_t)n, sizeof(int64_t));
        b->correct = callocCheck((size_t)n, sizeof(int32_t));
        b->boxed_count = callocCheck((size_t)n, sizeof(int32_t));
        b->has_cjk = callocCheck((size_t)n, sizeof(int32_t));
        b->finish = callocCheck((size_t)n, sizeof(int32_t));
        b->worker_reward = callocCheck((size_t)n, sizeof(float));
        for (int i = 0; i < n; i++) {
            b->prompt_len[i] = items[i].n_tokens;
            b->resp_len[i] = rlen[i];
            b->prompt_id[i] = (int64_t)items[i].id;
        }
        rl_batch_index(b);
        b->tokens = mallocCheck(b->n_tok * sizeof(int32_t));
        b->old_logp = callocCheck(b->n_resp_tok ? b->n_resp_tok : 1, sizeof(float));
        for (int i = 0; i < n; i++) {
            memcpy(b->tokens + b->tok_off[i], items[i].tokens, (size_t)items[i].n_tokens * sizeof(int32_t));
            memcpy(b->tokens + b->tok_off[i] + items[i].n_tokens, resp[i], (size_t)rlen[i] * sizeof(int32_t));
        }
    }
    for (int i = 0; i < n; i++) { data_item_free(&items[i]); free(resp[i]); }
    free(items); free(resp); free(rlen);
    return rc;
}

int learner_sft(Learner *L) {
    const RlvrConfig *c = &L->cfg;
    Trainer *t = &L->tr;
    Model *m = &L->model;
    char err[2048];
    int n = (int)c->data_train_batch_size, mini = (int)c->actor_ppo_mini_batch_size;
    int *rows = mallocCheck((size_t)n * sizeof(int));
    float temp = t->temperature;
    t->temperature = 1.0f;   // SFT is plain cross-entropy
    if (L->d.rank == 0 && c->trainer_val_before_train && c->trainer_test_freq > 0 && L->step == 0) free(learner_validate_step(L, NULL));
    while (L->step < c->trainer_total_training_steps) {
        learner_check_launcher(L);
        int32_t flags[3] = {learner_sigterm, learner_sigusr1, L->launcher_gone};
        dist_allreduce_max_i32(flags, 3, DIST_BLOCKING);
        if (flags[0]) {   // the agreed flag: the signal may have reached any rank
            L->stopped_by_signal = 1;
            L->launcher_gone = flags[2];
            if (learner_save(L, "SIGTERM") != 0) L->final_save_failed = 1;
            free(rows);
            return 0;
        }
        if (flags[1]) { learner_sigusr1 = 0; learner_save(L, "SIGUSR1"); }
        double t0 = now_seconds();
        RlBatch b;
        if (sft_batch(L, n, &b, err, sizeof err) != 0) {
            if (L->d.rank == 0) fprintf(stderr, "error: learner (sft): %s\n", err);
            free(rows);
            return 1;
        }
        StepStats st;
        memset(&st, 0, sizeof st);
        st.R = b.R;
        t->time_allreduce = 0;
        double loss_sum[2] = {0, 0}, gn = 0;   // loss, sequence tokens
        int nmini = 0;
        for (int r0 = 0; r0 < n; r0 += mini, nmini++) {
            int r1 = r0 + mini < n ? r0 + mini : n;
            double ntok = 0;
            for (int r = r0; r < r1; r++) ntok += b.resp_len[r];
            int k = trainer_my_rows(&b, r0, r1, L->d.size, L->d.rank, rows);
            engine_zero_grads(&t->eng);
            for (int i0 = 0; i0 < k; i0 += t->micro) {
                int kk = k - i0 < t->micro ? k - i0 : t->micro;
                micro_build(&t->mb, &b, rows + i0, kk);
                MicroBatch *mb = &t->mb;
                size_t bt = (size_t)mb->B * mb->T;
                engine_forward_head(&t->eng, mb->tokens, mb->targets, mb->B, mb->T, 1.0f, t->logp, NULL);
                for (size_t p = 0; p < bt; p++) {
                    t->dlogp[p] = mb->mask[p] != 0 ? (float)(-1.0 / ntok) : 0.0f;
                    if (mb->mask[p] != 0) loss_sum[0] -= t->logp[p] / ntok;
                }
                engine_backward(&t->eng, t->dlogp, NULL);
                for (int i = 0; i < mb->B; i++) loss_sum[1] += b.prompt_len[mb->rows[i]] + b.resp_len[mb->rows[i]];
            }
            int skipped = 0;
            double norm = trainer_optimizer_step(t, &skipped);
            if (skipped) st.skipped_steps++;
            else { st.opt_steps++; gn += norm; if (norm > st.grad_norm_max) st.grad_norm_max = norm; }
        }
        if (L->d.size > 1) dist_allreduce_sum_f64(loss_sum, 2);
        st.lr = lr_at(&t->sched, t->opt_step > 0 ? t->opt_step - 1 : 0);
        st.grad_norm = st.opt_steps ? gn / st.opt_steps : 0;
        st.n_tokens = (long)loss_sum[1];
        st.n_resp_tokens = (long)b.n_resp_tok;
        rl_batch_free(&b);
        double t_step = now_seconds() - t0;
        L->step++;
        if (L->d.rank == 0) {
            StepMeta mt;
            memset(&mt, 0, sizeof mt);
            mt.step = L->step; mt.total_steps = c->trainer_total_training_steps;
            mt.mode = "sft";
            mt.sft_loss = loss_sum[0] / (nmini ? nmini : 1);
            mt.time_train_s = t_step - t->time_allreduce;
            mt.time_sync_s = t->time_allreduce;
            mt.time_step_s = t_step;
            mt.tokens_per_s = t_step > 0 ? loss_sum[1] / t_step : 0;
            mt.plateau_step = -1;
            char *line = metrics_format(&st, &mt);
            if (c->trainer_test_freq > 0 && (L->step % c->trainer_test_freq == 0 || L->step == c->trainer_total_training_steps))
                line = learner_validate_step(L, line);
            history_add(&L->hist, line);
            learner_write_metrics(L, line);
            free(line);
            if (config_words_has(c->trainer_logger, "console") &&
                (L->step % c->trainer_log_freq == 0 || L->step == c->trainer_total_training_steps || L->step == 1))
                metrics_status(stdout, &st, &mt);
        }
        if ((c->trainer_save_freq > 0 && L->step % c->trainer_save_freq == 0) || L->step == c->trainer_total_training_steps) {
            int last = L->step == c->trainer_total_training_steps;
            if (learner_save(L, last ? "final" : "periodic") != 0 && last) L->final_save_failed = 1;
        }
    }
    t->temperature = temp;
    free(rows);
    if (L->d.rank == 0) {
        char path[LEARNER_PATH_MAX + 16];
        // the host Model already holds the final parameters: the last step's checkpoint gathered them
        snprintf(path, sizeof path, "%s/final.h5", L->run_dir);
        if (model_save_native(m, path, err, sizeof err) != 0) {
            fprintf(stderr, "error: learner (sft): writing %s: %s\n", path, err);
            return 1;
        }
        learner_log(L, "sft: final policy written to %s (use it as model.path for grpo)", path);
    }
    return 0;
}
