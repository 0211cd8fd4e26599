#include "common/io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"

// The reference implementation refuses headers over 100 MB; real headers are a few hundred KB.
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

static const struct { const char *name; size_t size; } DTYPES[ST_NUM_DTYPES] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1}, [ST_I8] = {"I8", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4}, [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
};

size_t st_dtype_size(StDtype d) { return (unsigned)d < ST_NUM_DTYPES ? DTYPES[d].size : 0; }
const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_NUM_DTYPES ? DTYPES[d].name : "?"; }

int st_dtype_from_name(const char *name) {
    for (int i = 0; i < ST_NUM_DTYPES; i++)
        if (strcmp(DTYPES[i].name, name) == 0) return i;
    return -1;
}

// ---- half precision ------------------------------------------------------------------------------

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        // zero or subnormal: man * 2^-24 is exact in float32
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t st_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;               // NaN stays a (quiet) NaN
    if (a >= 0x477ff000u) return sign | 0x7c00;              // >= 65520 rounds to infinity
    if (a < 0x38800000u) {                                   // below 2^-14: subnormal half
        float af;
        memcpy(&af, &a, 4);
        return sign | (uint16_t)nearbyintf(af * 16777216.0f); // exact scaling, round-half-even
    }
    uint32_t h = ((((a >> 23) - 127 + 15) << 10) | ((a & 0x7fffff) >> 13));
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;     // a carry into the exponent is correct
    return sign | (uint16_t)h;
}

uint16_t st_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

// ---- reader --------------------------------------------------------------------------------------

char *st_shape_str(const size_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "[");
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, i ? ", %zu" : "%zu", shape[i]);
    snprintf(buf + n, n < cap ? cap - n : 0, "]");
    return buf;
}

void st_close(SafeTensors *st) {
    if (st->map) munmap(st->map, st->file_size);
    for (int i = 0; i < st->num_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->num_meta; i++) { free(st->meta_keys[i]); free(st->meta_values[i]); }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->path);
    memset(st, 0, sizeof(*st));
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

// Parses one tensor entry of the header into t. Returns 0 or -1 with err set.
static int parse_entry(const SafeTensors *st, const char *name, json_t *v, StTensor *t, char *err, size_t errlen) {
    const char *p = st->path;
    if (!json_is_object(v))
        return rlvr_err(err, errlen, "safetensors '%s': header entry '%s' is not an object (hint: the file is corrupt)", p, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"), *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' needs string 'dtype', array 'shape' and array 'data_offsets'", p, name);
    int d = st_dtype_from_name(json_string_value(jd));
    if (d < 0)
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has unknown dtype '%s' (known: F32, F16, BF16, F64, I64, I32, ...)",
                        p, name, json_string_value(jd));
    t->dtype = (StDtype)d;
    size_t nd = json_array_size(js);
    if (nd > ST_MAX_DIMS)
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has %zu dimensions (at most %d supported)", p, name, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    t->numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *x = json_array_get(js, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' shape[%zu] is not a non-negative integer", p, name, i);
        t->shape[i] = (size_t)json_integer_value(x);
        if (t->shape[i] && t->numel > SIZE_MAX / 16 / t->shape[i])
            return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' shape is too large", p, name);
        t->numel *= t->shape[i];
    }
    if (json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)))
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' data_offsets must be [begin, end] integers", p, name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b)
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has invalid data_offsets [%lld, %lld]", p, name, (long long)b, (long long)e);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    size_t want = t->numel * DTYPES[d].size;
    if (t->end - t->begin != want) {
        char sh[160];
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' (%s %s) needs %zu bytes but data_offsets [%zu, %zu] span %zu",
                        p, name, DTYPES[d].name, st_shape_str(t->shape, t->ndim, sh, sizeof(sh)), want, t->begin, t->end, t->end - t->begin);
    }
    if (t->end > st->data_size)
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' data ends at byte %zu of the data section, which has only %zu bytes "
                        "(hint: the file is truncated; download or copy it again)", p, name, t->end, st->data_size);
    return 0;
}

