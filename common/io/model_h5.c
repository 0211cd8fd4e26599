#include "common/io/model_h5.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/io/checkpoint.h"

// ---- error handling ------------------------------------------------------------------------------

void h5_quiet_begin(H5Quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5_quiet_end(const H5Quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

typedef struct { char *buf; size_t cap; int done; } WalkCtx;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    WalkCtx *w = data;
    if (w->done) return 0;
    if (e->desc && e->desc[0]) {
        snprintf(w->buf, w->cap, "%s", e->desc);
        w->done = 1;
    } else if (H5Eget_msg(e->min_num, NULL, w->buf, w->cap) > 0) {
        w->done = 1;
    }
    return 0;
}

const char *h5_error_text(char *buf, size_t cap) {
    buf[0] = 0;
    WalkCtx w = {buf, cap, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    return buf;
}

const char *h5_file_name(hid_t loc, char *buf, size_t cap) {
    if (H5Fget_name(loc, buf, cap) < 0) snprintf(buf, cap, "?");
    return buf;
}

// ---- attributes ----------------------------------------------------------------------------------

static int attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *v) {
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mem_type, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int h5_attr_write_int(hid_t obj, const char *name, long long v) {
    // int32 on disk when it fits: that is what h5py users and h5dump expect for sizes and ids.
    if (v >= INT_MIN && v <= INT_MAX) {
        int x = (int)v;
        return attr_write(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, &x);
    }
    return attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

int h5_attr_write_int_array(hid_t obj, const char *name, const int *v, size_t n) {
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, H5T_NATIVE_INT, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int h5_attr_write_float(hid_t obj, const char *name, float v) { return attr_write(obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v); }
int h5_attr_write_double(hid_t obj, const char *name, double v) { return attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v); }

int h5_attr_write_str(hid_t obj, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    int rc = attr_write(obj, name, t, t, v);
    H5Tclose(t);
    return rc;
}

// Opens attribute NAME, checks it is a scalar/1-element attribute of class CLS.
static hid_t attr_open(hid_t obj, const char *name, H5T_class_t cls, const char *what, char *err, size_t errlen) {
    char fn[512];
    if (H5Aexists(obj, name) <= 0) {
        rlvr_err(err, errlen, "HDF5 '%s': attribute '%s' is missing (hint: the file was not written by rlvr or is from another version)",
                 h5_file_name(obj, fn, sizeof(fn)), name);
        return -1;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) {
        rlvr_err(err, errlen, "HDF5 '%s': cannot open attribute '%s'", h5_file_name(obj, fn, sizeof(fn)), name);
        return -1;
    }
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t c = H5Tget_class(t);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    H5Tclose(t);
    H5Sclose(sp);
    if (c != cls || npts != 1) {
        H5Aclose(a);
        rlvr_err(err, errlen, "HDF5 '%s': attribute '%s' must be a single %s", h5_file_name(obj, fn, sizeof(fn)), name, what);
        return -1;
    }
    return a;
}

int h5_attr_read_int(hid_t obj, const char *name, long long *v, char *err, size_t errlen) {
    hid_t a = attr_open(obj, name, H5T_INTEGER, "integer", err, errlen);
    if (a < 0) return -1;
    int rc = H5Aread(a, H5T_NATIVE_LLONG, v) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc ? rlvr_err(err, errlen, "HDF5: cannot read attribute '%s'", name) : 0;
}

int h5_attr_read_int_array(hid_t obj, const char *name, int *v, size_t cap, size_t *n, char *err, size_t errlen) {
    char fn[512];
    hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
    if (a < 0) return rlvr_err(err, errlen, "HDF5 '%s': attribute '%s' is missing", h5_file_name(obj, fn, sizeof(fn)), name);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    int rc = 0;
    if (H5Tget_class(t) != H5T_INTEGER || npts < 0 || (size_t)npts > cap)
        rc = rlvr_err(err, errlen, "HDF5 '%s': attribute '%s' must be a list of at most %zu integers", h5_file_name(obj, fn, sizeof(fn)), name, cap);
    else if (npts > 0 && H5Aread(a, H5T_NATIVE_INT, v) < 0)
        rc = rlvr_err(err, errlen, "HDF5: cannot read attribute '%s'", name);
    else *n = (size_t)npts;
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

static int read_real(hid_t obj, const char *name, hid_t mem, void *v, char *err, size_t errlen) {
    hid_t a = attr_open(obj, name, H5T_FLOAT, "floating-point number", err, errlen);
    if (a < 0) return -1;
    int rc = H5Aread(a, mem, v) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc ? rlvr_err(err, errlen, "HDF5: cannot read attribute '%s'", name) : 0;
}

int h5_attr_read_float(hid_t obj, const char *name, float *v, char *err, size_t errlen) { return read_real(obj, name, H5T_NATIVE_FLOAT, v, err, errlen); }
int h5_attr_read_double(hid_t obj, const char *name, double *v, char *err, size_t errlen) { return read_real(obj, name, H5T_NATIVE_DOUBLE, v, err, errlen); }

int h5_attr_read_str(hid_t obj, const char *name, char *buf, size_t cap, char *err, size_t errlen) {
    hid_t a = attr_open(obj, name, H5T_STRING, "string", err, errlen);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = 0;
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) rc = -1;
        else if (strlen(s) >= cap) rc = -2;
        else snprintf(buf, cap, "%s", s);
        if (s) H5free_memory(s);
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *s = callocCheck(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n);
        if (H5Aread(a, mt, s) < 0) rc = -1;
        else if (strlen(s) >= cap) rc = -2;
        else snprintf(buf, cap, "%s", s);
        H5Tclose(mt);
        free(s);
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (rc == -2) return rlvr_err(err, errlen, "HDF5: attribute '%s' is longer than %zu characters", name, cap - 1);
    return rc ? rlvr_err(err, errlen, "HDF5: cannot read attribute '%s'", name) : 0;
}

// ---- the tokenizer's files -------------------------------------------------------------------------

// A text as a scalar fixed-length string dataset (h5py: f["tokenizer/tokenizer.json"][()] -> bytes)
// with a crc32c attribute over its bytes, as checkpoints keep every dataset.
static int write_text(hid_t g, const char *name, const char *s) {
    size_t n = strlen(s), sz = n ? n : 1;   // HDF5 string types cannot have size 0
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, sz);
    H5Tset_strpad(ty, H5T_STR_NULLPAD);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(g, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char *buf = callocCheck(sz, 1);
    memcpy(buf, s, n);
    int rc = d < 0 || H5Dwrite(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
    uint32_t crc = checkpoint_crc32c(0, buf, sz);
    if (rc == 0 && attr_write(d, "crc32c", H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc) < 0) rc = -1;
    free(buf);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(ty);
    return rc;
}

static int write_tokenizer(hid_t loc, const Model *m) {
    hid_t g = H5Gcreate2(loc, "tokenizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = write_text(g, "tokenizer.json", m->tokenizer_json);
    if (rc == 0 && m->tokenizer_config_json) rc = write_text(g, "tokenizer_config.json", m->tokenizer_config_json);
    H5Gclose(g);
    return rc;
}

static int read_text(hid_t g, const char *fn, const char *name, char **out, char *err, size_t errlen) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return rlvr_err(err, errlen, "HDF5 '%s': 'tokenizer/%s' is not a dataset", fn, name);
    hid_t ty = H5Dget_type(d);
    size_t sz = ty >= 0 ? H5Tget_size(ty) : 0;
    int rc = 0;
    char *buf = NULL;
    if (ty < 0 || H5Tget_class(ty) != H5T_STRING || H5Tis_variable_str(ty) > 0 || sz == 0 || sz > (1u << 30)) {
        rc = rlvr_err(err, errlen, "HDF5 '%s': 'tokenizer/%s' is not a fixed-length string dataset", fn, name);
    } else {
        buf = mallocCheck(sz + 1);
        long long want;
        char aerr[256];
        if (H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            char h5e[256];
            rc = rlvr_err(err, errlen, "HDF5 '%s': cannot read 'tokenizer/%s': %s (hint: the file is truncated or corrupt)",
                          fn, name, h5_error_text(h5e, sizeof(h5e)));
        } else if (H5Aexists(d, "crc32c") > 0 && (h5_attr_read_int(d, "crc32c", &want, aerr, sizeof aerr) != 0 ||
                                                   (uint32_t)want != checkpoint_crc32c(0, buf, sz))) {
            rc = rlvr_err(err, errlen, "HDF5 '%s': dataset 'tokenizer/%s' fails its checksum: the file is corrupt", fn, name);
        }
        buf[sz] = 0;   // NULLPAD: the text ends at its first NUL
    }
    if (ty >= 0) H5Tclose(ty);
    H5Dclose(d);
    if (rc != 0) { free(buf); return -1; }
    *out = buf;
    return 0;
}

int model_h5_read_tokenizer(hid_t loc, char **json, char **config_json, char *err, size_t errlen) {
    *json = *config_json = NULL;
    if (H5Lexists(loc, "tokenizer", H5P_DEFAULT) <= 0) return 0;
    char fn[512];
    h5_file_name(loc, fn, sizeof(fn));
    hid_t g = H5Gopen2(loc, "tokenizer", H5P_DEFAULT);
    if (g < 0) return rlvr_err(err, errlen, "HDF5 '%s': 'tokenizer' is not a group", fn);
    int rc = 0;
    if (H5Lexists(g, "tokenizer.json", H5P_DEFAULT) <= 0)
        rc = rlvr_err(err, errlen, "HDF5 '%s': group 'tokenizer' has no 'tokenizer.json' (hint: the file is incomplete)", fn);
    if (rc == 0) rc = read_text(g, fn, "tokenizer.json", json, err, errlen);
    if (rc == 0 && H5Lexists(g, "tokenizer_config.json", H5P_DEFAULT) > 0)
        rc = read_text(g, fn, "tokenizer_config.json", config_json, err, errlen);
    H5Gclose(g);
    if (rc != 0) { free(*json); free(*config_json); *json = *config_json = NULL; }
    return rc;
}

// ---- model ---------------------------------------------------------------------------------------

int model_h5_write(hid_t loc, const Model *m, char *err, size_t errlen) {
    H5Quiet q;
    h5_quiet_begin(&q);
    char fn[512], h5e[256];
    const ModelConfig *c = &m->cfg;
    hid_t g = H5Gcreate2(loc, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int bad = g < 0;
    if (!bad) {
        bad |= h5_attr_write_str(g, "architectures", model_arch_name(c->arch));
        bad |= h5_attr_write_str(g, "model_type", c->arch == ARCH_LLAMA ? "llama" : "qwen2");
        bad |= h5_attr_write_str(g, "rlvr_tokenizer", c->tokenizer);
        const struct { const char *k; int v; } ints[] = {
            {"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size}, {"intermediate_size", c->intermediate_size},
            {"num_hidden_layers", c->num_layers}, {"num_attention_heads", c->num_heads}, {"num_key_value_heads", c->num_kv_heads},
            {"head_dim", c->head_dim}, {"max_position_embeddings", c->max_position_embeddings}, {"attention_bias", c->qkv_bias},
            {"tie_word_embeddings", c->tie_word_embeddings}, {"bos_token_id", c->bos_token_id},
            {"eos_token_id", c->n_eos ? c->eos_token_ids[0] : -1}, {"pad_token_id", c->pad_token_id},
        };
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) bad |= h5_attr_write_int(g, ints[i].k, ints[i].v);
        if (c->n_eos > 1) bad |= h5_attr_write_int_array(g, "eos_token_ids", c->eos_token_ids, (size_t)c->n_eos);
        bad |= h5_attr_write_float(g, "rope_theta", c->rope_theta);
        bad |= h5_attr_write_float(g, "rms_norm_eps", c->rms_norm_eps);
        H5Gclose(g);
    }
    if (bad) {
        h5_error_text(h5e, sizeof(h5e));
        h5_quiet_end(&q);
        return rlvr_err(err, errlen, "HDF5 '%s': cannot write group 'config': %s (hint: does it already exist? disk full?)",
                        h5_file_name(loc, fn, sizeof(fn)), h5e);
    }
    if (m->tokenizer_json && write_tokenizer(loc, m) != 0) {
        h5_error_text(h5e, sizeof(h5e));
        h5_quiet_end(&q);
        return rlvr_err(err, errlen, "HDF5 '%s': cannot write group 'tokenizer': %s (hint: disk full?)", h5_file_name(loc, fn, sizeof(fn)), h5e);
    }
    g = H5Gcreate2(loc, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        h5_error_text(h5e, sizeof(h5e));
        h5_quiet_end(&q);
        return rlvr_err(err, errlen, "HDF5 '%s': cannot create group 'model': %s", h5_file_name(loc, fn, sizeof(fn)), h5e);
    }
    for (int i = 0; i < m->num_tensors && !bad; i++) {
        const TensorInfo *t = &m->tensors[i];
        hsize_t dims[2] = {t->shape[0], t->shape[1]};
        hid_t sp = H5Screate_simple(t->ndim, dims, NULL);
        hid_t d = H5Dcreate2(g, t->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->params + t->offset) < 0) {
            bad = 1;
            h5_error_text(h5e, sizeof(h5e));
            rlvr_err(err, errlen, "HDF5 '%s': cannot write dataset 'model/%s': %s (hint: disk full?)",
                     h5_file_name(loc, fn, sizeof(fn)), t->name, h5e);
        }
        if (d >= 0) H5Dclose(d);
        H5Sclose(sp);
    }
    H5Gclose(g);
    h5_quiet_end(&q);
    return bad ? -1 : 0;
}

static int read_config(hid_t loc, const char *fn, ModelConfig *c, char *err, size_t errlen) {
    if (H5Lexists(loc, "config", H5P_DEFAULT) <= 0)
        return rlvr_err(err, errlen, "HDF5 '%s': group 'config' is missing (hint: not an rlvr model file or checkpoint)", fn);
    hid_t g = H5Gopen2(loc, "config", H5P_DEFAULT);
    if (g < 0) return rlvr_err(err, errlen, "HDF5 '%s': 'config' is not a group", fn);
    model_config_default(c);
    char arch[64], aerr[300];
    int rc = 0, eos = -1;
    if (h5_attr_read_str(g, "architectures", arch, sizeof(arch), aerr, sizeof(aerr)) != 0) rc = -1;
    else if (strcmp(arch, "Qwen2ForCausalLM") == 0) c->arch = ARCH_QWEN2;
    else if (strcmp(arch, "LlamaForCausalLM") == 0) c->arch = ARCH_LLAMA;
    else { rc = -1; snprintf(aerr, sizeof(aerr), "unsupported architecture '%s' (supported: Qwen2ForCausalLM, LlamaForCausalLM)", arch); }
    struct { const char *k; int *v; } ints[] = {
        {"vocab_size", &c->vocab_size}, {"hidden_size", &c->hidden_size}, {"intermediate_size", &c->intermediate_size},
        {"num_hidden_layers", &c->num_layers}, {"num_attention_heads", &c->num_heads}, {"num_key_value_heads", &c->num_kv_heads},
        {"head_dim", &c->head_dim}, {"max_position_embeddings", &c->max_position_embeddings}, {"attention_bias", &c->qkv_bias},
        {"tie_word_embeddings", &c->tie_word_embeddings}, {"bos_token_id", &c->bos_token_id}, {"eos_token_id", &eos},
        {"pad_token_id", &c->pad_token_id},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]) && rc == 0; i++) {
        long long v;
        if (h5_attr_read_int(g, ints[i].k, &v, aerr, sizeof(aerr)) != 0) rc = -1;
        else if (v < INT_MIN || v > INT_MAX) { rc = -1; snprintf(aerr, sizeof(aerr), "attribute '%s' = %lld is out of range", ints[i].k, v); }
        else *ints[i].v = (int)v;
    }
    // Every EOS id when there are several (eos_token_ids), else the one of eos_token_id (-1: none).
    if (rc == 0) {
        size_t n = 0;
        if (H5Aexists(g, "eos_token_ids") > 0) {
            if (h5_attr_read_int_array(g, "eos_token_ids", c->eos_token_ids, MODEL_MAX_EOS, &n, aerr, sizeof(aerr)) != 0) rc = -1;
            c->n_eos = (int)n;
        } else {
            model_config_set_eos(c, eos);
        }
    }
    if (rc == 0 && (h5_attr_read_float(g, "rope_theta", &c->rope_theta, aerr, sizeof(aerr)) != 0 ||
                    h5_attr_read_float(g, "rms_norm_eps", &c->rms_norm_eps, aerr, sizeof(aerr)) != 0))
        rc = -1;
    // rlvr_tokenizer is optional: a model file written by hand may leave it out.
    if (rc == 0 && H5Aexists(g, "rlvr_tokenizer") > 0 &&
        h5_attr_read_str(g, "rlvr_tokenizer", c->tokenizer, sizeof(c->tokenizer), aerr, sizeof(aerr)) != 0)
        rc = -1;
    H5Gclose(g);
    if (rc != 0) return rlvr_err(err, errlen, "HDF5 '%s': config: %s", fn, aerr);
    c->qkv_bias = c->qkv_bias != 0;
    c->tie_word_embeddings = c->tie_word_embeddings != 0;
    if (model_config_validate(c, aerr, sizeof(aerr)) != 0) return rlvr_err(err, errlen, "HDF5 '%s': %s", fn, aerr);
    return 0;
}

int model_h5_read_config(hid_t loc, ModelConfig *c, char *err, size_t errlen) {
    H5Quiet q;
    h5_quiet_begin(&q);
    char fn[512];
    h5_file_name(loc, fn, sizeof(fn));
    int rc = read_config(loc, fn, c, err, errlen);
    h5_quiet_end(&q);
    return rc;
}

static int read_tensors(hid_t g, const char *fn, Model *m, char *err, size_t errlen) {
    // Unknown datasets mean the file and the config disagree; refuse rather than ignore weights.
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0) return rlvr_err(err, errlen, "HDF5 '%s': cannot list group 'model'", fn);
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[MODEL_NAME_LEN + 8];
        ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof(name), H5P_DEFAULT);
        if (n < 0) return rlvr_err(err, errlen, "HDF5 '%s': cannot list group 'model'", fn);
        if ((size_t)n >= sizeof(name) || !model_find_tensor(m, name))
            return rlvr_err(err, errlen, "HDF5 '%s': unexpected dataset 'model/%s' for this config (hint: config and weights disagree, "
                            "e.g. tie_word_embeddings or num_hidden_layers)", fn, name);
    }
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        if (H5Lexists(g, t->name, H5P_DEFAULT) <= 0)
            return rlvr_err(err, errlen, "HDF5 '%s': dataset 'model/%s' is missing (hint: the file is incomplete)", fn, t->name);
        hid_t d = H5Dopen2(g, t->name, H5P_DEFAULT);
        if (d < 0) return rlvr_err(err, errlen, "HDF5 '%s': 'model/%s' is not a dataset", fn, t->name);
        hid_t sp = H5Dget_space(d), ty = H5Dget_type(d);
        hsize_t dims[8] = {0};
        int nd = H5Sget_simple_extent_ndims(sp);
        if (nd >= 0 && nd <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
        H5T_class_t cls = H5Tget_class(ty);
        H5Sclose(sp);
        H5Tclose(ty);
        int ok = nd == t->ndim && dims[0] == t->shape[0] && (t->ndim == 1 || dims[1] == t->shape[1]);
        if (!ok) {
            H5Dclose(d);
            char want[64];
            snprintf(want, sizeof(want), t->ndim == 1 ? "(%zu)" : "(%zu, %zu)", t->shape[0], t->shape[1]);
            return rlvr_err(err, errlen, "HDF5 '%s': dataset 'model/%s' has %d dimensions (%llu, %llu, ...), expected %s from config",
                            fn, t->name, nd, (unsigned long long)dims[0], (unsigned long long)dims[1], want);
        }
        if (cls != H5T_FLOAT) {
            H5Dclose(d);
            return rlvr_err(err, errlen, "HDF5 '%s': dataset 'model/%s' is not floating point", fn, t->name);
        }
        herr_t r = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->params + t->offset);
        H5Dclose(d);
        if (r < 0) {
            char h5e[256];
            return rlvr_err(err, errlen, "HDF5 '%s': cannot read dataset 'model/%s': %s (hint: the file is truncated or corrupt)",
                            fn, t->name, h5_error_text(h5e, sizeof(h5e)));
        }
    }
    return 0;
}

int model_h5_read(hid_t loc, Model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    H5Quiet q;
    h5_quiet_begin(&q);
    char fn[512];
    h5_file_name(loc, fn, sizeof(fn));
    ModelConfig c;
    int rc = read_config(loc, fn, &c, err, errlen);
    if (rc == 0) {
        char ierr[256];
        if (model_init(m, &c, ierr, sizeof(ierr)) != 0) rc = rlvr_err(err, errlen, "HDF5 '%s': %s", fn, ierr);
    }
    if (rc == 0) {
        hid_t g = H5Lexists(loc, "model", H5P_DEFAULT) > 0 ? H5Gopen2(loc, "model", H5P_DEFAULT) : -1;
        if (g < 0) rc = rlvr_err(err, errlen, "HDF5 '%s': group 'model' is missing (hint: the file is incomplete)", fn);
        else {
            rc = read_tensors(g, fn, m, err, errlen);
            H5Gclose(g);
        }
        if (rc == 0) rc = model_h5_read_tokenizer(loc, &m->tokenizer_json, &m->tokenizer_config_json, err, errlen);
        if (rc != 0) model_free(m);
    }
    h5_quiet_end(&q);
    return rc;
}
