// GGUF reader (llama.cpp's model file format, versions 2 and 3, little-endian).
//
// File layout:
//   u32 magic "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   kv_count key/values:   string key, u32 type, value
//                          (string = u64 byte length + bytes, no NUL; array = u32 element type,
//                          u64 count, elements)
//   tensor_count infos:    string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset
//   padding to general.alignment (default 32), then the data section; each tensor's offset is
//   relative to it and a multiple of the alignment.
// ne[0] is the fastest-varying dimension: an HF weight of shape (out, in) has ne = {in, out}.
//
// gguf_open maps the file read-only and validates everything before anything is used: every
// length and offset is checked against the file size, value types and ggml types are known, tensor
// byte ranges lie inside the data section and do not overlap, names and keys are unique. Errors
// name the file, the key or tensor, and the byte offset. Values stay in the mapping (nothing is
// copied but the key and tensor names); the strings of a string array are indexed at open.
// Multi-byte values are little-endian on disk; the code assumes a little-endian host.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define GGUF_MAGIC 0x46554747u     // "GGUF" read as a little-endian u32
#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef enum {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12, GGUF_NUM_VALUE_TYPES
} GgufValueType;

// A string inside the mapping: not NUL-terminated, may hold any bytes.
typedef struct {
    const char *ptr;
    size_t len;
} GgufStr;

typedef struct {
    char *key;                  // (owned) NUL-terminated
    GgufValueType type;
    GgufValueType elem_type;    // arrays: the element type (never GGUF_ARRAY: nested arrays are refused)
    size_t count;               // arrays: number of elements; scalars and strings: 1
    const unsigned char *data;  // scalars: the value; arrays of numbers/bools: the first element
    GgufStr *strs;              // strings: (1) the string; arrays of strings: (count) (owned index)
    size_t offset;              // byte offset of the value in the file (for messages)
} GgufKV;

typedef struct {
    char *name;                 // (owned)
    int ndim;                   // 1 .. GGUF_MAX_DIMS
    uint64_t ne[GGUF_MAX_DIMS]; // ne[0] fastest; unused dims are 1
    uint32_t type;              // ggml type (common/io/gguf_quants.h)
    size_t numel;
    size_t offset;              // byte offset in the file (data section start + relative offset)
    size_t nbytes;
    size_t info_offset;         // byte offset of this tensor's info record (for messages)
} GgufTensor;

typedef struct {
    char *path;                 // (owned) for error messages
    unsigned char *map;         // whole file, read-only mmap
    size_t file_size;
    uint32_t version;
    size_t alignment;
    size_t data_offset;         // start of the data section
    int num_kv;
    GgufKV *kv;                 // (num_kv) in file order
    int num_tensors;
    GgufTensor *tensors;        // (num_tensors) in file order
} Gguf;

// Opens and validates PATH. Returns 0, or -1 with err naming the file, the key or tensor and the byte
// offset (g is then zeroed and needs no gguf_close).
int gguf_open(Gguf *g, const char *path, char *err, size_t errlen);
void gguf_close(Gguf *g);
// 1 when the first four bytes of PATH are the GGUF magic.
int gguf_is_gguf(const char *path);

const char *gguf_value_type_name(GgufValueType t);
// Key/value by key, NULL when absent.
const GgufKV *gguf_find_kv(const Gguf *g, const char *key);
// Typed getters: 0 with the value, 1 when the key is absent (v untouched), -1 with err when the key
// holds another type. Integers accept any integer type whose value fits; floats accept FLOAT32/64.
int gguf_get_int(const Gguf *g, const char *key, long long *v, char *err, size_t errlen);
int gguf_get_float(const Gguf *g, const char *key, double *v, char *err, size_t errlen);
int gguf_get_bool(const Gguf *g, const char *key, int *v, char *err, size_t errlen);
// A string value as a malloc'd NUL-terminated copy (*v), same return codes. A string holding a NUL
// byte is an error.
int gguf_get_str(const Gguf *g, const char *key, char **v, char *err, size_t errlen);
// Element i of an integer array (any integer element type) as a long long; kv must be such an array.
long long gguf_arr_int(const GgufKV *kv, size_t i);
// Element i of a FLOAT32 array.
float gguf_arr_f32(const GgufKV *kv, size_t i);

// Tensor by name, NULL when absent.
const GgufTensor *gguf_find_tensor(const Gguf *g, const char *name);
// Copies tensor T dequantized to float32 into out (capacity n floats, must be >= t->numel), in
// ggml element order (ne[0] fastest = row-major (ne[1], ne[0])). Returns 0 or -1 with err naming the
// file, the tensor and its type when the type cannot be dequantized.
int gguf_read_f32(const Gguf *g, const GgufTensor *t, float *out, size_t n, char *err, size_t errlen);
// Formats ne as "[ne0, ne1]" (GGUF order) into buf. Returns buf.
char *gguf_shape_str(const GgufTensor *t, char *buf, size_t cap);
