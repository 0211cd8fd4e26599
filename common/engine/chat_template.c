// Chat templates; see chat_template.h.
#include "common/engine/chat_template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/core/check.h"

#define QWEN25_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
#define SMOLLM2_SYSTEM "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
#define LLAMA31_DATE "26 Jul 2024"
#define LLAMA_DATE_FORMAT "%d %b %Y"   // transformers' strftime_now("%d %b %Y") in LLaMA-3.2's template
#define CHATML_SYSTEM_OPEN "<|im_start|>system\n"
#define CHATML_END "<|im_end|>\n"
#define MAX_DEFAULT_SYSTEM 65536       // bytes; a longer "default system prompt" is not one

// FNV-1a 64 of a template's text after normalize_template (below), computed from the shipped texts:
// llama.cpp's models/templates/ (Qwen2.5-7B-Instruct, Llama-3.1-8B / 3.3-70B / 3.2-3B-Instruct),
// llama-cpp-python's LLAMA3_INSTRUCT_CHAT_TEMPLATE and SmolLM2-135M-Instruct's GGUF.
// tests/test_chat_template.c recognises each of those files and refuses every other template there.
typedef struct {
    uint64_t hash;
    const char *name;   // built-in renderer
} KnownTemplate;

static const KnownTemplate KNOWN[] = {
    {0xda0e1465d06d30c6ULL, "qwen2.5"},    // Qwen2.5-*-Instruct (its default system prompt is the free part)
    {0xbb0a968c716f2675ULL, "smollm2"},    // SmolLM2-*-Instruct, Qwen2 (the same shape, their own system prompts)
    {0x0e60067a5537498eULL, "llama3"},     // Meta-Llama-3-*-Instruct
    {0xcc0368e1ffb6b958ULL, "llama3.1"},   // Llama-3.1-*-Instruct and Llama-3.3-70B-Instruct
    {0x368f4c34b8554414ULL, "llama3.2"},   // Llama-3.2-*-Instruct
};

// ---- a growable string ------------------------------------------------------------------------------
typedef struct {
    char *s;
    size_t n, cap;
} Str;

static void str_add(Str *b, const char *p, size_t len) {
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        b->s = reallocCheck(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->n, p, len);
    b->n += len;
    b->s[b->n] = '\0';
}
static void str_cat(Str *b, const char *p) { str_add(b, p, strlen(p)); }