static int parse_metadata(SafeTensors *st, json_t *v, char *err, size_t errlen) {
    if (!json_is_object(v))
        return rlvr_err(err, errlen, "safetensors '%s': __metadata__ must be an object of strings", st->path);
    size_t n = json_object_size(v);
    st->meta_keys = callocCheck(n, sizeof(char *));
    st->meta_values = callocCheck(n, sizeof(char *));
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x))
            return rlvr_err(err, errlen, "safetensors '%s': __metadata__ value for '%s' is not a string", st->path, k);
        st->meta_keys[st->num_meta] = strdupCheck(k);
        st->meta_values[st->num_meta++] = strdupCheck(json_string_value(x));
    }
    return 0;
}

static int st_open_impl(SafeTensors *st, const char *path, char *err, size_t errlen) {
    st->path = strdupCheck(path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return rlvr_err(err, errlen, "safetensors '%s': cannot open: %s (hint: check the path)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rlvr_err(err, errlen, "safetensors '%s': not a regular file", path);
    }
    st->file_size = (size_t)sb.st_size;
    if (st->file_size < 8) {
        close(fd);
        return rlvr_err(err, errlen, "safetensors '%s': file has %zu bytes, fewer than the 8-byte header length "
                        "(hint: the file is truncated or not a safetensors file)", path, st->file_size);
    }
    void *map = mmap(NULL, st->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return rlvr_err(err, errlen, "safetensors '%s': mmap failed: %s", path, strerror(errno));
    st->map = map;
    uint64_t hlen;
    memcpy(&hlen, st->map, 8);
    if (hlen == 0 || hlen > st->file_size - 8)
        return rlvr_err(err, errlen, "safetensors '%s': header length %llu does not fit in the file (%zu bytes) "
                        "(hint: the file is truncated or not a safetensors file)", path, (unsigned long long)hlen, st->file_size);
    if (hlen > ST_MAX_HEADER)
        return rlvr_err(err, errlen, "safetensors '%s': header length %llu exceeds the 100 MB limit (hint: the file is corrupt)",
                        path, (unsigned long long)hlen);
    st->data = st->map + 8 + hlen;
    st->data_size = st->file_size - 8 - (size_t)hlen;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)st->map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rlvr_err(err, errlen, "safetensors '%s': header is not valid JSON: %s (line %d, column %d) "
                        "(hint: the file is corrupt or not a safetensors file)", path, jerr.text, jerr.line, jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return rlvr_err(err, errlen, "safetensors '%s': header is not a JSON object", path);
    }
    st->tensors = callocCheck(json_object_size(root) + 1, sizeof(StTensor));
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__") == 0) {
            if ((rc = parse_metadata(st, v, err, errlen)) != 0) break;
            continue;
        }
        StTensor *t = &st->tensors[st->num_tensors];
        if ((rc = parse_entry(st, k, v, t, err, errlen)) != 0) break;
        t->name = strdupCheck(k);
        st->num_tensors++;
    }
    json_decref(root);
    if (rc != 0) return rc;
    qsort(st->tensors, (size_t)st->num_tensors, sizeof(StTensor), cmp_begin);
    size_t pos = 0;
    for (int i = 0; i < st->num_tensors; i++) {
        const StTensor *t = &st->tensors[i];
        if (t->begin < pos)
            return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' bytes [%zu, %zu) overlap tensor '%s' (hint: the file is corrupt)",
                            path, t->name, t->begin, t->end, st->tensors[i - 1].name);
        if (t->begin > pos)
            return rlvr_err(err, errlen, "safetensors '%s': bytes [%zu, %zu) of the data section belong to no tensor (hint: the file is corrupt)",
                            path, pos, t->begin);
        pos = t->end;
    }
    if (pos != st->data_size)
        return rlvr_err(err, errlen, "safetensors '%s': tensors end at byte %zu of the data section but it has %zu bytes "
                        "(hint: trailing garbage or a corrupt header)", path, pos, st->data_size);
    return 0;
}

int st_open(SafeTensors *st, const char *path, char *err, size_t errlen) {
    memset(st, 0, sizeof(*st));
    if (st_open_impl(st, path, err, errlen) != 0) {
        st_close(st);
        return -1;
    }
    return 0;
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->num_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *st_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->num_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

int st_read_f32(const SafeTensors *st, const StTensor *t, float *out, size_t n, char *err, size_t errlen) {
    if (n < t->numel)
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has %zu elements, buffer holds %zu", st->path, t->name, t->numel, n);
    const unsigned char *src = st->data + t->begin;
    const long long numel = (long long)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, src, t->numel * 4);
        return 0;
    case ST_BF16:
    case ST_F16: {
        const int bf = t->dtype == ST_BF16;
        // The source may sit at an odd offset, so each half is fetched with memcpy.
#pragma omp parallel for if (numel > (1 << 16))
        for (long long i = 0; i < numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = bf ? st_bf16_to_f32(h) : st_f16_to_f32(h);
        }
        return 0;
    }
    default:
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has dtype %s; only F32, BF16 and F16 can be read as floats "
                        "(hint: convert the checkpoint to one of those, e.g. with torch_dtype=bfloat16)",
                        st->path, t->name, st_dtype_name(t->dtype));
    }
}

