#include "common/io/hf_config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/core/files.h"

// Reads integer key K into *out. Absent (or null when null_ok): *out = dflt, or an error if required.
static int get_int(const char *path, json_t *root, const char *k, int required, int null_ok, int dflt, int *out,
                   char *err, size_t errlen) {
    json_t *v = json_object_get(root, k);
    if (!v || (null_ok && json_is_null(v))) {
        if (required) return rlvr_err(err, errlen, "config '%s': required key '%s' is missing", path, k);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
        return rlvr_err(err, errlen, "config '%s': key '%s' must be an integer%s", path, k, null_ok ? " or null" : "");
    *out = (int)json_integer_value(v);
    return 0;
}

// eos_token_id: a number, a list of numbers (generation stops at any of them) or null. Adds each id
// to c's list (config.json's first, then generation_config.json's).
static int get_eos(const char *path, json_t *root, ModelConfig *c, char *err, size_t errlen) {
    json_t *v = json_object_get(root, "eos_token_id");
    if (!v || json_is_null(v)) return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(x) || json_integer_value(x) > INT_MAX)
            return rlvr_err(err, errlen, "config '%s': key 'eos_token_id' must be a token id, a list of token ids or null", path);
        if (json_integer_value(x) < 0) continue;   // -1: none
        if (!model_config_add_eos(c, (int)json_integer_value(x)) && c->n_eos >= MODEL_MAX_EOS)
            return rlvr_err(err, errlen, "config '%s': more than %d eos_token_id values", path, MODEL_MAX_EOS);
    }
    return 0;
}

static int get_float(const char *path, json_t *root, const char *k, float dflt, float *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, k);
    if (!v) { *out = dflt; return 0; }
    if (!json_is_number(v)) return rlvr_err(err, errlen, "config '%s': key '%s' must be a number", path, k);
    *out = (float)json_number_value(v);
    return 0;
}

static int get_bool(const char *path, json_t *root, const char *k, int dflt, int *out, char *err, size_t errlen) {
    json_t *v = json_object_get(root, k);
    if (!v || json_is_null(v)) { *out = dflt; return 0; }
    if (!json_is_boolean(v)) return rlvr_err(err, errlen, "config '%s': key '%s' must be true or false", path, k);
    *out = json_is_true(v);
    return 0;
}

