// GGUF parsing and validation over a read-only mapping; every read goes through a bounds-checked cursor.
#include "common/io/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/io/gguf_quants.h"

// Names longer than this are refused: llama.cpp's own limit is 64 bytes (GGML_MAX_NAME).
#define GGUF_MAX_NAME 1024
// Counts beyond these cannot be real models; refusing them keeps index allocations sane.
#define GGUF_MAX_TENSORS 1000000u
#define GGUF_MAX_KV 1000000u
// The smallest possible records: a key/value (8-byte length, 1-byte key, type, 1-byte value) and a
// tensor info (8-byte length, 1-byte name, n_dims, one dimension, type, offset).
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_INFO_BYTES 33u

static const size_t VALUE_SIZE[GGUF_NUM_VALUE_TYPES] = {
    [GGUF_UINT8] = 1, [GGUF_INT8] = 1, [GGUF_UINT16] = 2, [GGUF_INT16] = 2, [GGUF_UINT32] = 4, [GGUF_INT32] = 4,
    [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1, [GGUF_UINT64] = 8, [GGUF_INT64] = 8, [GGUF_FLOAT64] = 8,
};

static const char *VALUE_NAME[GGUF_NUM_VALUE_TYPES] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

const char *gguf_value_type_name(GgufValueType t) {
    return (unsigned)t < GGUF_NUM_VALUE_TYPES ? VALUE_NAME[t] : "?";
}

// A cursor over the mapping. Every read checks that the bytes are inside the file.
typedef struct {
    const Gguf *g;
    size_t pos;
    const char *what;      // what is being read, for messages ("key 'general.name'", "tensor 'x'")
    char *err;
    size_t errlen;
} Cursor;

static int cur_fail(Cursor *c, size_t need, const char *field) {
    return rlvr_err(c->err, c->errlen, "gguf '%s': %s: %s needs %zu bytes at offset %zu but the file ends at %zu "
                    "(hint: the file is truncated or corrupt; download it again)",
                    c->g->path, c->what, field, need, c->pos, c->g->file_size);
}

static int cur_take(Cursor *c, size_t n, const unsigned char **p, const char *field) {
    if (n > c->g->file_size - c->pos) return cur_fail(c, n, field);
    *p = c->g->map + c->pos;
    c->pos += n;
    return 0;
}

static int cur_u32(Cursor *c, uint32_t *v, const char *field) {
    const unsigned char *p = NULL;
    if (cur_take(c, 4, &p, field) != 0) return -1;
    memcpy(v, p, 4);
    return 0;
}

static int cur_u64(Cursor *c, uint64_t *v, const char *field) {
    const unsigned char *p = NULL;
    if (cur_take(c, 8, &p, field) != 0) return -1;
    memcpy(v, p, 8);
    return 0;
}

static int cur_str(Cursor *c, GgufStr *s, const char *field) {
    uint64_t len = 0;
    size_t at = c->pos;
    if (cur_u64(c, &len, field) != 0) return -1;
    if (len > c->g->file_size - c->pos) {
        c->pos = at;
        return rlvr_err(c->err, c->errlen, "gguf '%s': %s: %s at offset %zu claims %" PRIu64 " bytes but only %zu remain in the file "
                        "(hint: the file is truncated or corrupt)", c->g->path, c->what, field, at, len, c->g->file_size - c->pos - 8);
    }
    const unsigned char *p;
    cur_take(c, (size_t)len, &p, field);
    s->ptr = (const char *)p;
    s->len = (size_t)len;
    return 0;
}

// A name (key or tensor) as an owned C string: no NUL bytes, bounded length.
static int cur_name(Cursor *c, char **out, const char *field) {
    size_t at = c->pos;
    GgufStr s = {NULL, 0};
    if (cur_str(c, &s, field) != 0) return -1;
    if (s.len == 0 || s.len > GGUF_MAX_NAME || memchr(s.ptr, 0, s.len))
        return rlvr_err(c->err, c->errlen, "gguf '%s': %s: %s at offset %zu is empty, longer than %d bytes or holds a NUL byte",
                        c->g->path, c->what, field, at, GGUF_MAX_NAME);
    *out = mallocCheck(s.len + 1);
    memcpy(*out, s.ptr, s.len);
    (*out)[s.len] = 0;
    return 0;
}

static int read_value_type(Cursor *c, GgufValueType *t, const char *field) {
    size_t at = c->pos;
    uint32_t v = 0;
    if (cur_u32(c, &v, field) != 0) return -1;
    if (v >= GGUF_NUM_VALUE_TYPES)
        return rlvr_err(c->err, c->errlen, "gguf '%s': %s: unknown value type %u at offset %zu (known: 0..%d)",
                        c->g->path, c->what, v, at, GGUF_NUM_VALUE_TYPES - 1);
    *t = (GgufValueType)v;
    return 0;
}

static int read_kv(Cursor *c, GgufKV *kv) {
    GgufValueType t = GGUF_UINT8;
    if (read_value_type(c, &t, "value type") != 0) return -1;
    kv->type = t;
    kv->count = 1;
    kv->offset = c->pos;
    if (t == GGUF_STRING) {
        kv->strs = mallocCheck(sizeof(GgufStr));
        return cur_str(c, kv->strs, "string value");
    }
    if (t != GGUF_ARRAY) return cur_take(c, VALUE_SIZE[t], &kv->data, "value");
    GgufValueType et = GGUF_UINT8;
    uint64_t count = 0;
    if (read_value_type(c, &et, "array element type") != 0 || cur_u64(c, &count, "array length") != 0) return -1;
    if (et == GGUF_ARRAY)
        return rlvr_err(c->err, c->errlen, "gguf '%s': %s: nested arrays (offset %zu) are not supported", c->g->path, c->what, kv->offset);
    kv->elem_type = et;
    kv->data = c->g->map + c->pos;
    if (et != GGUF_STRING) {
        size_t es = VALUE_SIZE[et];
        if (count > (c->g->file_size - c->pos) / es)
            return rlvr_err(c->err, c->errlen, "gguf '%s': %s: array of %" PRIu64 " %s at offset %zu runs past the end of the file (%zu bytes) "
                            "(hint: the file is truncated or corrupt)", c->g->path, c->what, count, VALUE_NAME[et], c->pos, c->g->file_size);
        kv->count = (size_t)count;
        c->pos += (size_t)count * es;
        return 0;
    }
    // Each string takes at least its 8-byte length, which bounds count before allocating the index.
    if (count > (c->g->file_size - c->pos) / 8)
        return rlvr_err(c->err, c->errlen, "gguf '%s': %s: array of %" PRIu64 " strings at offset %zu cannot fit in the %zu bytes left "
                        "(hint: the file is truncated or corrupt)", c->g->path, c->what, count, c->pos, c->g->file_size - c->pos);
    kv->count = (size_t)count;
    kv->strs = mallocCheck((count ? (size_t)count : 1) * sizeof(GgufStr));
    for (size_t i = 0; i < kv->count; i++) {
        char field[64];
        snprintf(field, sizeof(field), "string %zu of the array", i);
        if (cur_str(c, &kv->strs[i], field) != 0) return -1;
    }
    return 0;
}

static void gguf_free_parts(Gguf *g) {
    for (int i = 0; i < g->num_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].strs);
    }
    free(g->kv);
    for (int i = 0; i < g->num_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    if (g->map) munmap(g->map, g->file_size);
    free(g->path);
    memset(g, 0, sizeof(*g));
}