// ---- Python's str.strip() (jinja's trim) --------------------------------------------------------------
// Code points for which Python's str.isspace() is true: Unicode White_Space plus the bidi classes B / S
// (U+001C..U+001F). U+180E and U+200B are not whitespace.
static int py_space(uint32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
    if (c < 0x80) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes one UTF-8 sequence at p (n >= 1 bytes left): its code point and length. An invalid byte
// reads as a non-character of length 1 (never whitespace: every whitespace code point is valid UTF-8).
#define NOT_A_CHAR 0xFFFFFFFFu
static uint32_t utf8_at(const unsigned char *p, size_t n, int *len) {
    const unsigned char c = p[0];
    const int need = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    *len = 1;
    if (need == 0) return c;
    if (need < 0 || (size_t)need >= n) return NOT_A_CHAR;
    uint32_t cp = c & (0x3Fu >> need);
    for (int i = 1; i <= need; i++) {
        if ((p[i] & 0xC0) != 0x80) return NOT_A_CHAR;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    *len = need + 1;
    return cp;
}

// The [*start, *end) byte range of s without leading and trailing whitespace.
static void py_strip(const char *s, size_t *start, size_t *end) {
    const unsigned char *p = (const unsigned char *)s;
    const size_t n = strlen(s);
    size_t first = n, last_end = 0;
    for (size_t i = 0; i < n;) {
        int len;
        const uint32_t c = utf8_at(p + i, n - i, &len);
        if (!py_space(c)) {
            if (first == n) first = i;
            last_end = i + (size_t)len;
        }
        i += (size_t)len;
    }
    *start = first == n ? 0 : first;
    *end = first == n ? 0 : last_end;
}

static void str_add_trimmed(Str *b, const char *s) {
    size_t a, e;
    py_strip(s, &a, &e);
    str_add(b, s + a, e - a);
}

// ---- recognition -------------------------------------------------------------------------------------
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) { h ^= c[i]; h *= 0x100000001b3ULL; }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

typedef struct {
    size_t start, end;   // the literal in the source, quotes included
    char *value;         // its value (escapes decoded), NULL when it uses an escape we do not decode
} Literal;

// Decodes a jinja string literal body (between the quotes) the way jinja's lexer does for the escapes
// templates use (\n \t \r \\ \' \"; CR LF and CR become LF). Returns NULL for any other escape.
static char *literal_value(const char *p, size_t n) {
    char *v = mallocCheck(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\r') { v[k++] = '\n'; if (i + 1 < n && p[i + 1] == '\n') i++; continue; }
        if (c != '\\') { v[k++] = c; continue; }
        if (++i >= n) { free(v); return NULL; }
        switch (p[i]) {
        case 'n': v[k++] = '\n'; break;
        case 't': v[k++] = '\t'; break;
        case 'r': v[k++] = '\r'; break;
        case '\\': v[k++] = '\\'; break;
        case '\'': v[k++] = '\''; break;
        case '"': v[k++] = '"'; break;
        default: free(v); return NULL;
        }
    }
    v[k] = '\0';
    return v;
}

// The string literals inside {{ }} and {% %} tags (raw text and {# #} comments are skipped).
// Returns the count; *out malloc'd.
static size_t find_literals(const char *t, Literal **out) {
    size_t n = 0, cap = 16, len = strlen(t);
    Literal *L = mallocCheck(cap * sizeof *L);
    size_t i = 0;
    while (i < len) {
        if (t[i] != '{' || i + 1 >= len || (t[i + 1] != '{' && t[i + 1] != '%' && t[i + 1] != '#')) { i++; continue; }
        const char kind = t[i + 1];
        const char close = kind == '{' ? '}' : kind;
        i += 2;
        if (kind == '#') {   // comment: up to #}
            const char *e = strstr(t + i, "#}");
            i = e ? (size_t)(e - t) + 2 : len;
            continue;
        }
        while (i < len && !(t[i] == close && i + 1 < len && t[i + 1] == '}')) {
            if (t[i] == '\'' || t[i] == '"') {
                const char q = t[i];
                size_t j = i + 1;
                while (j < len && t[j] != q) j += t[j] == '\\' && j + 1 < len ? 2 : 1;
                if (j >= len) break;   // unterminated: not a template we know
                if (n == cap) { cap *= 2; L = reallocCheck(L, cap * sizeof *L); }
                L[n].start = i;
                L[n].end = j + 1;
                L[n].value = literal_value(t + i + 1, j - i - 1);
                n++;
                i = j + 1;
            } else {
                i++;
            }
        }
        i += 2;
    }
    *out = L;
    return n;
}

// A ChatML template's default system prompt X: the value of a literal "<|im_start|>system\n" X
// "<|im_end|>\n" (X not empty), or NULL.
static const char *chatml_default_system(const Literal *L, size_t n) {
    const size_t open = strlen(CHATML_SYSTEM_OPEN), end = strlen(CHATML_END);
    for (size_t i = 0; i < n; i++) {
        const char *v = L[i].value;
        if (!v) continue;
        size_t len = strlen(v);
        if (len > open + end && len - open - end <= MAX_DEFAULT_SYSTEM && !strncmp(v, CHATML_SYSTEM_OPEN, open) &&
            !strcmp(v + len - end, CHATML_END))
            return v;
    }
    return NULL;
}

// The hash that identifies a template: its text, with one "\n" after a final block tag dropped
// (jinja's trim_blocks, which transformers sets, removes it: files differ there), and, when the text
// has a ChatML default system prompt X, every literal whose value is X or the whole system turn
// replaced by a marker (so the prompt is the one free part). *system receives X (malloc'd) or NULL.
static uint64_t template_hash(const char *text, char **system) {
    *system = NULL;
    size_t len = strlen(text);
    if (len >= 3 && !strcmp(text + len - 3, "%}\n")) len--;
    Literal *L;
    size_t n = find_literals(text, &L);
    const char *turn = chatml_default_system(L, n);
    char *x = NULL;
    if (turn) {
        const size_t open = strlen(CHATML_SYSTEM_OPEN);
        x = strdupCheck(turn + open);
        x[strlen(x) - strlen(CHATML_END)] = '\0';
    }
    uint64_t h = FNV_INIT;
    size_t at = 0;
    for (size_t i = 0; i < n && x; i++) {
        const char *marker = NULL;
        if (L[i].value && !strcmp(L[i].value, turn)) marker = "\x02";
        else if (L[i].value && !strcmp(L[i].value, x)) marker = "\x01";
        if (!marker || L[i].end > len) continue;
        h = fnv1a(h, text + at, L[i].start - at);
        h = fnv1a(h, marker, 1);
        at = L[i].end;
    }
    h = fnv1a(h, text + at, len - at);
    for (size_t i = 0; i < n; i++) free(L[i].value);
    free(L);
    *system = x;
    return h;
}

// ---- building -------------------------------------------------------------------------------------------
static int builtin(ChatTemplate *ct, const char *name, const char *system, const char *bos) {
    memset(ct, 0, sizeof *ct);
    if (!strcmp(name, "qwen2.5") || !strcmp(name, "smollm2")) {
        ct->kind = CHAT_CHATML;
        ct->default_system = strdupCheck(system ? system : !strcmp(name, "qwen2.5") ? QWEN25_SYSTEM : SMOLLM2_SYSTEM);
    } else if (!strcmp(name, "llama3")) {
        ct->kind = CHAT_LLAMA3;
    } else if (!strcmp(name, "llama3.1") || !strcmp(name, "llama3.2")) {
        ct->kind = CHAT_LLAMA31;
        ct->date = !strcmp(name, "llama3.1") ? LLAMA31_DATE : NULL;
    } else {
        return -1;
    }
    snprintf(ct->name, sizeof ct->name, "%s", name);
    ct->bos_token = strdupCheck(bos ? bos : "");
    return 0;
}

int chat_template_named(ChatTemplate *ct, const char *name, const char *bos_token, char *err, size_t errlen) {
    if (!name || builtin(ct, name, NULL, bos_token) != 0)
        return rlvr_err(err, errlen, "unknown chat template '%s' (built-in: " CHAT_TEMPLATE_NAMES ")", name ? name : "(null)");
    return 0;
}

int chat_template_recognise(ChatTemplate *ct, const char *text, const char *bos_token, const char *source, char *err,
                            size_t errlen) {
    char *system;
    const uint64_t h = template_hash(text, &system);
    for (size_t i = 0; i < sizeof KNOWN / sizeof *KNOWN; i++)
        if (KNOWN[i].hash == h) {
            builtin(ct, KNOWN[i].name, system, bos_token);
            free(system);
            return 0;
        }
    free(system);
    return rlvr_err(err, errlen,
                    "%s: the chat template (hash %016llx) is not one of the built-in renderers (" CHAT_TEMPLATE_NAMES
                    ", recognised by their text); set data.chat_template: NAME (rlvr eval / analyze / tokenize: "
                    "--chat-template NAME) to render prompts with one of them, or leave data.apply_chat_template off",
                    source ? source : "chat template", (unsigned long long)h);
}

// The markers a renderer writes, each of which must be one token of the tokenizer.
static const char *const CHATML_MARKERS[] = {"<|im_start|>", "<|im_end|>", NULL};
static const char *const LLAMA_MARKERS[] = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL};