static int parse_config(const char *path, json_t *root, ModelConfig *c, char *err, size_t errlen) {
    if (!json_is_object(root)) return rlvr_err(err, errlen, "config '%s': top level is not a JSON object", path);
    model_config_default(c);
    // Architecture: "architectures"[0] when present, else model_type.
    const char *arch = NULL, *mtype = NULL;
    json_t *a = json_object_get(root, "architectures");
    if (a && !json_is_null(a)) {
        if (!json_is_array(a) || json_array_size(a) == 0 || !json_is_string(json_array_get(a, 0)))
            return rlvr_err(err, errlen, "config '%s': 'architectures' must be a non-empty list of strings", path);
        arch = json_string_value(json_array_get(a, 0));
    }
    json_t *mt = json_object_get(root, "model_type");
    if (mt) {
        if (!json_is_string(mt)) return rlvr_err(err, errlen, "config '%s': 'model_type' must be a string", path);
        mtype = json_string_value(mt);
    }
    if (arch) {
        if (strcmp(arch, "Qwen2ForCausalLM") == 0) c->arch = ARCH_QWEN2;
        else if (strcmp(arch, "LlamaForCausalLM") == 0) c->arch = ARCH_LLAMA;
        else return rlvr_err(err, errlen, "config '%s': unsupported architecture '%s' (supported: Qwen2ForCausalLM, LlamaForCausalLM)", path, arch);
    } else if (mtype) {
        if (strcmp(mtype, "qwen2") == 0) c->arch = ARCH_QWEN2;
        else if (strcmp(mtype, "llama") == 0) c->arch = ARCH_LLAMA;
        else return rlvr_err(err, errlen, "config '%s': unsupported model_type '%s' (supported: qwen2, llama)", path, mtype);
    } else {
        return rlvr_err(err, errlen, "config '%s': neither 'architectures' nor 'model_type' is set (hint: add \"architectures\": [\"Qwen2ForCausalLM\"])", path);
    }
    const char *want_type = c->arch == ARCH_QWEN2 ? "qwen2" : "llama";
    if (mtype && strcmp(mtype, want_type) != 0)
        return rlvr_err(err, errlen, "config '%s': model_type '%s' does not match architecture %s (expected '%s')",
                        path, mtype, model_arch_name(c->arch), want_type);

    if (get_int(path, root, "vocab_size", 1, 0, 0, &c->vocab_size, err, errlen) ||
        get_int(path, root, "hidden_size", 1, 0, 0, &c->hidden_size, err, errlen) ||
        get_int(path, root, "intermediate_size", 1, 0, 0, &c->intermediate_size, err, errlen) ||
        get_int(path, root, "num_hidden_layers", 1, 0, 0, &c->num_layers, err, errlen) ||
        get_int(path, root, "num_attention_heads", 1, 0, 0, &c->num_heads, err, errlen) ||
        get_int(path, root, "num_key_value_heads", 0, 1, c->num_heads, &c->num_kv_heads, err, errlen) ||
        get_int(path, root, "max_position_embeddings", 0, 0, c->max_position_embeddings, &c->max_position_embeddings, err, errlen) ||
        get_float(path, root, "rope_theta", c->rope_theta, &c->rope_theta, err, errlen) ||
        get_float(path, root, "rms_norm_eps", c->rms_norm_eps, &c->rms_norm_eps, err, errlen) ||
        get_bool(path, root, "tie_word_embeddings", 0, &c->tie_word_embeddings, err, errlen) ||
        get_int(path, root, "bos_token_id", 0, 1, -1, &c->bos_token_id, err, errlen) ||
        get_eos(path, root, c, err, errlen) ||
        get_int(path, root, "pad_token_id", 0, 1, -1, &c->pad_token_id, err, errlen))
        return -1;
    if (c->num_heads > 0 && !json_object_get(root, "head_dim") && c->hidden_size % c->num_heads != 0)
        return rlvr_err(err, errlen, "config '%s': hidden_size %d is not a multiple of num_attention_heads %d and head_dim is not set",
                        path, c->hidden_size, c->num_heads);
    if (get_int(path, root, "head_dim", 0, 1, c->num_heads > 0 ? c->hidden_size / c->num_heads : 0, &c->head_dim, err, errlen))
        return -1;

    // Features that would change the computation: refuse instead of running a different model.
    // transformers < 5 writes rope_theta + rope_scaling; transformers 5 writes rope_parameters
    // {"rope_theta": ..., "rope_type": "default"}. A rope type of "default" is plain RoPE in both.
    for (int i = 0; i < 2; i++) {
        const char *key = i ? "rope_parameters" : "rope_scaling";
        json_t *rs = json_object_get(root, key);
        if (!rs || json_is_null(rs)) continue;
        if (!json_is_object(rs)) return rlvr_err(err, errlen, "config '%s': %s must be an object or null", path, key);
        json_t *ty = json_object_get(rs, "rope_type");
        if (!ty) ty = json_object_get(rs, "type");
        if (!json_is_string(ty) || strcmp(json_string_value(ty), "default") != 0)
            return rlvr_err(err, errlen, "config '%s': %s (rope_type %s) is not supported, only plain RoPE "
                            "(hint: use a model without RoPE scaling, or set %s to null if you only need the original context length)",
                            path, key, json_is_string(ty) ? json_string_value(ty) : "missing", key);
        if (i == 1 && json_object_get(rs, "rope_theta") && get_float(path, rs, "rope_theta", c->rope_theta, &c->rope_theta, err, errlen))
            return -1;
    }
    json_t *lt = json_object_get(root, "layer_types");
    if (lt && !json_is_null(lt)) {
        if (!json_is_array(lt)) return rlvr_err(err, errlen, "config '%s': layer_types must be a list", path);
        for (size_t i = 0; i < json_array_size(lt); i++) {
            json_t *x = json_array_get(lt, i);
            if (!json_is_string(x) || strcmp(json_string_value(x), "full_attention") != 0)
                return rlvr_err(err, errlen, "config '%s': layer_types[%zu] is %s; only \"full_attention\" is supported (no sliding-window layers)",
                                path, i, json_is_string(x) ? json_string_value(x) : "not a string");
        }
    }
    int flag = 0;
    if (get_bool(path, root, "use_sliding_window", 0, &flag, err, errlen)) return -1;
    if (flag)
        return rlvr_err(err, errlen, "config '%s': use_sliding_window = true is not supported (full causal attention only); "
                        "set it to false if sequences stay below sliding_window", path);
    if (c->arch == ARCH_QWEN2) {
        c->qkv_bias = 1;   // Qwen2 always has q/k/v biases and never an o_proj bias
    } else {
        if (get_bool(path, root, "attention_bias", 0, &flag, err, errlen)) return -1;
        if (flag)
            return rlvr_err(err, errlen, "config '%s': attention_bias = true (LLaMA: biases on q/k/v/o projections) is not supported", path);
        if (get_bool(path, root, "mlp_bias", 0, &flag, err, errlen)) return -1;
        if (flag) return rlvr_err(err, errlen, "config '%s': mlp_bias = true is not supported", path);
        c->qkv_bias = 0;
    }
    json_t *act = json_object_get(root, "hidden_act");
    if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu") != 0))
        return rlvr_err(err, errlen, "config '%s': hidden_act must be \"silu\" (SwiGLU)", path);
    // transformers 5 renamed torch_dtype to dtype; either is informational for us (weights say their dtype).
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "dtype" : "torch_dtype";
        json_t *dt = json_object_get(root, k);
        if (dt && !json_is_null(dt) && !json_is_string(dt))
            return rlvr_err(err, errlen, "config '%s': %s must be a string such as \"bfloat16\"", path, k);
    }
    json_t *tok = json_object_get(root, "rlvr_tokenizer");
    if (tok && !json_is_null(tok)) {
        if (!json_is_string(tok) || strlen(json_string_value(tok)) >= sizeof(c->tokenizer))
            return rlvr_err(err, errlen, "config '%s': rlvr_tokenizer must be a short string such as \"char\"", path);
        snprintf(c->tokenizer, sizeof(c->tokenizer), "%s", json_string_value(tok));
    }
    char verr[256];
    if (model_config_validate(c, verr, sizeof(verr)) != 0)
        return rlvr_err(err, errlen, "config '%s': %s", path, verr);
    return 0;
}