int st_read_i32(const SafeTensors *st, const StTensor *t, int32_t *out, size_t n, char *err, size_t errlen) {
    if (n < t->numel)
        return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has %zu elements, buffer holds %zu", st->path, t->name, t->numel, n);
    const unsigned char *src = st->data + t->begin;
    if (t->dtype == ST_I32) {
        memcpy(out, src, t->numel * 4);
        return 0;
    }
    if (t->dtype == ST_I64) {
        for (size_t i = 0; i < t->numel; i++) {
            int64_t x;
            memcpy(&x, src + 8 * i, 8);
            if (x < INT32_MIN || x > INT32_MAX)
                return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' element %zu = %lld does not fit in int32",
                                st->path, t->name, i, (long long)x);
            out[i] = (int32_t)x;
        }
        return 0;
    }
    return rlvr_err(err, errlen, "safetensors '%s': tensor '%s' has dtype %s; only I32 and I64 can be read as integers",
                    st->path, t->name, st_dtype_name(t->dtype));
}

// ---- writer --------------------------------------------------------------------------------------

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1; }

int st_write(const char *path, const StWriteEntry *entries, int n, const char *const *metadata, char *err, size_t errlen) {
    json_t *root = json_object();
    if (metadata && metadata[0]) {
        json_t *meta = json_object();
        for (int i = 0; metadata[i] && metadata[i + 1]; i += 2) json_object_set_new(meta, metadata[i], json_string(metadata[i + 1]));
        json_object_set_new(root, "__metadata__", meta);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StWriteEntry *e = &entries[i];
        if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0 || (unsigned)e->dtype >= ST_NUM_DTYPES ||
            e->ndim < 0 || e->ndim > ST_MAX_DIMS || json_object_get(root, e->name)) {
            json_decref(root);
            return rlvr_err(err, errlen, "safetensors '%s': cannot write entry %d ('%s'): empty, reserved or duplicate name, or bad dtype/ndim",
                            path, i, e->name ? e->name : "");
        }
        size_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) {
            numel *= e->shape[d];
            json_array_append_new(shape, json_integer((json_int_t)e->shape[d]));
        }
        size_t bytes = numel * DTYPES[e->dtype].size;
        json_t *t = json_object();
        json_object_set_new(t, "dtype", json_string(DTYPES[e->dtype].name));
        json_object_set_new(t, "shape", shape);
        json_object_set_new(t, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + bytes)));
        json_object_set_new(root, e->name, t);
        off += bytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!hdr) return rlvr_err(err, errlen, "safetensors '%s': could not encode the header (a tensor name is not valid UTF-8?)", path);
    // Pad the header with spaces so the data section starts 8-byte aligned, as the reference writer does.
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    char *tmp = mallocCheck(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(hdr);
        free(tmp);
        return rlvr_err(err, errlen, "safetensors '%s': cannot create: %s (hint: check the directory exists and is writable)", path, strerror(e));
    }
    uint64_t le = padded;
    int bad = write_all(f, &le, 8) || write_all(f, hdr, hlen);
    for (size_t i = hlen; i < padded && !bad; i++) bad = fputc(' ', f) == EOF;
    for (int i = 0; i < n && !bad; i++) {
        size_t numel = 1;
        for (int d = 0; d < entries[i].ndim; d++) numel *= entries[i].shape[d];
        bad = write_all(f, entries[i].data, numel * DTYPES[entries[i].dtype].size);
    }
    int e = errno;
    if (fclose(f) != 0 && !bad) { bad = 1; e = errno; }
    free(hdr);
    if (!bad && rename(tmp, path) != 0) { bad = 1; e = errno; }
    if (bad) {
        unlink(tmp);
        free(tmp);
        return rlvr_err(err, errlen, "safetensors '%s': write failed: %s (hint: disk full?)", path, strerror(e));
    }
    free(tmp);
    return 0;
}
