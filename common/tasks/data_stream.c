// Prompt stream for the learner; see data.h.
#include "common/tasks/data_stream.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

int arith_knobs_from_config(const RlvrConfig *c, ArithKnobs *k, char *err, size_t errlen) {
    arith_knobs_default(k);
    k->digits = (int)c->data_arith_digits;
    k->steps = (int)c->data_arith_steps;
    k->ops = 0;
    for (const char *p = c->data_arith_ops; *p; p++) {
        if (*p == '+') k->ops |= ARITH_OP_ADD;
        else if (*p == '-') k->ops |= ARITH_OP_SUB;
        else if (*p == '*') k->ops |= ARITH_OP_MUL;
        else if (*p != ' ')
            return rlvr_err(err, errlen, "data.arith.ops = '%s': '%c' is not an operator (use any of + - *)", c->data_arith_ops, *p);
    }
    // The task holds out a fraction of the problem space; the config names a count. Convert with the
    // size of the space (operand choices x operator choices), within the task's allowed range.
    double space = 1;
    for (int i = 0; i <= k->steps; i++) for (int j = 0; j < k->digits; j++) space *= 10;
    int nops = !!(k->ops & 1) + !!(k->ops & 2) + !!(k->ops & 4);
    for (int i = 0; i < k->steps; i++) space *= nops > 0 ? nops : 1;
    double f = (double)c->data_arith_heldout_size / space;
    k->heldout_frac = f < 0.001 ? 0.001 : f > 0.5 ? 0.5 : f;
    if (arith_knobs_check(k, err, errlen) != 0) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", err);
        return rlvr_err(err, errlen, "data.arith.*: %s", inner);
    }
    return 0;
}

int data_open(DataStream *d, const RlvrConfig *cfg, const Tokenizer *tok, int heldout, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->tok = tok;
    d->max_prompt = (int)cfg->data_max_prompt_length;
    const char *tmpl = cfg->data_prompt_template;
    if (strstr(tmpl, "{prompt}")) snprintf(d->template_fmt, sizeof d->template_fmt, "%s", tmpl);
    else if (prompt_template_known(tmpl)) snprintf(d->template_name, sizeof d->template_name, "%.31s", tmpl);
    else return rlvr_err(err, errlen, "data.prompt_template = '%s': give text containing {prompt}, or a template name "
                         "(" PROMPT_TEMPLATE_NAMES ")", tmpl);
    const char *files = heldout ? cfg->data_val_files : cfg->data_train_files;
    if (strcmp(files, "arith") == 0) {
        ArithKnobs k;
        if (arith_knobs_from_config(cfg, &k, err, errlen) != 0) return -1;
        d->src = problem_source_arith((uint64_t)cfg->trainer_seed, &k, heldout, err, errlen);
    } else {
        if (!files[0]) return rlvr_err(err, errlen, "%s is empty: name a .jsonl file or \"arith\"", heldout ? "data.val_files" : "data.train_files");
        d->src = problem_source_jsonl(files, d->template_name[0] ? d->template_name : "plain", (uint64_t)cfg->trainer_seed,
                                      heldout ? 0 : cfg->data_shuffle, err, errlen);
        d->template_name[0] = 0;   // the source applied it
    }
    if (!d->src) return -1;
    if (cfg->data_apply_chat_template) {
        char inner[1536];
        if (chat_template_for_tokenizer(&d->chat, tok, cfg->data_chat_template, inner, sizeof inner) != 0) {
            data_close(d);
            return rlvr_err(err, errlen, "data.apply_chat_template: %s", inner);
        }
        d->use_chat = 1;
    }
    return 0;
}

void data_close(DataStream *d) {
    if (d->src) problem_source_free(d->src);
    d->src = NULL;
    if (d->use_chat) chat_template_free(&d->chat);
    d->use_chat = 0;
}

void data_item_free(DataItem *it) {
    free(it->text); free(it->answer); free(it->tokens);
    memset(it, 0, sizeof *it);
}

// ids (int) -> a malloc'd int32 array with room for extra more.
static int32_t *to_int32(const TokIds *ids, int extra) {
    int32_t *out = mallocCheck((ids->n + (size_t)extra + 1) * sizeof(int32_t));
    for (size_t i = 0; i < ids->n; i++) out[i] = ids->ids[i];
    return out;
}

int32_t *data_encode(const Tokenizer *tok, const char *text, int extra, int *n, char *err, size_t errlen) {
    TokIds ids = {0};
    int32_t *out = NULL;
    if (tokenizer_encode_str(tok, text, 0, &ids, err, errlen) == 0) {
        out = to_int32(&ids, extra);
        *n = (int)ids.n;
    }
    tok_ids_free(&ids);
    return out;
}

static char *apply_fmt(const char *fmt, const char *problem) {
    const char *at = strstr(fmt, "{prompt}");
    size_t n = strlen(fmt) - 8 + strlen(problem) + 1;
    char *s = mallocCheck(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - fmt), fmt, problem, at + 8);
    return s;
}

int data_next(DataStream *d, DataItem *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    for (int tries = 0; tries < 100000; tries++) {
        Problem p;
        if (problem_source_next(d->src, &d->cursor, &p, err, errlen) != 0) return -1;
        char *text;
        if (d->template_fmt[0]) text = apply_fmt(d->template_fmt, p.prompt);
        else if (d->template_name[0]) {
            if (prompt_template_apply(d->template_name, p.prompt, &text, err, errlen) != 0) { problem_free(&p); return -1; }
        } else text = strdupCheck(p.prompt);
        int flags = TOK_ADD_SPECIAL;
        if (d->use_chat) {
            char *rendered;
            if (chat_template_user_prompt(&d->chat, text, &rendered, err, errlen) != 0) {
                free(text); problem_free(&p);
                return -1;
            }
            free(text);
            text = rendered;
            flags = 0;
        }
        TokIds ids = {0};
        int k = tokenizer_encode_str(d->tok, text, flags, &ids, err, errlen) == 0 ? (int)ids.n : -1;
        int32_t *tok = k < 0 ? NULL : to_int32(&ids, 0);
        tok_ids_free(&ids);
        if (k < 0) {
            char inner[256];
            snprintf(inner, sizeof inner, "%s", err);
            rlvr_err(err, errlen, "prompt '%s' (%s): %s", p.name ? p.name : "?", text, inner);
            free(tok); free(text); problem_free(&p);
            return -1;
        }
        if (k == 0) {
            rlvr_err(err, errlen, "prompt '%s' encodes to no tokens and the tokenizer adds no BOS; give the problem some text",
                     p.name ? p.name : "?");
            free(tok); free(text); problem_free(&p);
            return -1;
        }
        if (k > d->max_prompt) {
            d->skipped_long++;
            free(tok); free(text); problem_free(&p);
            continue;
        }
        out->id = d->cursor - 1;   // the stream position of this problem (unique, increasing)
        out->text = text;
        out->answer = strdupCheck(p.answer);
        out->n_tokens = k;
        out->tokens = tok;
        problem_free(&p);
        return 0;
    }
    return rlvr_err(err, errlen, "every prompt is longer than data.max_prompt_length = %d tokens; raise it", d->max_prompt);
}