int hf_generation_config_load(const char *path, ModelConfig *c, char *err, size_t errlen) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rlvr_err(err, errlen, "generation config '%s': not valid JSON: %s (line %d, column %d)", path, jerr.text, jerr.line, jerr.column);
    int rc = json_is_object(root) ? get_eos(path, root, c, err, errlen)
                                  : rlvr_err(err, errlen, "generation config '%s': top level is not a JSON object", path);
    json_decref(root);
    if (rc == 0) {
        char verr[256];
        if (model_config_validate(c, verr, sizeof(verr)) != 0) rc = rlvr_err(err, errlen, "generation config '%s': %s", path, verr);
    }
    return rc;
}

int hf_config_load(const char *path, ModelConfig *c, char *err, size_t errlen) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rlvr_err(err, errlen, "config '%s': not found (hint: an HF model directory holds config.json and model.safetensors)", path);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rlvr_err(err, errlen, "config '%s': not valid JSON: %s (line %d, column %d)", path, jerr.text, jerr.line, jerr.column);
    int rc = parse_config(path, root, c, err, errlen);
    json_decref(root);
    return rc;
}

void hf_format_float(float v, char *buf, size_t cap) {
    // Integral values as Python prints them (1000000.0, not 1e+06).
    if (fabsf(v) < 1e15f && v == (float)(long long)v) {
        snprintf(buf, cap, "%.1f", (double)v);
        return;
    }
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, cap, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    // Keep it a float for Python's json (10000 would load as int).
    if (!strpbrk(buf, ".eEn")) {
        size_t n = strlen(buf);
        if (n + 2 < cap) memcpy(buf + n, ".0", 3);
    }
}

