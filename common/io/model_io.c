// model_load / model_save_hf / model_save_native: the two model file formats behind one call.
#include "common/io/model_io.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/core/files.h"
#include "common/io/gguf.h"
#include "common/io/gguf_model.h"
#include "common/io/gguf_tokenizer.h"
#include "common/io/hf_config.h"
#include "common/io/model_h5.h"
#include "common/io/safetensors.h"

static int join(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Tensors that HF checkpoints may carry but that hold no parameters of ours.
static int harmless_tensor(const char *name) {
    size_t n = strlen(name), k = strlen("rotary_emb.inv_freq");
    return n >= k && strcmp(name + n - k, "rotary_emb.inv_freq") == 0;
}

typedef struct {
    Model *m;
    unsigned char *loaded;  // (num_tensors) 1 once read
    float *tied_lm_head;    // (V, C) lm_head.weight found in a tied checkpoint, checked at the end
} HfLoad;

// Reads every tensor of one shard into the model. weight_map (may be NULL) is the index's map,
// used to check that the shard holds what the index says.
static int load_shard(HfLoad *L, const char *file, const char *shard_name, json_t *weight_map, char *err, size_t errlen) {
    SafeTensors st;
    if (st_open(&st, file, err, errlen) != 0) return -1;
    Model *m = L->m;
    int rc = 0;
    for (int i = 0; i < st.num_tensors && rc == 0; i++) {
        const StTensor *t = &st.tensors[i];
        if (harmless_tensor(t->name)) continue;
        const TensorInfo *ti = model_find_tensor(m, t->name);
        float *dst = NULL;
        size_t want_shape[2], want_nd;
        if (ti) {
            dst = m->params + ti->offset;
            want_nd = (size_t)ti->ndim;
            want_shape[0] = ti->shape[0];
            want_shape[1] = ti->shape[1];
            if (L->loaded[ti - m->tensors]) {
                rc = rlvr_err(err, errlen, "safetensors '%s': tensor '%s' appears in more than one shard", file, t->name);
                break;
            }
        } else if (m->cfg.tie_word_embeddings && strcmp(t->name, "lm_head.weight") == 0 && !L->tied_lm_head) {
            // Some exporters write the tied head too; accept it if it equals the embedding (checked later).
            L->tied_lm_head = mallocCheck((size_t)m->cfg.vocab_size * m->cfg.hidden_size * sizeof(float));
            dst = L->tied_lm_head;
            want_nd = 2;
            want_shape[0] = (size_t)m->cfg.vocab_size;
            want_shape[1] = (size_t)m->cfg.hidden_size;
        } else {
            rc = rlvr_err(err, errlen, "safetensors '%s': unexpected tensor '%s' for %s with %d layers%s "
                          "(hint: config.json does not describe these weights)", file, t->name, model_arch_name(m->cfg.arch),
                          m->cfg.num_layers, m->cfg.tie_word_embeddings ? ", tied embeddings" : ", untied embeddings");
            break;
        }
        int shape_ok = (size_t)t->ndim == want_nd && t->shape[0] == want_shape[0] && (want_nd == 1 || t->shape[1] == want_shape[1]);
        if (!shape_ok) {
            char got[160], want[160];
            rc = rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has shape %s, expected %s from config.json "
                          "(hint: config.json does not match the weights)", file, t->name,
                          st_shape_str(t->shape, t->ndim, got, sizeof(got)), st_shape_str(want_shape, (int)want_nd, want, sizeof(want)));
            break;
        }
        if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) {
            rc = rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has unsupported dtype %s (supported: F32, BF16, F16)",
                          file, t->name, st_dtype_name(t->dtype));
            break;
        }
        if (weight_map) {
            json_t *w = json_object_get(weight_map, t->name);
            if (json_is_string(w) && strcmp(json_string_value(w), shard_name) != 0) {
                rc = rlvr_err(err, errlen, "safetensors '%s': tensor '%s' is here but the index places it in '%s' (hint: the index is stale)",
                              file, t->name, json_string_value(w));
                break;
            }
        }
        rc = st_read_f32(&st, t, dst, t->numel, err, errlen);
        if (rc == 0 && ti) L->loaded[ti - m->tensors] = 1;
    }
    st_close(&st);
    return rc;
}

