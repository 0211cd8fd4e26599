// Chat templates against transformers' apply_chat_template (jinja2), byte for byte:
//   - tests/fixtures/chat_template/recognise.jsonl: every real template of llama.cpp's models/templates/
//     (from the llama-cpp-python source tarball) and the two of .cache/assets/chat_templates/ (LLaMA-3
//     from llama-cpp-python, SmolLM2 from its GGUF) is recognised as the built-in renderer the fixture
//     names, or refused with an error naming the built-in renderers and the config key;
//   - tests/fixtures/chat_template/cases.jsonl: the text jinja2 renders for each of many message lists
//     with each known template (and a Qwen2.5 text with another default system prompt), with and
//     without the generation prompt, equals ours;
//   - the named renderers, today's date of LLaMA-3.2, the tokenizer checks, and bad input.
// Written by tests/chat_template/make_fixtures.py. The template texts are not committed: tests/gguf_setup.sh
// (run by tests/setup_assets.sh) fetches them into .cache/assets/ (or $RLVR_CACHE/assets); a missing
// one is a failure, never a skip.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/core/check.h"
#include "common/engine/chat_template.h"
#include "common/engine/tokenizer.h"
#include "tests/harness.h"

#define FIX "tests/fixtures/chat_template"
#define MAX_REPORT 5
#define QWEN_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

static char assets[2048];

static char *read_template(const char *rel) {
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", assets, rel);
    size_t n;
    char *t = read_file_all(path, &n, err, sizeof err);
    if (!t) fprintf(stderr, "FAIL: %s (the templates are fetched by tests/setup_assets.sh -> tests/gguf_setup.sh)\n", err);
    return t;
}

// text with every occurrence of from replaced by to (malloc'd)
static char *replace_all(const char *text, const char *from, const char *to) {
    size_t n = 0, lf = strlen(from), lt = strlen(to);
    for (const char *p = strstr(text, from); p; p = strstr(p + lf, from)) n++;
    char *out = mallocCheck(strlen(text) + n * (lt + 1) + 1), *o = out;
    const char *p = text, *q;
    while ((q = strstr(p, from))) {
        memcpy(o, p, (size_t)(q - p)); o += q - p;
        memcpy(o, to, lt); o += lt;
        p = q + lf;
    }
    strcpy(o, p);
    return out;
}

static void check_recognise(void) {
    FILE *f = fopen(FIX "/recognise.jsonl", "r");
    CHECK_MSG(f != NULL, "cannot open " FIX "/recognise.jsonl");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0, total = 0, known = 0, bad = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        const char *rel = json_string_value(json_object_get(o, "template"));
        const char *want = json_string_value(json_object_get(o, "name"));   // NULL: must be refused
        char *text = read_template(rel);
        if (!text) { bad++; json_decref(o); continue; }
        ChatTemplate ct;
        char err[2048];
        int rc = chat_template_recognise(&ct, text, "<s>", rel, err, sizeof err);
        total++;
        if (want) {
            known++;
            if (rc != 0 || strcmp(ct.name, want) != 0) {
                if (bad++ < MAX_REPORT) fprintf(stderr, "FAIL %s: want %s, got %s\n", rel, want, rc ? err : ct.name);
            }
        } else if (rc == 0) {
            if (bad++ < MAX_REPORT) fprintf(stderr, "FAIL %s: must be refused, was recognised as %s\n", rel, ct.name);
        } else if (!strstr(err, "data.chat_template") || !strstr(err, CHAT_TEMPLATE_NAMES) || !strstr(err, rel)) {
            if (bad++ < MAX_REPORT) fprintf(stderr, "FAIL %s: the error does not name the file, the key and the renderers: %s\n", rel, err);
        }
        if (rc == 0) chat_template_free(&ct);
        free(text);
        json_decref(o);
    }
    free(line);
    fclose(f);
    printf("recognise: %zu templates (%zu known, %zu refused), %zu wrong\n", total, known, total - known, bad);
    CHECK(total >= 70 && known == 7);
    CHECK_EQ_INT(bad, 0);
}