static void id_or_null(char *buf, size_t cap, int id) {
    if (id < 0) snprintf(buf, cap, "null");
    else snprintf(buf, cap, "%d", id);
}

int hf_config_save(const ModelConfig *c, const char *path, char *err, size_t errlen) {
    char verr[256];
    if (model_config_validate(c, verr, sizeof(verr)) != 0) return rlvr_err(err, errlen, "config '%s': %s", path, verr);
    if (c->arch == ARCH_QWEN2 && !c->qkv_bias)
        return rlvr_err(err, errlen, "config '%s': Qwen2 models always have q/k/v biases; a Qwen2 model with qkv_bias = 0 "
                        "cannot be written as HF (hint: use the LLaMA architecture)", path);
    if (c->arch == ARCH_LLAMA && c->qkv_bias)
        return rlvr_err(err, errlen, "config '%s': LLaMA with q/k/v biases only has no HF equivalent (attention_bias also adds an "
                        "o_proj bias) (hint: use the Qwen2 architecture)", path);
    for (const char *p = c->tokenizer; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return rlvr_err(err, errlen, "config '%s': tokenizer name has characters that need escaping", path);
    char theta[32], eps[32], bos[16], eos[16 * (MODEL_MAX_EOS + 1)], pad[16];
    hf_format_float(c->rope_theta, theta, sizeof(theta));
    hf_format_float(c->rms_norm_eps, eps, sizeof(eps));
    id_or_null(bos, sizeof(bos), c->bos_token_id);
    // One EOS as a number (what most configs hold), several as a list, none as null.
    if (c->n_eos <= 1) id_or_null(eos, sizeof(eos), c->n_eos ? c->eos_token_ids[0] : -1);
    else {
        size_t o = (size_t)snprintf(eos, sizeof(eos), "[");
        for (int i = 0; i < c->n_eos; i++) o += (size_t)snprintf(eos + o, sizeof(eos) - o, "%s%d", i ? ", " : "", c->eos_token_ids[i]);
        snprintf(eos + o, sizeof(eos) - o, "]");
    }
    id_or_null(pad, sizeof(pad), c->pad_token_id);
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f) die("open_memstream failed (out of memory)");
    const int qwen = c->arch == ARCH_QWEN2;
    fprintf(f, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n", model_arch_name(c->arch), qwen ? "qwen2" : "llama");
    fprintf(f, "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
               "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"head_dim\": %d,\n  \"max_position_embeddings\": %d,\n",
            c->vocab_size, c->hidden_size, c->intermediate_size, c->num_layers, c->num_heads, c->num_kv_heads, c->head_dim,
            c->max_position_embeddings);
    fprintf(f, "  \"rope_theta\": %s,\n  \"rope_scaling\": null,\n  \"rms_norm_eps\": %s,\n  \"hidden_act\": \"silu\",\n"
               "  \"tie_word_embeddings\": %s,\n", theta, eps, c->tie_word_embeddings ? "true" : "false");
    if (qwen) fprintf(f, "  \"use_sliding_window\": false,\n  \"sliding_window\": null,\n  \"max_window_layers\": %d,\n", c->num_layers);
    else fprintf(f, "  \"attention_bias\": false,\n  \"mlp_bias\": false,\n");
    fprintf(f, "  \"attention_dropout\": 0.0,\n  \"initializer_range\": 0.02,\n  \"use_cache\": true,\n"
               "  \"bos_token_id\": %s,\n  \"eos_token_id\": %s,\n  \"pad_token_id\": %s,\n  \"torch_dtype\": \"float32\"", bos, eos, pad);
    if (c->tokenizer[0]) fprintf(f, ",\n  \"rlvr_tokenizer\": \"%s\"", c->tokenizer);
    fprintf(f, "\n}\n");
    if (fclose(f) != 0) die("writing config.json text to memory failed (out of memory)");
    int rc = file_write_atomic(path, text, text_len, err, errlen);
    free(text);
    return rc;
}