int chat_template_for_tokenizer(ChatTemplate *ct, const Tokenizer *t, const char *force_name, char *err, size_t errlen) {
    memset(ct, 0, sizeof *ct);
    const char *bos = t->bos_token ? t->bos_token : "";
    if (force_name && force_name[0]) {
        if (chat_template_named(ct, force_name, bos, err, errlen) != 0) return -1;
    } else if (!t->chat_template) {
        return rlvr_err(err, errlen, "the model's tokenizer (%s) has no chat template; set data.chat_template: NAME (rlvr "
                        "eval / analyze / tokenize: --chat-template NAME; built-in: " CHAT_TEMPLATE_NAMES ") or leave "
                        "data.apply_chat_template off", t->type);
    } else if (chat_template_recognise(ct, t->chat_template, bos, "tokenizer_config.json", err, errlen) != 0) {
        return -1;
    }
    const char *const *markers = ct->kind == CHAT_CHATML ? CHATML_MARKERS : LLAMA_MARKERS;
    for (int i = 0; markers[i]; i++)
        if (tokenizer_token_id(t, markers[i]) < 0) {
            char name[sizeof ct->name];
            snprintf(name, sizeof name, "%s", ct->name);
            chat_template_free(ct);
            return rlvr_err(err, errlen, "chat template %s writes %s, which is not a token of this %s tokenizer (it would be "
                            "encoded as plain text); pick the template of the model's family with data.chat_template",
                            name, markers[i], t->type);
        }
    if (ct->kind != CHAT_CHATML && !ct->bos_token[0] && t->bos_id >= 0) {
        // tokenizer_config.json without bos_token: the id's text is what transformers would know it by
        size_t len;
        const char *p = tokenizer_token_bytes(t, t->bos_id, &len);
        if (p) {
            free(ct->bos_token);
            ct->bos_token = mallocCheck(len + 1);
            memcpy(ct->bos_token, p, len);
            ct->bos_token[len] = '\0';
        }
    }
    return 0;
}