static void check_cases(void) {
    FILE *f = fopen(FIX "/cases.jsonl", "r");
    CHECK_MSG(f != NULL, "cannot open " FIX "/cases.jsonl");
    if (!f) return;
    char *line = NULL, *cached_key = NULL;
    size_t cap = 0, total = 0, bad = 0;
    ChatTemplate ct;
    int have = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) { fprintf(stderr, "FAIL cases.jsonl line %zu: %s\n", total + 1, je.text); bad++; break; }
        const char *rel = json_string_value(json_object_get(o, "template"));
        const char *swap = json_string_value(json_object_get(o, "swap_system"));
        const char *bos = json_string_value(json_object_get(o, "bos_token"));
        const char *date = json_string_value(json_object_get(o, "date_string"));
        char key[4096];
        snprintf(key, sizeof key, "%s|%s|%s", rel, swap ? swap : "", bos);
        if (!cached_key || strcmp(cached_key, key)) {   // the fixture is grouped by template
            if (have) chat_template_free(&ct);
            have = 0;
            free(cached_key);
            cached_key = strdupCheck(key);
            char *text = read_template(rel);
            if (text && swap) {   // the jinja source spells a backslash as two
                char *escaped = replace_all(swap, "\\", "\\\\");
                char *t2 = replace_all(text, QWEN_SYSTEM, escaped);
                free(escaped); free(text);
                text = t2;
            }
            char err[2048];
            if (text && chat_template_recognise(&ct, text, bos, rel, err, sizeof err) == 0) {
                have = 1;
                if (swap) CHECK_MSG(!strcmp(ct.default_system, swap), "default system read from the text: %s", ct.default_system);
            } else if (text) {
                fprintf(stderr, "FAIL %s: %s\n", rel, err);
                bad++;
            }
            free(text);
        }
        if (have) {
            json_t *jm = json_object_get(o, "messages");
            size_t n = json_array_size(jm);
            ChatMessage *m = mallocCheck((n ? n : 1) * sizeof *m);
            for (size_t i = 0; i < n; i++) {
                m[i].role = json_string_value(json_object_get(json_array_get(jm, i), "role"));
                m[i].content = json_string_value(json_object_get(json_array_get(jm, i), "content"));
            }
            char *out = NULL, err[1024];
            const int gen = json_is_true(json_object_get(o, "add_generation_prompt"));
            const char *want = json_string_value(json_object_get(o, "text"));
            if (chat_template_render(&ct, m, n, gen, date, &out, err, sizeof err) != 0 || strcmp(out, want) != 0) {
                if (bad++ < MAX_REPORT) {
                    char *got = json_dumps(json_string(out ? out : err), JSON_ENCODE_ANY);
                    fprintf(stderr, "FAIL %s case %zu (%s):\n  want %s\n  got  %s\n", rel, total, ct.name,
                            json_dumps(json_object_get(o, "text"), JSON_ENCODE_ANY), got);
                    free(got);
                }
            }
            free(out);
            free(m);
        }
        total++;
        json_decref(o);
    }
    if (have) chat_template_free(&ct);
    free(cached_key);
    free(line);
    fclose(f);
    printf("cases: %zu renderings, %zu different from jinja2\n", total, bad);
    CHECK(total > 1000);
    CHECK_EQ_INT(bad, 0);
}

static int render1(const ChatTemplate *ct, const char *role, const char *content, int gen, char **out) {
    ChatMessage m = {role, content};
    char err[512];
    return chat_template_render(ct, &m, 1, gen, NULL, out, err, sizeof err);
}

