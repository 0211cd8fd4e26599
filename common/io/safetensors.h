// safetensors reader and writer (the Hugging Face weight format).
//
// File layout: u64 little-endian N, then N bytes of JSON header, then the data section.
// The header maps tensor name -> {"dtype": "F32", "shape": [a, b], "data_offsets": [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__" string -> string map.
//
// st_open validates everything before any tensor is touched, so callers can trust the table:
// header length within the file, JSON well formed with no duplicate keys, dtypes known, shape
// product * dtype size == end - begin, offsets inside the data section, tensors neither overlapping
// nor leaving holes or trailing bytes (the same rules as the reference Rust implementation, so a
// file we accept is a file transformers accepts). The file is memory-mapped; reads copy out of it.
// Multi-byte values are little-endian on disk; the code assumes a little-endian host (x86, arm64).
#pragma once
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_NUM_DTYPES
} StDtype;

typedef struct {
    char *name;                  // tensor name (owned)
    StDtype dtype;
    int ndim;                    // 0 (scalar) .. ST_MAX_DIMS
    size_t shape[ST_MAX_DIMS];
    size_t numel;                // product of shape (1 for a scalar)
    size_t begin, end;           // byte range within the data section
} StTensor;

typedef struct {
    char *path;                  // (owned) for error messages
    unsigned char *map;          // whole file, read-only mmap (NULL for an empty mapping)
    size_t file_size;
    const unsigned char *data;   // start of the data section
    size_t data_size;
    int num_tensors;
    StTensor *tensors;           // (num_tensors) sorted by begin offset
    int num_meta;
    char **meta_keys, **meta_values;  // (num_meta) the "__metadata__" map
} SafeTensors;

// Element size in bytes; name as written in headers ("F32"); lookup by name (-1 when unknown).
size_t st_dtype_size(StDtype d);
const char *st_dtype_name(StDtype d);
int st_dtype_from_name(const char *name);

// Opens and validates PATH. Returns 0, or -1 with err naming the file and the problem (st is then
// zeroed and needs no st_close).
int st_open(SafeTensors *st, const char *path, char *err, size_t errlen);
void st_close(SafeTensors *st);

// Tensor by name, NULL when absent. Linear search: headers hold at most a few thousand tensors.
const StTensor *st_find(const SafeTensors *st, const char *name);
// Value of a "__metadata__" key, NULL when absent.
const char *st_meta(const SafeTensors *st, const char *key);

// Copies tensor T converted to float32 into out (capacity n floats, must be >= t->numel).
// Supported dtypes: F32, BF16, F16. Returns 0 or -1 with err naming file, tensor and dtype.
int st_read_f32(const SafeTensors *st, const StTensor *t, float *out, size_t n, char *err, size_t errlen);
// Copies tensor T converted to int32 into out (capacity n). Supported: I32, I64 (values must fit).
int st_read_i32(const SafeTensors *st, const StTensor *t, int32_t *out, size_t n, char *err, size_t errlen);
// Formats a shape as "[a, b]" into buf (for error messages). Returns buf.
char *st_shape_str(const size_t *shape, int ndim, char *buf, size_t cap);

// One tensor to write: data holds numel * st_dtype_size(dtype) bytes, little-endian.
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    size_t shape[ST_MAX_DIMS];
    const void *data;
} StWriteEntry;

// Writes entries (in the given order) to PATH via PATH.tmp + rename. metadata is NULL or a
// NULL-terminated list of alternating keys and values ({"format", "pt", NULL}). Returns 0 or -1.
int st_write(const char *path, const StWriteEntry *entries, int n, const char *const *metadata,
             char *err, size_t errlen);

// float <-> half / bfloat16 bit conversions (round to nearest even when narrowing).
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);
uint16_t st_f32_to_f16(float f);
uint16_t st_f32_to_bf16(float f);