static int shard_name_ok(const char *s) {
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

// config.json, plus the EOS ids of generation_config.json when the directory has one.
static int load_hf_config(const char *dir, ModelConfig *cfg, char *err, size_t errlen) {
    char path[4096];
    if (join(path, sizeof(path), dir, "config.json") != 0) return rlvr_err(err, errlen, "model '%s': path too long", dir);
    if (!file_exists(path))
        return rlvr_err(err, errlen, "model '%s': config.json not found (hint: an HF model directory holds config.json and model.safetensors)", dir);
    if (hf_config_load(path, cfg, err, errlen) != 0) return -1;
    join(path, sizeof(path), dir, "generation_config.json");
    if (file_exists(path) && hf_generation_config_load(path, cfg, err, errlen) != 0) return -1;
    return 0;
}

// The tokenizer files of an HF directory (each NULL when absent; tokenizer_config.json is read only
// beside a tokenizer.json).
static int load_hf_tokenizer(const char *dir, char **json, char **config_json, char *err, size_t errlen) {
    char path[4096];
    size_t n;
    *json = *config_json = NULL;
    if (join(path, sizeof(path), dir, "tokenizer.json") != 0 || !file_exists(path)) return 0;
    if (!(*json = read_file_all(path, &n, err, errlen))) return -1;
    join(path, sizeof(path), dir, "tokenizer_config.json");
    if (file_exists(path) && !(*config_json = read_file_all(path, &n, err, errlen))) {
        free(*json);
        *json = NULL;
        return -1;
    }
    return 0;
}

static int load_hf(const char *dir, Model *m, char *err, size_t errlen) {
    char path[4096];
    ModelConfig cfg;
    if (load_hf_config(dir, &cfg, err, errlen) != 0) return -1;
    if (model_init(m, &cfg, err, errlen) != 0) return -1;

    // Shards: model.safetensors, else the files named by model.safetensors.index.json.
    char **shards = NULL;
    int nshards = 0, rc = 0;
    json_t *index = NULL, *weight_map = NULL;
    char single[4096], idx[4096];
    join(single, sizeof(single), dir, "model.safetensors");
    join(idx, sizeof(idx), dir, "model.safetensors.index.json");
    if (file_exists(single)) {
        shards = mallocCheck(sizeof(char *));
        shards[nshards++] = strdupCheck("model.safetensors");
    } else if (file_exists(idx)) {
        json_error_t jerr;
        index = json_load_file(idx, JSON_REJECT_DUPLICATES, &jerr);
        if (!index) rc = rlvr_err(err, errlen, "index '%s': not valid JSON: %s (line %d)", idx, jerr.text, jerr.line);
        else if (!json_is_object(weight_map = json_object_get(index, "weight_map")))
            rc = rlvr_err(err, errlen, "index '%s': 'weight_map' object is missing", idx);
        else {
            shards = callocCheck(json_object_size(weight_map) + 1, sizeof(char *));
            const char *k;
            json_t *v;
            json_object_foreach(weight_map, k, v) {
                if (!json_is_string(v) || !shard_name_ok(json_string_value(v))) {
                    rc = rlvr_err(err, errlen, "index '%s': weight_map['%s'] must be a file name in the same directory", idx, k);
                    break;
                }
                int seen = 0;
                for (int s = 0; s < nshards && !seen; s++) seen = strcmp(shards[s], json_string_value(v)) == 0;
                if (!seen) shards[nshards++] = strdupCheck(json_string_value(v));
            }
            if (rc == 0 && nshards == 0) rc = rlvr_err(err, errlen, "index '%s': weight_map is empty", idx);
        }
    } else {
        rc = rlvr_err(err, errlen, "model '%s': neither model.safetensors nor model.safetensors.index.json found "
                      "(hint: PyTorch .bin weights are not supported; re-save with save_pretrained(..., safe_serialization=True))", dir);
    }
    HfLoad L = {m, callocCheck((size_t)m->num_tensors, 1), NULL};
    for (int s = 0; s < nshards && rc == 0; s++) {
        if (join(path, sizeof(path), dir, shards[s]) != 0) { rc = rlvr_err(err, errlen, "model '%s': path too long", dir); break; }
        rc = load_shard(&L, path, shards[s], weight_map, err, errlen);
    }
    for (int i = 0; i < m->num_tensors && rc == 0; i++) {
        if (L.loaded[i]) continue;
        char want[160];
        rc = rlvr_err(err, errlen, "model '%s': tensor '%s' %s is missing from the weights (hint: config.json does not match the weights, "
                      "or a shard is missing)", dir, m->tensors[i].name, st_shape_str(m->tensors[i].shape, m->tensors[i].ndim, want, sizeof(want)));
    }
    if (rc == 0 && L.tied_lm_head) {
        ModelView v;
        model_view(m, m->params, &v);
        if (memcmp(L.tied_lm_head, v.embed_tokens, (size_t)m->cfg.vocab_size * m->cfg.hidden_size * sizeof(float)) != 0)
            rc = rlvr_err(err, errlen, "model '%s': tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight "
                          "(hint: set tie_word_embeddings to false in config.json)", dir);
    }
    if (rc == 0) rc = load_hf_tokenizer(dir, &m->tokenizer_json, &m->tokenizer_config_json, err, errlen);
    free(L.loaded);
    free(L.tied_lm_head);
    for (int s = 0; s < nshards; s++) free(shards[s]);
    free(shards);
    json_decref(index);
    if (rc != 0) model_free(m);
    return rc;
}

static int load_native(const char *path, Model *m, char *err, size_t errlen) {
    H5Quiet q;
    h5_quiet_begin(&q);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        char h5e[256];
        h5_error_text(h5e, sizeof(h5e));
        h5_quiet_end(&q);
        return rlvr_err(err, errlen, "model file '%s': HDF5 cannot open it: %s (hint: the file is truncated or corrupt)", path, h5e);
    }
    char magic[32], aerr[256];
    long long version = 0;
    int rc = 0;
    if (h5_attr_read_str(f, "magic", magic, sizeof(magic), aerr, sizeof(aerr)) != 0 || strcmp(magic, MODEL_H5_MAGIC) != 0)
        rc = rlvr_err(err, errlen, "model file '%s': root attribute magic is not \"%s\" (hint: this HDF5 file is not an rlvr model; "
                      "checkpoints are loaded with the checkpoint tools)", path, MODEL_H5_MAGIC);
    else if (h5_attr_read_int(f, "format_version", &version, aerr, sizeof(aerr)) != 0)
        rc = rlvr_err(err, errlen, "model file '%s': %s", path, aerr);
    else if (version != MODEL_H5_VERSION)
        rc = rlvr_err(err, errlen, "model file '%s': format_version %lld is not supported (this build reads version %d)",
                      path, version, MODEL_H5_VERSION);
    else
        rc = model_h5_read(f, m, err, errlen);
    H5Fclose(f);
    h5_quiet_end(&q);
    return rc;
}