static void check_named_and_errors(void) {
    ChatTemplate ct;
    char err[2048], *out = NULL;
    // the named renderers carry their families' default system prompts
    CHECK(chat_template_named(&ct, "qwen2.5", NULL, err, sizeof err) == 0);
    CHECK(render1(&ct, "user", "hi", 1, &out) == 0);
    CHECK(out && !strcmp(out, "<|im_start|>system\n" QWEN_SYSTEM "<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
    free(out);
    chat_template_free(&ct);
    CHECK(chat_template_named(&ct, "smollm2", NULL, err, sizeof err) == 0);
    CHECK(chat_template_user_prompt(&ct, "2+2?", &out, err, sizeof err) == 0);
    CHECK(out && strstr(out, "SmolLM") && strstr(out, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"));
    free(out);
    chat_template_free(&ct);
    CHECK(chat_template_named(&ct, "llama3.1", "<|begin_of_text|>", err, sizeof err) == 0);
    CHECK(render1(&ct, "user", " q ", 0, &out) == 0);
    CHECK(out && !strcmp(out, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December "
                              "2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|>"));
    free(out);
    chat_template_free(&ct);
    // LLaMA-3.2 dates the system turn today, as transformers' strftime_now("%d %b %Y")
    CHECK(chat_template_named(&ct, "llama3.2", "<|begin_of_text|>", err, sizeof err) == 0);
    char today[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(today, sizeof today, "Today Date: %d %b %Y\n", &tm);
    CHECK(render1(&ct, "user", "q", 1, &out) == 0);
    CHECK_MSG(out && strstr(out, today), "%s", out ? out : "(none)");
    free(out);
    // bad input: a clear error, nothing rendered
    ChatMessage bad[2] = {{"user", "a"}, {"tool", "b"}};
    CHECK(chat_template_render(&ct, bad, 2, 1, NULL, &out, err, sizeof err) != 0 && out == NULL);
    CHECK_MSG(strstr(err, "messages[1]") && strstr(err, "tool"), "%s", err);
    CHECK(chat_template_render(&ct, bad, 0, 1, NULL, &out, err, sizeof err) != 0);
    chat_template_free(&ct);
    CHECK(chat_template_named(&ct, "jinja", NULL, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "jinja") && strstr(err, CHAT_TEMPLATE_NAMES), "%s", err);
    CHECK(chat_template_recognise(&ct, "{{ messages }}", NULL, "x.json", err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "x.json") && strstr(err, "data.chat_template: NAME"), "%s", err);
}

static void check_tokenizers(const char *tok_assets) {
    char path[4096], cpath[4096], err[2048];
    ChatTemplate ct;
    // the char tokenizer has no template: an error that says how to pick one
    Tokenizer c;
    CHECK(tokenizer_init(&c, "char", err, sizeof err) == 0);
    CHECK(chat_template_for_tokenizer(&ct, &c, "", err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "no chat template") && strstr(err, "data.chat_template"), "%s", err);
    CHECK(chat_template_for_tokenizer(&ct, &c, "qwen2.5", err, sizeof err) != 0);   // <|im_start|> is no char token
    CHECK_MSG(strstr(err, "<|im_start|>"), "%s", err);
    tokenizer_free(&c);
    // Qwen2's vocabulary (llama.cpp's vocab file carries a ChatML template) and LLaMA-3's
    const char *vocabs[2] = {"qwen2", "llama-bpe"};
    for (int v = 0; v < 2; v++) {
        snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer.json", tok_assets, vocabs[v]);
        snprintf(cpath, sizeof cpath, "%s/tokenizers/%s/tokenizer_config.json", tok_assets, vocabs[v]);
        size_t n;
        char *js = read_file_all(path, &n, err, sizeof err), *cj = js ? read_file_all(cpath, &n, err, sizeof err) : NULL;
        CHECK_MSG(js && cj, "%s (fetched by tests/tokenizer/setup_assets.sh)", err);
        Tokenizer t;
        if (!js || !cj || tokenizer_load_json(&t, js, cj, NULL, path, err, sizeof err) != 0) {
            CHECK_MSG(0, "%s", err);
            free(js); free(cj);
            continue;
        }
        if (v == 0) {
            CHECK(chat_template_for_tokenizer(&ct, &t, "", err, sizeof err) == 0);
            CHECK_MSG(!strcmp(ct.name, "smollm2") && !strcmp(ct.default_system, "You are a helpful assistant"), "%s",
                      chat_template_describe(&ct));
            chat_template_free(&ct);
            CHECK(chat_template_for_tokenizer(&ct, &t, "llama3", err, sizeof err) != 0);
            CHECK_MSG(strstr(err, "<|start_header_id|>") && strstr(err, "not a token"), "%s", err);
        } else {
            CHECK(chat_template_for_tokenizer(&ct, &t, "", err, sizeof err) != 0);   // no chat_template in its config
            CHECK(chat_template_for_tokenizer(&ct, &t, "llama3", err, sizeof err) == 0);
            char *out = NULL;
            CHECK(render1(&ct, "user", "hi", 1, &out) == 0);
            CHECK(out && !strncmp(out, "<|begin_of_text|><|start_header_id|>user", 39));
            free(out);
            chat_template_free(&ct);
        }
        tokenizer_free(&t);
        free(js); free(cj);
    }
}

int main(void) {
    const char *cache = getenv("RLVR_CACHE");
    snprintf(assets, sizeof assets, "%s/assets", cache && cache[0] ? cache : ".cache");
    const char *ta = getenv("RLVR_ASSETS");
    check_recognise();
    check_cases();
    check_named_and_errors();
    check_tokenizers(ta && ta[0] ? ta : ".assets");
    return tests_done();
}
