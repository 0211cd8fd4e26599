// rlvr tokenize --tokenizer PATH: text <-> ids, and chat messages -> the rendered prompt and its ids, as
// JSON Lines on stdin/stdout, one answer line per input line, for users and for tests against other
// tokenizers and transformers' apply_chat_template.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/core/check.h"
#include "common/engine/chat_template.h"
#include "common/engine/tokenizer.h"
#include "common/io/model_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr tokenize --tokenizer PATH [--chat-template NAME] [--info]\n"
               "  PATH    a tokenizer.json (a tokenizer_config.json beside it is read too), an HF model directory,\n"
               "          a native .h5 model or checkpoint, or a .gguf file (the tokenizer stored in it)\n"
               "  --chat-template NAME   render messages with this built-in renderer (" CHAT_TEMPLATE_NAMES "),\n"
               "          not the one recognised from the tokenizer's chat template\n"
               "  --info  print one JSON line describing the tokenizer and exit\n"
               "Reads JSON Lines on stdin and writes one line for each:\n"
               "  {\"text\": \"...\"}  -> {\"ids\": [...]}     (\"add_special_tokens\": true adds BOS where the tokenizer does)\n"
               "  {\"ids\": [...]}   -> {\"text\": \"...\"}    (\"skip_special_tokens\": true leaves out special tokens)\n"
               "  {\"messages\": [{\"role\": \"user\", \"content\": \"...\"}, ...], \"add_generation_prompt\": true}\n"
               "                   -> {\"text\": rendered, \"ids\": [...]} as transformers' apply_chat_template (roles\n"
               "                   system, user, assistant; \"date_string\" sets LLaMA-3.1 / 3.2's date; the ids are\n"
               "                   the text's without added special tokens: the template writes its own)\n"
               "  anything else    -> {\"error\": \"...\"}, and it goes on with the next line\n"
               "Invalid UTF-8 in a text is read as U+FFFD, as HF tokenizers sees Python's decode(errors=\"replace\").\n");
}

static json_t *error_line(const char *fmt, const char *arg) {
    char msg[2048];
    snprintf(msg, sizeof msg, fmt, arg);
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    return o;
}

static int flag(json_t *o, const char *key, int *out, char *msg, size_t cap) {
    json_t *v = json_object_get(o, key);
    if (!v) { *out = 0; return 0; }
    if (!json_is_boolean(v)) { snprintf(msg, cap, "'%s' must be true or false", key); return -1; }
    *out = json_is_true(v);
    return 0;
}

static json_t *info(const Tokenizer *t) {
    json_t *o = json_object(), *eos = json_array();
    json_object_set_new(o, "type", json_string(t->type));
    json_object_set_new(o, "vocab_size", json_integer(t->vocab_size));
    json_object_set_new(o, "bos_id", json_integer(t->bos_id));
    json_object_set_new(o, "add_bos", json_boolean(t->add_bos));
    json_object_set_new(o, "eos_id", json_integer(t->eos_id));
    for (int i = 0; i < t->n_eos; i++) json_array_append_new(eos, json_integer(t->eos_ids[i]));
    json_object_set_new(o, "eos_ids", eos);
    json_object_set_new(o, "pad_id", json_integer(t->pad_id));
    json_object_set_new(o, "chat_template", json_boolean(t->chat_template != NULL));
    ChatTemplate ct;
    char err[1024];
    if (t->chat_template && chat_template_for_tokenizer(&ct, t, "", err, sizeof err) == 0) {
        json_object_set_new(o, "chat_renderer", json_string(ct.name));
        chat_template_free(&ct);
    }
    return o;
}

// The renderer for messages lines: made on the first one, kept.
typedef struct {
    const char *force;       // --chat-template
    int tried, ok;
    ChatTemplate ct;
    char err[1536];
} ChatState;

static json_t *ids_array(const TokIds *v) {
    json_t *arr = json_array();
    for (size_t i = 0; i < v->n; i++) json_array_append_new(arr, json_integer(v->ids[i]));
    return arr;
}

// {"messages": [...], "add_generation_prompt": bool, "date_string": str} -> {"text", "ids"}
static json_t *render_messages(const Tokenizer *t, ChatState *cs, json_t *o) {
    char msg[1024];
    if (!cs->tried) {
        cs->tried = 1;
        cs->ok = chat_template_for_tokenizer(&cs->ct, t, cs->force, cs->err, sizeof cs->err) == 0;
    }
    if (!cs->ok) return error_line("%s", cs->err);
    json_t *jm = json_object_get(o, "messages"), *jd = json_object_get(o, "date_string");
    if (!json_is_array(jm) || json_array_size(jm) == 0) return error_line("%s", "\"messages\" must be a non-empty list of {\"role\", \"content\"}");
    int gen = 0;
    if (flag(o, "add_generation_prompt", &gen, msg, sizeof msg) != 0) return error_line("%s", msg);
    if (jd && !json_is_string(jd)) return error_line("%s", "\"date_string\" must be a string");
    size_t n = json_array_size(jm);
    ChatMessage *m = mallocCheck(n * sizeof *m);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(jm, i), *r = json_object_get(e, "role"), *c = json_object_get(e, "content");
        if (!json_is_object(e) || !json_is_string(r) || !json_is_string(c)) {
            free(m);
            snprintf(msg, sizeof msg, "messages[%zu] must be {\"role\": string, \"content\": string}", i);
            return error_line("%s", msg);
        }
        if (strlen(json_string_value(c)) != json_string_length(c)) {
            free(m);
            snprintf(msg, sizeof msg, "messages[%zu].content holds a NUL character", i);
            return error_line("%s", msg);
        }
        m[i].role = json_string_value(r);
        m[i].content = json_string_value(c);
    }
    char *text = NULL;
    json_t *res;
    if (chat_template_render(&cs->ct, m, n, gen, jd ? json_string_value(jd) : NULL, &text, msg, sizeof msg) != 0) {
        res = error_line("%s", msg);
    } else {
        TokIds v = {0};
        if (tokenizer_encode_str(t, text, 0, &v, msg, sizeof msg) != 0) res = error_line("%s", msg);
        else {
            res = json_object();
            json_object_set_new(res, "text", json_string(text));
            json_object_set_new(res, "ids", ids_array(&v));
        }
        tok_ids_free(&v);
    }
    free(text);
    free(m);
    return res;
}