// A llama.cpp GGUF file: the weights dequantized to float32 and, when its vocabulary is of a family
// the BPE tokenizer reproduces exactly, the tokenizer as tokenizer.json text (else none: see
// model_gguf_tokenizer_error).
static int load_gguf(const char *path, Model *m, char *err, size_t errlen) {
    Gguf g;
    if (gguf_open(&g, path, err, errlen) != 0) return -1;
    int rc = gguf_load_model(&g, m, err, errlen);
    if (rc == 0) {
        char terr[512];
        m->tokenizer_json = gguf_tokenizer_json(&g, terr, sizeof terr);
        if (m->tokenizer_json) m->tokenizer_config_json = gguf_tokenizer_config_json(&g, terr, sizeof terr);
        if (!m->tokenizer_config_json) {
            free(m->tokenizer_json);
            m->tokenizer_json = NULL;
        }
    }
    gguf_close(&g);
    return rc;
}

int model_is_gguf(const char *path) {
    unsigned char head[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(head, 1, 4, f);
    fclose(f);
    return got == 4 && memcmp(head, "GGUF", 4) == 0;
}

int model_gguf_tokenizer_error(const char *path, char *err, size_t errlen) {
    Gguf g;
    if (gguf_open(&g, path, err, errlen) != 0) return -1;
    char *tok = gguf_tokenizer_json(&g, err, errlen);
    char *cfg = tok ? gguf_tokenizer_config_json(&g, err, errlen) : NULL;
    int rc = tok && cfg ? 0 : -1;
    free(tok);
    free(cfg);
    gguf_close(&g);
    return rc;
}

int model_load(const char *path, Model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rlvr_err(err, errlen, "model '%s': %s (hint: pass an HF model directory or a native .h5 model file)", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return load_hf(path, m, err, errlen);
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return rlvr_err(err, errlen, "model '%s': cannot open: %s", path, strerror(errno));
    size_t got = fread(head, 1, 8, f);
    fclose(f);
    if (got == 8 && memcmp(head, sig, 8) == 0) return load_native(path, m, err, errlen);
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) return load_gguf(path, m, err, errlen);
    size_t n = strlen(path);
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0)
        return rlvr_err(err, errlen, "model '%s': a bare safetensors file has no config; pass the directory that holds it and config.json", path);
    return rlvr_err(err, errlen, "model '%s': neither an HF model directory, a native HDF5 model file nor a GGUF file (no HDF5 or GGUF signature)", path);
}