void gguf_close(Gguf *g) { gguf_free_parts(g); }

int gguf_is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char b[4];
    int ok = fread(b, 1, 4, f) == 4 && memcmp(b, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const GgufTensor *x = *(const GgufTensor *const *)a, *y = *(const GgufTensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_name(const void *a, const void *b) { return strcmp(**(char *const *const *)a, **(char *const *const *)b); }

// Keys and tensor names must be unique (sorted, then neighbours compared: files may hold many tensors).
static int check_unique_names(const Gguf *g, char *err, size_t errlen) {
    int n = g->num_kv > g->num_tensors ? g->num_kv : g->num_tensors;
    char *const **by = mallocCheck((size_t)(n ? n : 1) * sizeof(*by));
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        int m = pass == 0 ? g->num_kv : g->num_tensors;
        for (int i = 0; i < m; i++) by[i] = pass == 0 ? &g->kv[i].key : &g->tensors[i].name;
        qsort(by, (size_t)m, sizeof(*by), cmp_name);
        for (int i = 1; i < m && rc == 0; i++)
            if (strcmp(*by[i - 1], *by[i]) == 0)
                rc = rlvr_err(err, errlen, "gguf '%s': %s '%s' appears twice (hint: the file is corrupt)", g->path,
                              pass == 0 ? "key" : "tensor", *by[i]);
    }
    free(by);
    return rc;
}

static int read_tensor_info(Cursor *c, GgufTensor *t) {
    t->info_offset = c->pos;
    if (cur_name(c, &t->name, "tensor name") != 0) return -1;
    char what[GGUF_MAX_NAME + 32];
    snprintf(what, sizeof(what), "tensor '%s'", t->name);
    c->what = what;
    uint32_t nd = 0, type = 0;
    size_t at = c->pos;
    if (cur_u32(c, &nd, "number of dimensions") != 0) goto fail;
    if (nd < 1 || nd > GGUF_MAX_DIMS) {
        rlvr_err(c->err, c->errlen, "gguf '%s': tensor '%s': %u dimensions at offset %zu (expected 1..%d)", c->g->path, t->name, nd, at, GGUF_MAX_DIMS);
        goto fail;
    }
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->ndim) continue;
        at = c->pos;
        if (cur_u64(c, &t->ne[d], "dimension") != 0) goto fail;
        if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 40) || numel > ((uint64_t)1 << 40) / t->ne[d]) {
            rlvr_err(c->err, c->errlen, "gguf '%s': tensor '%s': dimension %d = %" PRIu64 " at offset %zu is zero or too large",
                     c->g->path, t->name, d, t->ne[d], at);
            goto fail;
        }
        numel *= t->ne[d];
    }
    t->numel = (size_t)numel;
    at = c->pos;
    if (cur_u32(c, &type, "ggml type") != 0) goto fail;
    t->type = type;
    size_t be = 1, bb = 1;
    if (ggml_type_info(type, NULL, &be, &bb) != 0) {
        rlvr_err(c->err, c->errlen, "gguf '%s': tensor '%s': unknown ggml type %u at offset %zu (hint: a newer llama.cpp wrote this file)",
                 c->g->path, t->name, type, at);
        goto fail;
    }
    if (t->ne[0] % be != 0) {
        rlvr_err(c->err, c->errlen, "gguf '%s': tensor '%s': row length %" PRIu64 " is not a multiple of the %s block size %zu",
                 c->g->path, t->name, t->ne[0], ggml_type_name(type), be);
        goto fail;
    }
    t->nbytes = t->numel / be * bb;
    uint64_t rel = 0;
    if (cur_u64(c, &rel, "data offset") != 0) goto fail;
    t->offset = (size_t)rel;   // relative for now; made absolute once the data section start is known
    c->what = "tensor infos";
    return 0;
