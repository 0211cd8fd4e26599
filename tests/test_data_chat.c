// The learner's prompt stream through a chat template (data.apply_chat_template): with the real Qwen2 and
// LLaMA-3 vocabularies (.assets/tokenizers/, fetched by launch/setup.sh; missing is a failure) a problem becomes
// the user message of the recognised template, tokenized without added special tokens; data.chat_template
// forces a renderer; data.prompt_template's text ("default": the problem + the \boxed{} instruction) is
// the user message; a template that is not built in, a tokenizer without one and the char tokenizer are
// errors at data_open naming the built-in renderers and the config key.
#include "common/config/config.h"
#include "common/core/check.h"
#include "common/engine/chat_template.h"
#include "common/tasks/data_stream.h"
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char TMPDIR_[64] = "/tmp/rlvr_test_data_chat_XXXXXX";
static char DATA[256];

#define QWEN2_SYSTEM "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
#define QWEN25_SYSTEM "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
#define INSTRUCTION "Please reason step by step, and put your final answer within \\boxed{}."

static void config(RlvrConfig *c, const char *tmpl, const char *force) {
    config_defaults(c);
    snprintf(c->data_train_files, sizeof c->data_train_files, "%s", DATA);
    snprintf(c->data_prompt_template, sizeof c->data_prompt_template, "%s", tmpl);
    snprintf(c->data_chat_template, sizeof c->data_chat_template, "%s", force);
    c->data_apply_chat_template = true;
    c->data_shuffle = false;
}

// The first prompt of the stream: its text must be `want`, its tokens encode(want) without added specials.
static void first_prompt(const Tokenizer *t, const RlvrConfig *c, const char *want, const char *first_token) {
    DataStream d;
    DataItem it;
    char err[2048];
    int rc = data_open(&d, c, t, 0, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc != 0) return;
    rc = data_next(&d, &it, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_MSG(!strcmp(it.text, want), "got [%s] want [%s]", it.text, want);
        TokIds ids = {0};
        CHECK(tokenizer_encode_str(t, want, 0, &ids, err, sizeof err) == 0);
        int same = (size_t)it.n_tokens == ids.n;
        for (size_t i = 0; same && i < ids.n; i++) same = it.tokens[i] == ids.ids[i];
        CHECK_MSG(same, "tokens of [%s]: %d ids, want %zu", want, it.n_tokens, ids.n);
        CHECK_EQ_INT(it.tokens[0], tokenizer_token_id(t, first_token));
        int firsts = 0;   // the template's BOS / first marker is there once: nothing was added in front
        for (int i = 0; i < it.n_tokens; i++) firsts += it.tokens[i] == it.tokens[0];
        CHECK_MSG(!strcmp(first_token, "<|im_start|>") || firsts == 1, "%s appears %d times", first_token, firsts);
        CHECK(!strcmp(it.answer, "2"));
        tok_ids_free(&ids);
        data_item_free(&it);
    }
    data_close(&d);
}

static void refused(const Tokenizer *t, const RlvrConfig *c, const char *what, const char *need1, const char *need2) {
    DataStream d;
    char err[2048] = "";
    int rc = data_open(&d, c, t, 0, err, sizeof err);
    CHECK_MSG(rc != 0 && strstr(err, need1) && strstr(err, need2) && strstr(err, "data.apply_chat_template"),
              "%s: rc %d, err [%s]", what, rc, err);
    if (rc == 0) data_close(&d);
}