int model_save_hf(const Model *m, const char *dir, char *err, size_t errlen) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rlvr_err(err, errlen, "model '%s': cannot create directory: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return rlvr_err(err, errlen, "model '%s': exists and is not a directory (hint: HF output is a directory; use a .h5 name for a native file)", dir);
    char path[4096];
    if (join(path, sizeof(path), dir, "config.json") != 0) return rlvr_err(err, errlen, "model '%s': path too long", dir);
    if (hf_config_save(&m->cfg, path, err, errlen) != 0) return -1;
    StWriteEntry *e = callocCheck((size_t)m->num_tensors, sizeof(StWriteEntry));
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        e[i].name = t->name;
        e[i].dtype = ST_F32;
        e[i].ndim = t->ndim;
        e[i].shape[0] = t->shape[0];
        e[i].shape[1] = t->shape[1];
        e[i].data = m->params + t->offset;
    }
    // transformers refuses safetensors files whose metadata lacks format = pt.
    const char *meta[] = {"format", "pt", NULL};
    join(path, sizeof(path), dir, "model.safetensors");
    int rc = st_write(path, e, m->num_tensors, meta, err, errlen);
    free(e);
    if (rc == 0 && m->tokenizer_json) {
        join(path, sizeof(path), dir, "tokenizer.json");
        rc = file_write_atomic(path, m->tokenizer_json, strlen(m->tokenizer_json), err, errlen);
    }
    if (rc == 0 && m->tokenizer_config_json) {
        join(path, sizeof(path), dir, "tokenizer_config.json");
        rc = file_write_atomic(path, m->tokenizer_config_json, strlen(m->tokenizer_config_json), err, errlen);
    }
    return rc;
}