fail:
    c->what = "tensor infos";
    return -1;
}

int gguf_open(Gguf *g, const char *path, char *err, size_t errlen) {
    memset(g, 0, sizeof(*g));
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rlvr_err(err, errlen, "gguf '%s': cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rlvr_err(err, errlen, "gguf '%s': not a regular file", path);
    }
    g->path = strdupCheck(path);
    g->file_size = (size_t)sb.st_size;
    if (g->file_size < 24) {
        close(fd);
        rlvr_err(err, errlen, "gguf '%s': %zu bytes is shorter than the 24-byte GGUF header (hint: the file is truncated)", path, g->file_size);
        gguf_free_parts(g);
        return -1;
    }
    void *map = mmap(NULL, g->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        rlvr_err(err, errlen, "gguf '%s': mmap failed: %s", path, strerror(errno));
        gguf_free_parts(g);
        return -1;
    }
    g->map = map;
    Cursor c = {g, 0, "header", err, errlen};
    uint32_t magic = 0;
    uint64_t ntensors = 0, nkv = 0;
    cur_u32(&c, &magic, "magic");
    cur_u32(&c, &g->version, "version");
    cur_u64(&c, &ntensors, "tensor count");
    cur_u64(&c, &nkv, "key/value count");
    int rc = 0;
    if (magic != GGUF_MAGIC)
        rc = rlvr_err(err, errlen, "gguf '%s': no GGUF magic at offset 0 (hint: not a GGUF file)", path);
    else if (g->version != 2 && g->version != 3)
        rc = rlvr_err(err, errlen, "gguf '%s': version %u at offset 4 is not supported (this reader handles versions 2 and 3; "
                      "a big-endian file shows a byte-swapped version)", path, g->version);
    else if (ntensors > GGUF_MAX_TENSORS || nkv > GGUF_MAX_KV || ntensors > g->file_size / GGUF_MIN_INFO_BYTES ||
             nkv > g->file_size / GGUF_MIN_KV_BYTES)
        rc = rlvr_err(err, errlen, "gguf '%s': %" PRIu64 " tensors and %" PRIu64 " key/values in the header (offset 8) are implausible "
                      "(hint: the file is corrupt)", path, ntensors, nkv);
    if (rc != 0) { gguf_free_parts(g); return -1; }

    g->kv = callocCheck(nkv ? (size_t)nkv : 1, sizeof(GgufKV));
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < nkv && rc == 0; i++) {
        GgufKV *kv = &g->kv[g->num_kv];
        c.what = "key/values";
        if ((rc = cur_name(&c, &kv->key, "key")) != 0) break;
        g->num_kv++;
        char what[GGUF_MAX_NAME + 32];
        snprintf(what, sizeof(what), "key '%s'", kv->key);
        c.what = what;
        rc = read_kv(&c, kv);
        if (rc == 0 && strcmp(kv->key, "general.alignment") == 0) {
            uint32_t a = 0;
            if (kv->type != GGUF_UINT32) rc = rlvr_err(err, errlen, "gguf '%s': key 'general.alignment' at offset %zu has type %s, expected UINT32",
                                                       path, kv->offset, VALUE_NAME[kv->type]);
            else memcpy(&a, kv->data, 4);
            if (rc == 0 && (a == 0 || (a & (a - 1)) != 0))
                rc = rlvr_err(err, errlen, "gguf '%s': key 'general.alignment' = %u at offset %zu is not a power of two", path, a, kv->offset);
            g->alignment = a;
        }
    }
    if (rc == 0) {
        g->tensors = callocCheck(ntensors ? (size_t)ntensors : 1, sizeof(GgufTensor));
        c.what = "tensor infos";
    }
    for (uint64_t i = 0; i < ntensors && rc == 0; i++) {
        rc = read_tensor_info(&c, &g->tensors[g->num_tensors]);
        if (g->tensors[g->num_tensors].name) g->num_tensors++;
    }
    if (rc == 0) {
        size_t a = g->alignment;
        g->data_offset = c.pos % a ? c.pos + (a - c.pos % a) : c.pos;
        if (g->num_tensors > 0 && g->data_offset > g->file_size)
            rc = rlvr_err(err, errlen, "gguf '%s': the data section would start at offset %zu, past the end of the file (%zu bytes) "
                          "(hint: the file is truncated)", path, g->data_offset, g->file_size);
    }
    for (int i = 0; i < g->num_tensors && rc == 0; i++) {
        GgufTensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            rc = rlvr_err(err, errlen, "gguf '%s': tensor '%s': data offset %zu is not a multiple of the alignment %zu", path, t->name,
                          t->offset, g->alignment);
        else if (t->offset > g->file_size - g->data_offset || t->nbytes > g->file_size - g->data_offset - t->offset)
            rc = rlvr_err(err, errlen, "gguf '%s': tensor '%s' (%s, %zu bytes) at file offset %zu runs past the end of the file (%zu bytes) "
                          "(hint: the file is truncated; download it again)", path, t->name, ggml_type_name(t->type), t->nbytes,
                          g->data_offset + t->offset, g->file_size);
        else
            t->offset += g->data_offset;
    }
    if (rc == 0) rc = check_unique_names(g, err, errlen);
    if (rc == 0 && g->num_tensors > 1) {
        const GgufTensor **by = mallocCheck((size_t)g->num_tensors * sizeof(*by));
        for (int i = 0; i < g->num_tensors; i++) by[i] = &g->tensors[i];
        qsort(by, (size_t)g->num_tensors, sizeof(*by), cmp_tensor_offset);
        for (int i = 1; i < g->num_tensors && rc == 0; i++)
            if (by[i - 1]->offset + by[i - 1]->nbytes > by[i]->offset)
                rc = rlvr_err(err, errlen, "gguf '%s': tensors '%s' (offset %zu, %zu bytes) and '%s' (offset %zu) overlap", path,
                              by[i - 1]->name, by[i - 1]->offset, by[i - 1]->nbytes, by[i]->name, by[i]->offset);
        free(by);
    }
    if (rc != 0) { gguf_free_parts(g); return -1; }
    return 0;
}