static int load_vocab(Tokenizer *t, const char *name, const char *chat_template) {
    const char *a = getenv("RLVR_ASSETS");
    char dir[512], path[600], err[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", a && a[0] ? a : ".assets", name);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *json = read_file_all(path, NULL, err, sizeof err);
    CHECK_MSG(json != NULL, "%s (launch/setup.sh fetches it)", err);
    if (!json) return -1;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *conf = read_file_all(path, NULL, err, sizeof err);
    CHECK_MSG(conf != NULL, "%s", err);
    char *odd = NULL;
    if (conf && chat_template) {   // the same file with another chat_template
        size_t n = strlen(chat_template) + 64;
        odd = mallocCheck(n);
        snprintf(odd, n, "{\"bos_token\": \"<|endoftext|>\", \"chat_template\": \"%s\"}", chat_template);
    }
    int rc = conf ? tokenizer_load_json(t, json, odd ? odd : conf, NULL, dir, err, sizeof err) : -1;
    CHECK_MSG(rc == 0, "%s", err);
    free(json);
    free(conf);
    free(odd);
    return rc;
}

int main(void) {
    if (!mkdtemp(TMPDIR_)) { perror("mkdtemp"); return 1; }
    snprintf(DATA, sizeof DATA, "%s/p.jsonl", TMPDIR_);
    FILE *f = fopen(DATA, "wb");
    if (!f) { perror(DATA); return 1; }
    fprintf(f, "{\"id\": \"a\", \"problem\": \"What is $1+1$?\", \"answer\": \"2\"}\n");
    fclose(f);

    Tokenizer qwen;
    RlvrConfig c;
    if (load_vocab(&qwen, "qwen2", NULL) == 0) {
        // recognised: Qwen2's own template (renderer smollm2, its default system prompt read from the text)
        config(&c, "{prompt}", "");
        first_prompt(&qwen, &c, QWEN2_SYSTEM "<|im_start|>user\nWhat is $1+1$?<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>");
        // the paper's instruction in the user message; a {prompt} format likewise
        config(&c, "default", "");
        first_prompt(&qwen, &c, QWEN2_SYSTEM "<|im_start|>user\nWhat is $1+1$?\n" INSTRUCTION "<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>");
        config(&c, "Q: {prompt}", "");
        first_prompt(&qwen, &c, QWEN2_SYSTEM "<|im_start|>user\nQ: What is $1+1$?<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>");
        // forced
        config(&c, "{prompt}", "qwen2.5");
        first_prompt(&qwen, &c, QWEN25_SYSTEM "<|im_start|>user\nWhat is $1+1$?<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>");
        config(&c, "{prompt}", "llama3");
        refused(&qwen, &c, "a LLaMA-3 renderer on Qwen2's vocabulary", "<|start_header_id|>", "data.chat_template");
        // off: the bare text with the tokenizer's special tokens, as before
        config(&c, "{prompt}", "");
        c.data_apply_chat_template = false;
        DataStream d;
        DataItem it;
        char err[1024];
        CHECK(data_open(&d, &c, &qwen, 0, err, sizeof err) == 0 && data_next(&d, &it, err, sizeof err) == 0);
        CHECK(!strcmp(it.text, "What is $1+1$?"));
        data_item_free(&it);
        data_close(&d);
        tokenizer_free(&qwen);
    }
    Tokenizer odd;
    if (load_vocab(&odd, "qwen2", "{% for m in messages %}{{ m.content }}{% endfor %}") == 0) {
        config(&c, "{prompt}", "");
        refused(&odd, &c, "a template that is not built in", CHAT_TEMPLATE_NAMES, "data.chat_template");
        config(&c, "{prompt}", "smollm2");
        first_prompt(&odd, &c, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                               "<|im_start|>user\nWhat is $1+1$?<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>");
        tokenizer_free(&odd);
    }
    // LLaMA-3's vocabulary (its tokenizer_config.json has no chat template): forced; the template's
    // <|begin_of_text|> is the one BOS (the stream adds none), and the date is LLaMA-3.1's fixed one
    Tokenizer llama;
    if (load_vocab(&llama, "llama-bpe", NULL) == 0) {
        config(&c, "default", "");
        refused(&llama, &c, "a vocabulary without a chat template", "no chat template", "data.chat_template");
        config(&c, "default", "llama3.1");
        first_prompt(&llama, &c, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                                 "December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>"
                                 "\n\nWhat is $1+1$?\n" INSTRUCTION "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                     "<|begin_of_text|>");
        config(&c, "{prompt}", "llama3");
        first_prompt(&llama, &c, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is $1+1$?<|eot_id|>"
                                 "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|begin_of_text|>");
        config(&c, "{prompt}", "qwen2.5");
        refused(&llama, &c, "ChatML on LLaMA-3's vocabulary", "<|im_start|>", "data.chat_template");
        tokenizer_free(&llama);
    }
    Tokenizer ch;
    char err[256];
    CHECK(tokenizer_init(&ch, "char", err, sizeof err) == 0);
    config(&c, "{prompt}", "");
    refused(&ch, &c, "the char tokenizer (no chat template)", "no chat template", "data.chat_template");
    config(&c, "{prompt}", "qwen2.5");
    refused(&ch, &c, "ChatML on the char tokenizer", "<|im_start|>", "data.chat_template");
    tokenizer_free(&ch);

    unlink(DATA);
    rmdir(TMPDIR_);
    return tests_done();
}