// One request line -> its answer.
static json_t *answer(const Tokenizer *t, ChatState *cs, const char *line, char **buf, size_t *cap) {
    json_error_t je;
    json_t *o = json_loads(line, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (!o) return error_line("not valid JSON: %s", je.text);
    json_t *res = NULL, *text = json_object_get(o, "text"), *ids = json_object_get(o, "ids");
    char msg[512];
    int opt = 0;
    if (!json_is_object(o)) res = error_line("%s", "a line must be a JSON object with \"text\" or \"ids\"");
    else if (json_object_get(o, "messages")) {
        if (text || ids) res = error_line("%s", "give \"messages\", \"text\" or \"ids\", one of them");
        else res = render_messages(t, cs, o);
    }
    else if (text && ids) res = error_line("%s", "give \"text\" or \"ids\", not both");
    else if (text) {
        if (!json_is_string(text)) res = error_line("%s", "\"text\" must be a string");
        else if (flag(o, "add_special_tokens", &opt, msg, sizeof msg) != 0) res = error_line("%s", msg);
        else {
            TokIds v = {0};
            if (tokenizer_encode(t, json_string_value(text), json_string_length(text), opt ? TOK_ADD_SPECIAL : 0, &v, msg, sizeof msg) != 0)
                res = error_line("%s", msg);
            else {
                res = json_object();
                json_object_set_new(res, "ids", ids_array(&v));
            }
            tok_ids_free(&v);
        }
    } else if (ids) {
        if (!json_is_array(ids)) res = error_line("%s", "\"ids\" must be a list of token ids");
        else if (flag(o, "skip_special_tokens", &opt, msg, sizeof msg) != 0) res = error_line("%s", msg);
        else {
            size_t n = json_array_size(ids);
            int *v = mallocCheck((n ? n : 1) * sizeof(int));
            for (size_t i = 0; i < n && !res; i++) {
                json_t *x = json_array_get(ids, i);
                if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= t->vocab_size) {
                    snprintf(msg, sizeof msg, "ids[%zu] is not a token id in [0, %d)", i, t->vocab_size);
                    res = error_line("%s", msg);
                } else {
                    v[i] = (int)json_integer_value(x);
                }
            }
            if (!res) {
                size_t len = tokenizer_decode(t, v, n, opt ? TOK_SKIP_SPECIAL : 0, buf, cap);
                res = json_object();
                json_object_set_new(res, "text", json_stringn(*buf, len));
            }
            free(v);
        }
    } else {
        res = error_line("%s", "a line must have \"text\" (to encode), \"ids\" (to decode) or \"messages\" (to render)");
    }
    json_decref(o);
    return res;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int want_info = 0;
    ChatState cs;
    memset(&cs, 0, sizeof cs);
    cs.force = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--chat-template") && i + 1 < argc) cs.force = argv[++i];
        else if (!strcmp(argv[i], "--info")) want_info = 1;
        else { fprintf(stderr, "rlvr tokenize: unknown option '%s'\n", argv[i]); usage(stderr); return 2; }
    }
    if (!path) { fprintf(stderr, "rlvr tokenize: --tokenizer PATH is required\n"); usage(stderr); return 2; }
    if (cs.force[0]) {
        char e[512];
        if (chat_template_named(&cs.ct, cs.force, NULL, e, sizeof e) != 0) { fprintf(stderr, "rlvr tokenize: --chat-template: %s\n", e); return 2; }
        chat_template_free(&cs.ct);
    }
    Tokenizer t;
    char err[2048];
    if (model_load_tokenizer(path, &t, err, sizeof err) != 0) {
        fprintf(stderr, "rlvr tokenize: %s\n", err);
        return 1;
    }
    int rc = 0;
    char *line = NULL, *buf = NULL;
    size_t lcap = 0, cap = 0;
    ssize_t n;
    if (want_info) {
        json_t *o = info(&t);
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    }
    while (!want_info && (n = getline(&line, &lcap, stdin)) > 0) {
        json_t *res = answer(&t, &cs, line, &buf, &cap);
        char *s = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        if (!s || printf("%s\n", s) < 0 || fflush(stdout) != 0) {
            fprintf(stderr, "rlvr tokenize: writing the answer failed\n");
            free(s);
            rc = 1;
            break;
        }
        free(s);
    }
    free(line);
    free(buf);
    if (cs.ok) chat_template_free(&cs.ct);
    tokenizer_free(&t);
    return rc;
}