const GgufKV *gguf_find_kv(const Gguf *g, const char *key) {
    for (int i = 0; i < g->num_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

static int is_int_type(GgufValueType t) {
    return t == GGUF_UINT8 || t == GGUF_INT8 || t == GGUF_UINT16 || t == GGUF_INT16 || t == GGUF_UINT32 || t == GGUF_INT32 ||
           t == GGUF_UINT64 || t == GGUF_INT64;
}

// An integer of type t at p; 0, or -1 when a UINT64 does not fit a long long.
static int int_at(GgufValueType t, const unsigned char *p, long long *v) {
    switch (t) {
    case GGUF_UINT8: *v = p[0]; return 0;
    case GGUF_INT8: *v = (int8_t)p[0]; return 0;
    case GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); *v = x; return 0; }
    case GGUF_INT16: { int16_t x; memcpy(&x, p, 2); *v = x; return 0; }
    case GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); *v = x; return 0; }
    case GGUF_INT32: { int32_t x; memcpy(&x, p, 4); *v = x; return 0; }
    case GGUF_INT64: { int64_t x; memcpy(&x, p, 8); *v = x; return 0; }
    case GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); if (x > (uint64_t)INT64_MAX) return -1; *v = (long long)x; return 0; }
    default: return -1;
    }
}