void chat_template_free(ChatTemplate *ct) {
    if (!ct) return;
    free(ct->default_system);
    free(ct->bos_token);
    memset(ct, 0, sizeof *ct);
}

// ---- rendering ------------------------------------------------------------------------------------------
static void llama_turn(Str *b, const char *role, const char *content) {
    str_cat(b, "<|start_header_id|>");
    str_cat(b, role);
    str_cat(b, "<|end_header_id|>\n\n");
    str_add_trimmed(b, content);
    str_cat(b, "<|eot_id|>");
}

int chat_template_render(const ChatTemplate *ct, const ChatMessage *msgs, size_t n, int add_generation_prompt,
                         const char *date_string, char **out, char *err, size_t errlen) {
    *out = NULL;
    if (n == 0) return rlvr_err(err, errlen, "a chat needs at least one message");
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")))
            return rlvr_err(err, errlen, "messages[%zu]: role '%s' is not supported (system, user, assistant)", i, r ? r : "(none)");
        if (!msgs[i].content) return rlvr_err(err, errlen, "messages[%zu]: no content", i);
    }
    Str b = {0};
    str_cat(&b, "");
    switch (ct->kind) {
    case CHAT_CHATML:
        if (strcmp(msgs[0].role, "system") && ct->default_system) {
            str_cat(&b, CHATML_SYSTEM_OPEN);
            str_cat(&b, ct->default_system);
            str_cat(&b, CHATML_END);
        }
        for (size_t i = 0; i < n; i++) {
            str_cat(&b, "<|im_start|>");
            str_cat(&b, msgs[i].role);
            str_cat(&b, "\n");
            str_cat(&b, msgs[i].content);
            str_cat(&b, CHATML_END);
        }
        if (add_generation_prompt) str_cat(&b, "<|im_start|>assistant\n");
        break;
    case CHAT_LLAMA3:
        str_cat(&b, ct->bos_token);
        for (size_t i = 0; i < n; i++) llama_turn(&b, msgs[i].role, msgs[i].content);
        if (add_generation_prompt) str_cat(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case CHAT_LLAMA31: {
        char today[64];
        const char *date = date_string ? date_string : ct->date;
        if (!date) {
            time_t now = time(NULL);
            struct tm tm;
            if (!localtime_r(&now, &tm) || strftime(today, sizeof today, LLAMA_DATE_FORMAT, &tm) == 0) {
                free(b.s);
                return rlvr_err(err, errlen, "cannot format today's date for the %s template", ct->name);
            }
            date = today;
        }
        size_t first = 0;
        str_cat(&b, ct->bos_token);
        str_cat(&b, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ");
        str_cat(&b, date);
        str_cat(&b, "\n\n");
        if (!strcmp(msgs[0].role, "system")) {
            str_add_trimmed(&b, msgs[0].content);
            first = 1;
        }
        str_cat(&b, "<|eot_id|>");
        for (size_t i = first; i < n; i++) llama_turn(&b, msgs[i].role, msgs[i].content);
        if (add_generation_prompt) str_cat(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    }
    default:
        free(b.s);
        return rlvr_err(err, errlen, "chat template not initialised");
    }
    *out = b.s;
    return 0;
}

int chat_template_user_prompt(const ChatTemplate *ct, const char *text, char **out, char *err, size_t errlen) {
    const ChatMessage m = {"user", text};
    return chat_template_render(ct, &m, 1, 1, NULL, out, err, errlen);
}

const char *chat_template_describe(const ChatTemplate *ct) {
    static char buf[512];
    if (ct->kind == CHAT_CHATML)
        snprintf(buf, sizeof buf, "%s (ChatML, default system prompt: \"%.300s%s\")", ct->name, ct->default_system,
                 strlen(ct->default_system) > 300 ? "..." : "");
    else if (ct->kind == CHAT_LLAMA31)
        snprintf(buf, sizeof buf, "%s (LLaMA-3 headers, system turn dated %s)", ct->name, ct->date ? ct->date : "today");
    else
        snprintf(buf, sizeof buf, "%s (LLaMA-3 headers)", ct->name);
    return buf;
}
