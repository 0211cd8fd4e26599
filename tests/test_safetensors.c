// safetensors reader/writer: round trips for every readable dtype, half-precision conversions, and
// every malformed-file case returning -1 with a message naming the file and the problem.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/io/safetensors.h"
#include "tests/harness.h"

static char dir[256];

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

// Writes an 8-byte header length, a header and a data blob as given (for hand-crafted bad files).
static void write_raw(const char *path, uint64_t hlen, const char *hdr, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(&hlen, 8, 1, f);
    fwrite(hdr, 1, strlen(hdr), f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void write_hdr(const char *path, const char *hdr, const void *data, size_t n) {
    write_raw(path, strlen(hdr), hdr, data, n);
}

// Expects st_open to fail with a message containing the path and `what`.
static void expect_bad(const char *path, const char *what) {
    SafeTensors st;
    char err[512] = "";
    int rc = st_open(&st, path, err, sizeof(err));
    CHECK_MSG(rc == -1, "%s opened but should fail with '%s'", path, what);
    CHECK_MSG(strstr(err, path) != NULL, "error does not name the file: %s", err);
    CHECK_MSG(strstr(err, what) != NULL, "error '%s' lacks '%s'", err, what);
}

static void test_half_conversions(void) {
    CHECK_EQ_INT(st_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(st_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(st_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(st_f32_to_f16(65520.0f), 0x7c00);          // ties to even -> infinity
    CHECK_EQ_INT(st_f32_to_f16(0.1f), 0x2e66);
    CHECK_EQ_INT(st_f32_to_f16(5.9604645e-08f), 0x0001);    // smallest subnormal
    CHECK_EQ_INT(st_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(st_f32_to_bf16(-3.140625f), 0xc049);
    CHECK_NEAR(st_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(st_bf16_to_f32(0x3eab), 0.333984375, 0);
    // Every finite half and bfloat16 survives the trip through float32.
    int bad16 = 0, badbf = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) != 0x7c00 && st_f32_to_f16(st_f16_to_f32((uint16_t)h)) != h) bad16++;
        if ((h & 0x7f80) != 0x7f80 && st_f32_to_bf16(st_bf16_to_f32((uint16_t)h)) != h) badbf++;
    }
    CHECK_EQ_INT(bad16, 0);
    CHECK_EQ_INT(badbf, 0);
}

static void test_roundtrip(void) {
    char path[300];
    path_in(path, sizeof(path), "rt.safetensors");
    float f32[6] = {1.5f, -2.25f, 3e-8f, 0.0f, 1e30f, -0.0f};
    uint16_t bf[4], f16[3];
    float bf_src[4] = {1.0f, -0.5f, 3.0f, 1024.0f}, f16_src[3] = {0.25f, -65504.0f, 6.103515625e-05f};
    for (int i = 0; i < 4; i++) bf[i] = st_f32_to_bf16(bf_src[i]);
    for (int i = 0; i < 3; i++) f16[i] = st_f32_to_f16(f16_src[i]);
    int32_t i32[3] = {7, -1, 2147483647};
    int64_t i64[2] = {151643, -5};
    StWriteEntry e[] = {
        {"w.f32", ST_F32, 2, {2, 3}, f32},
        {"w.bf16", ST_BF16, 1, {4}, bf},
        {"w.f16", ST_F16, 2, {3, 1}, f16},
        {"tok.i32", ST_I32, 1, {3}, i32},
        {"tok.i64", ST_I64, 2, {1, 2}, i64},
        {"empty", ST_F32, 2, {0, 5}, NULL},
    };
    const char *meta[] = {"format", "pt", "note", "a \"quoted\" value", NULL};
    char err[512];
    CHECK(st_write(path, e, 6, meta, err, sizeof(err)) == 0);
    struct stat sb;
    stat(path, &sb);
    SafeTensors st;
    CHECK_MSG(st_open(&st, path, err, sizeof(err)) == 0, "%s", err);
    uint64_t hlen;
    memcpy(&hlen, st.map, 8);
    CHECK_EQ_INT(hlen % 8, 0);   // data section is 8-byte aligned
    CHECK_EQ_INT(st.num_tensors, 6);
    CHECK(st_meta(&st, "format") && strcmp(st_meta(&st, "format"), "pt") == 0);
    CHECK(st_meta(&st, "note") && strcmp(st_meta(&st, "note"), "a \"quoted\" value") == 0);
    CHECK(st_meta(&st, "missing") == NULL);
    CHECK(st_find(&st, "nope") == NULL);
    const StTensor *t = st_find(&st, "w.f32");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == ST_F32);
    float out[8];
    CHECK(st_read_f32(&st, t, out, 8, err, sizeof(err)) == 0);
    CHECK(memcmp(out, f32, sizeof(f32)) == 0);
    CHECK(st_read_f32(&st, t, out, 5, err, sizeof(err)) == -1);   // buffer too small
    t = st_find(&st, "w.bf16");
    CHECK(t && st_read_f32(&st, t, out, 8, err, sizeof(err)) == 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], bf_src[i], 0);
    t = st_find(&st, "w.f16");
    CHECK(t && st_read_f32(&st, t, out, 8, err, sizeof(err)) == 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(out[i], f16_src[i], 0);
    int32_t ib[4];
    t = st_find(&st, "tok.i32");
    CHECK(t && st_read_i32(&st, t, ib, 4, err, sizeof(err)) == 0 && ib[0] == 7 && ib[1] == -1 && ib[2] == 2147483647);
    t = st_find(&st, "tok.i64");
    CHECK(t && st_read_i32(&st, t, ib, 4, err, sizeof(err)) == 0 && ib[0] == 151643 && ib[1] == -5);
    CHECK(st_read_f32(&st, t, out, 8, err, sizeof(err)) == -1 && strstr(err, "I64") && strstr(err, "tok.i64"));
    t = st_find(&st, "w.f32");
    CHECK(st_read_i32(&st, t, ib, 8, err, sizeof(err)) == -1 && strstr(err, "F32"));
    t = st_find(&st, "empty");
    CHECK(t && t->numel == 0 && t->begin == t->end);
    st_close(&st);

    // Out-of-range I64 is refused rather than truncated.
    int64_t big[1] = {(int64_t)1 << 40};
    StWriteEntry eb = {"big", ST_I64, 1, {1}, big};
    CHECK(st_write(path, &eb, 1, NULL, err, sizeof(err)) == 0);
    CHECK(st_open(&st, path, err, sizeof(err)) == 0);
    CHECK(st_read_i32(&st, &st.tensors[0], ib, 4, err, sizeof(err)) == -1 && strstr(err, "int32"));
    st_close(&st);

    // Duplicate names are refused by the writer.
    StWriteEntry dup[2] = {{"a", ST_F32, 1, {1}, f32}, {"a", ST_F32, 1, {1}, f32}};
    CHECK(st_write(path, dup, 2, NULL, err, sizeof(err)) == -1);
    // Writing into a missing directory fails cleanly.
    CHECK(st_write("/nonexistent-dir/x.safetensors", e, 1, NULL, err, sizeof(err)) == -1 && strstr(err, "/nonexistent-dir/x.safetensors"));
}

static void test_bad_files(void) {
    char good[300], bad[300];
    path_in(good, sizeof(good), "good.safetensors");
    path_in(bad, sizeof(bad), "bad.safetensors");
    float data[12];
    for (int i = 0; i < 12; i++) data[i] = (float)i;
    StWriteEntry e[] = {{"a", ST_F32, 2, {2, 3}, data}, {"b", ST_F32, 1, {6}, data + 6}};
    char err[512];
    CHECK(st_write(good, e, 2, NULL, err, sizeof(err)) == 0);
    size_t len;
    char *bytes = read_file_all(good, &len, err, sizeof(err));
    uint64_t hlen;
    memcpy(&hlen, bytes, 8);
    // Truncation anywhere: inside the length, inside the header, inside the data.
    size_t cuts[] = {0, 3, 7, 8, 9, 8 + (size_t)hlen / 2, 8 + (size_t)hlen, 8 + (size_t)hlen + 1, len - 4, len - 1};
    const char *whats[] = {"fewer than the 8-byte", "fewer than the 8-byte", "fewer than the 8-byte", "does not fit",
                           "does not fit", "does not fit", "truncated", "truncated", "truncated", "truncated"};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        FILE *f = fopen(bad, "wb");
        fwrite(bytes, 1, cuts[i], f);
        fclose(f);
        expect_bad(bad, whats[i]);
    }
    // Trailing garbage after the last tensor.
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, len, f);
    fwrite("xyz", 1, 3, f);
    fclose(f);
    expect_bad(bad, "trailing");
    free(bytes);

    write_raw(bad, 1u << 30, "{}", NULL, 0);
    expect_bad(bad, "does not fit");
    write_raw(bad, (uint64_t)-1, "{}", NULL, 0);
    expect_bad(bad, "does not fit");
    write_hdr(bad, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], ", data, 4);
    expect_bad(bad, "not valid JSON");
    write_hdr(bad, "[1, 2]", NULL, 0);
    expect_bad(bad, "not a JSON object");
    write_hdr(bad, "{\"a\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}, \"a\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
    expect_bad(bad, "not valid JSON");   // duplicate key
    write_hdr(bad, "{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", data, 4);
    expect_bad(bad, "unknown dtype 'Q4'");
    write_hdr(bad, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", data, 4);
    expect_bad(bad, "needs 8 bytes");
    write_hdr(bad, "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", data, 4);
    expect_bad(bad, "shape[0]");
    write_hdr(bad, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", data, 4);
    expect_bad(bad, "invalid data_offsets");
    write_hdr(bad, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", data, 4);
    expect_bad(bad, "data_offsets");
    write_hdr(bad, "{\"a\": 5}", data, 4);
    expect_bad(bad, "not an object");
    write_hdr(bad, "{\"a\": {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}, \"b\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data, 8);
    expect_bad(bad, "overlap");
    write_hdr(bad, "{\"a\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}, \"b\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", data, 12);
    expect_bad(bad, "belong to no tensor");
    write_hdr(bad, "{\"__metadata__\": {\"format\": 1}, \"a\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
    expect_bad(bad, "__metadata__");
    write_hdr(bad, "{\"a\": {\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", data, 4);
    expect_bad(bad, "dimensions");
    write_hdr(bad, "{\"a\": {\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", data, 4);
    expect_bad(bad, "too large");
    // A scalar and an empty header are fine.
    write_hdr(bad, "{\"s\": {\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ", data + 3, 4);
    SafeTensors st;
    CHECK_MSG(st_open(&st, bad, err, sizeof(err)) == 0, "%s", err);
    float v = 0;
    CHECK(st.num_tensors == 1 && st.tensors[0].numel == 1 && st_read_f32(&st, &st.tensors[0], &v, 1, err, sizeof(err)) == 0 && v == 3.0f);
    st_close(&st);
    write_hdr(bad, "{}", NULL, 0);
    CHECK_MSG(st_open(&st, bad, err, sizeof(err)) == 0, "%s", err);
    CHECK_EQ_INT(st.num_tensors, 0);
    st_close(&st);
    // Missing file and a directory.
    expect_bad("/nonexistent/model.safetensors", "cannot open");
    expect_bad(dir, "not a regular file");
}


// Random byte mutations, truncations and header-length edits of a valid file never crash the
// reader (run under ASan in the sanitizer build); what opens must also read.
static void test_mutations(void) {
    char good[300], bad[300], err[512];
    path_in(good, sizeof(good), "fz_good.safetensors");
    path_in(bad, sizeof(bad), "fz.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[3] = {0x3c00, 0x4000, 0x4200};
    StWriteEntry e[] = {{"a", ST_F32, 2, {2, 3}, a}, {"h", ST_F16, 1, {3}, h}, {"b", ST_BF16, 1, {3}, h}};
    const char *meta[] = {"format", "pt", NULL};
    CHECK(st_write(good, e, 3, meta, err, sizeof(err)) == 0);
    size_t len;
    unsigned char *src = (unsigned char *)read_file_all(good, &len, err, sizeof(err));
    unsigned char *buf = malloc(len + 16);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int opened = 0, failed = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, src, len);
        size_t n = len;
        int nmut = 1 + (int)(x % 4);
        for (int k = 0; k < nmut; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;   // xorshift64
            size_t pos = (size_t)(x >> 8) % n;
            switch (x % 5) {
            case 0: buf[pos] = (unsigned char)(x >> 40); break;          // random byte
            case 1: buf[pos] = (unsigned char)"{}[],:\"0123456789-e"[(x >> 32) % 20]; break;  // JSON-ish byte
            case 2: n = pos; break;                                        // truncate
            case 3: buf[(x >> 20) % 8] ^= (unsigned char)(1u << ((x >> 29) % 8)); break;  // header length bit flip
            default: buf[pos] ^= 1; break;
            }
            if (n == 0) break;
        }
        FILE *f = fopen(bad, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        SafeTensors st;
        if (st_open(&st, bad, err, sizeof(err)) == 0) {
            opened++;
            for (int i = 0; i < st.num_tensors; i++) {
                const StTensor *t = &st.tensors[i];
                if (t->numel > 64) continue;
                float out[64];
                int32_t io[64];
                if (st_read_f32(&st, t, out, 64, err, sizeof(err)) != 0) st_read_i32(&st, t, io, 64, err, sizeof(err));
            }
            st_close(&st);
        } else {
            failed++;
            if (!strstr(err, bad)) { CHECK_MSG(0, "error does not name the file: %s", err); break; }
        }
    }
    printf("mutations: %d opened, %d refused\n", opened, failed);
    CHECK(failed > 2000);
    CHECK(opened + failed == 3000);
    free(buf);
    free(src);
}

int main(void) {
    snprintf(dir, sizeof(dir), "/tmp/rlvr_test_st_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_half_conversions();
    test_roundtrip();
    test_bad_files();
    test_mutations();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    return tests_done();
}