int gguf_get_int(const Gguf *g, const char *key, long long *v, char *err, size_t errlen) {
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (!is_int_type(kv->type) || int_at(kv->type, kv->data, v) != 0)
        return rlvr_err(err, errlen, "gguf '%s': key '%s' (offset %zu) has type %s, expected an integer", g->path, key, kv->offset,
                        VALUE_NAME[kv->type]);
    return 0;
}

int gguf_get_float(const Gguf *g, const char *key, double *v, char *err, size_t errlen) {
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type == GGUF_FLOAT32) { float f; memcpy(&f, kv->data, 4); *v = f; return 0; }
    if (kv->type == GGUF_FLOAT64) { memcpy(v, kv->data, 8); return 0; }
    return rlvr_err(err, errlen, "gguf '%s': key '%s' (offset %zu) has type %s, expected FLOAT32", g->path, key, kv->offset, VALUE_NAME[kv->type]);
}

int gguf_get_bool(const Gguf *g, const char *key, int *v, char *err, size_t errlen) {
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != GGUF_BOOL)
        return rlvr_err(err, errlen, "gguf '%s': key '%s' (offset %zu) has type %s, expected BOOL", g->path, key, kv->offset, VALUE_NAME[kv->type]);
    *v = kv->data[0] != 0;
    return 0;
}

int gguf_get_str(const Gguf *g, const char *key, char **v, char *err, size_t errlen) {
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv) return 1;
    if (kv->type != GGUF_STRING)
        return rlvr_err(err, errlen, "gguf '%s': key '%s' (offset %zu) has type %s, expected STRING", g->path, key, kv->offset, VALUE_NAME[kv->type]);
    if (memchr(kv->strs[0].ptr, 0, kv->strs[0].len))
        return rlvr_err(err, errlen, "gguf '%s': key '%s' (offset %zu) holds a NUL byte", g->path, key, kv->offset);
    *v = mallocCheck(kv->strs[0].len + 1);
    memcpy(*v, kv->strs[0].ptr, kv->strs[0].len);
    (*v)[kv->strs[0].len] = 0;
    return 0;
}

long long gguf_arr_int(const GgufKV *kv, size_t i) {
    long long v = 0;
    int_at(kv->elem_type, kv->data + i * VALUE_SIZE[kv->elem_type], &v);
    return v;
}

float gguf_arr_f32(const GgufKV *kv, size_t i) {
    float f;
    memcpy(&f, kv->data + 4 * i, 4);
    return f;
}

const GgufTensor *gguf_find_tensor(const Gguf *g, const char *name) {
    for (int i = 0; i < g->num_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

int gguf_read_f32(const Gguf *g, const GgufTensor *t, float *out, size_t n, char *err, size_t errlen) {
    if (n < t->numel)
        return rlvr_err(err, errlen, "gguf '%s': tensor '%s': output holds %zu floats, the tensor has %zu", g->path, t->name, n, t->numel);
    if (gguf_dequantize(t->type, g->map + t->offset, out, t->numel) != 0)
        return rlvr_err(err, errlen, "gguf '%s': tensor '%s' (offset %zu) has type %s, which cannot be dequantized here "
                        "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K; hint: re-quantize with llama-quantize)",
                        g->path, t->name, t->offset, ggml_type_name(t->type));
    return 0;
}

char *gguf_shape_str(const GgufTensor *t, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int d = 0; d < t->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRIu64, d ? ", " : "", t->ne[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}