int model_save_native(const Model *m, const char *path, char *err, size_t errlen) {
    char *tmp = mallocCheck(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    H5Quiet q;
    h5_quiet_begin(&q);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (f < 0) {
        char h5e[256];
        rc = rlvr_err(err, errlen, "model file '%s': cannot create: %s (hint: check the directory exists and is writable)",
                      path, h5_error_text(h5e, sizeof(h5e)));
    } else {
        if (h5_attr_write_str(f, "magic", MODEL_H5_MAGIC) != 0 || h5_attr_write_int(f, "format_version", MODEL_H5_VERSION) != 0)
            rc = rlvr_err(err, errlen, "model file '%s': cannot write root attributes", path);
        if (rc == 0) rc = model_h5_write(f, m, err, errlen);
        if (H5Fclose(f) < 0 && rc == 0) rc = rlvr_err(err, errlen, "model file '%s': close failed (hint: disk full?)", path);
    }
    h5_quiet_end(&q);
    if (rc == 0 && rename(tmp, path) != 0) rc = rlvr_err(err, errlen, "model file '%s': rename from %s failed: %s", path, tmp, strerror(errno));
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}

// ---- the tokenizer alone ---------------------------------------------------------------------------

// The tokenizer of a Model holding only a config and the tokenizer texts (no tensors); `source`
// names where the tokenizer.json text came from in messages.
static int tokenizer_of(Model *shell, Tokenizer *t, const char *what, const char *source, char *err, size_t errlen) {
    char e2[1024];
    int rc = shell->tokenizer_json
                 ? tokenizer_load_json(t, shell->tokenizer_json, shell->tokenizer_config_json, &shell->cfg, source, e2, sizeof e2)
                 : tokenizer_from_model(t, shell, e2, sizeof e2);
    if (rc != 0 && shell->tokenizer_json) rlvr_err(err, errlen, "%s", e2);   // e2 names the file already
    else if (rc != 0) rlvr_err(err, errlen, "%s: %s", what, e2);
    free(shell->tokenizer_json);
    free(shell->tokenizer_config_json);
    return rc;
}

int model_load_tokenizer(const char *path, Tokenizer *t, char *err, size_t errlen) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rlvr_err(err, errlen, "tokenizer '%s': %s (hint: pass a tokenizer.json, an HF model directory or a .h5 model)", path, strerror(errno));
    Model shell;
    memset(&shell, 0, sizeof shell);
    model_config_default(&shell.cfg);
    if (S_ISDIR(sb.st_mode)) {
        char cj[4096];
        join(cj, sizeof(cj), path, "config.json");
        if (file_exists(cj) && load_hf_config(path, &shell.cfg, err, errlen) != 0) return -1;
        if (load_hf_tokenizer(path, &shell.tokenizer_json, &shell.tokenizer_config_json, err, errlen) != 0) return -1;
        if (!shell.tokenizer_json && !file_exists(cj))
            return rlvr_err(err, errlen, "tokenizer '%s': the directory holds neither tokenizer.json nor config.json", path);
        char src[4096];
        join(src, sizeof(src), path, "tokenizer.json");
        return tokenizer_of(&shell, t, path, src, err, errlen);
    }
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return rlvr_err(err, errlen, "tokenizer '%s': cannot open: %s", path, strerror(errno));
    size_t got = fread(head, 1, 8, f);
    fclose(f);
    if (got == 8 && memcmp(head, sig, 8) == 0) {   // a native model file or a checkpoint: config/ and tokenizer/
        H5Quiet q;
        h5_quiet_begin(&q);
        hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        int rc = h < 0 ? rlvr_err(err, errlen, "tokenizer '%s': HDF5 cannot open it (hint: the file is truncated or corrupt)", path) : 0;
        if (rc == 0) rc = model_h5_read_config(h, &shell.cfg, err, errlen);
        if (rc == 0) rc = model_h5_read_tokenizer(h, &shell.tokenizer_json, &shell.tokenizer_config_json, err, errlen);
        if (h >= 0) H5Fclose(h);
        h5_quiet_end(&q);
        if (rc != 0) return -1;
        char src[4096];
        snprintf(src, sizeof(src), "%s:tokenizer/tokenizer.json", path);
        return tokenizer_of(&shell, t, path, src, err, errlen);
    }
    if (model_is_gguf(path)) {
        Gguf g;
        if (gguf_open(&g, path, err, errlen) != 0) return -1;
        int rc = gguf_model_config(&g, &shell.cfg, err, errlen);
        if (rc == 0 && !(shell.tokenizer_json = gguf_tokenizer_json(&g, err, errlen))) rc = -1;
        if (rc == 0 && !(shell.tokenizer_config_json = gguf_tokenizer_config_json(&g, err, errlen))) rc = -1;
        gguf_close(&g);
        if (rc != 0) {
            free(shell.tokenizer_json);
            free(shell.tokenizer_config_json);
            return -1;
        }
        char src[4096];
        snprintf(src, sizeof(src), "%s (GGUF vocabulary)", path);
        return tokenizer_of(&shell, t, path, src, err, errlen);
    }
    size_t n;
    if (!(shell.tokenizer_json = read_file_all(path, &n, err, errlen))) return -1;
    // A tokenizer_config.json beside it brings the special tokens and the chat template.
    const char *slash = strrchr(path, '/');
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%.*stokenizer_config.json", slash ? (int)(slash - path + 1) : 0, path);
    if (file_exists(cpath) && !(shell.tokenizer_config_json = read_file_all(cpath, &n, err, errlen))) {
        free(shell.tokenizer_json);
        return -1;
    }
    char e2[1024];
    int rc = tokenizer_load_json(t, shell.tokenizer_json, shell.tokenizer_config_json, NULL, path, e2, sizeof e2);
    if (rc != 0) rlvr_err(err, errlen, "%s", e2);
    free(shell.tokenizer_json);
    free(shell.tokenizer_config_json);
    return rc;
}
