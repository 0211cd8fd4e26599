// The TensorBoard event-file writer's bytes: CRC-32C against its published check values, the masked
// CRC, the TFRecord framing of every record, the protobuf encoding of one scalar event, and the
// metrics-line adapter's tags. (tests/test_tensorboard.py reads the learner's files with
// TensorBoard's own reader.)
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learner/tensorboard.h"
#include "tests/harness.h"

static char err[4096];

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void test_crc(void) {
    // RFC 3720 (iSCSI) and the CRC catalogue's check value for CRC-32C
    CHECK(tb_crc32c("123456789", 9) == 0xe3069283u);
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK(tb_crc32c(zeros, 32) == 0x8a9136aau);
    CHECK(tb_crc32c(ones, 32) == 0x62a8ab43u);
    CHECK(tb_crc32c("", 0) == 0);
    uint32_t c = 0x12345678u;
    CHECK(tb_masked_crc(c) == (((c >> 15) | (c << 17)) + 0xa282ead8u));
}

// Walks the TFRecords of a file: every length and both CRCs check; returns the records' count and
// copies the data of record `want` into rec.
static int walk(const unsigned char *b, size_t n, int want, const unsigned char **rec, size_t *rec_n) {
    size_t at = 0;
    int count = 0;
    while (at < n) {
        if (at + 12 > n) return -1;
        uint64_t len = le(b + at, 8);
        if ((uint32_t)le(b + at + 8, 4) != tb_masked_crc(tb_crc32c(b + at, 8))) return -2;
        if (at + 12 + len + 4 > n) return -3;
        if ((uint32_t)le(b + at + 12 + len, 4) != tb_masked_crc(tb_crc32c(b + at + 12, len))) return -4;
        if (count == want) { *rec = b + at + 12; *rec_n = len; }
        at += 12 + len + 4;
        count++;
    }
    return count;
}

static void test_file(const char *dir) {
    char tbdir[512];
    snprintf(tbdir, sizeof tbdir, "%s/run/tensorboard", dir);
    TbWriter w;
    CHECK_MSG(tb_open(&w, tbdir, err, sizeof err) == 0, "%s", err);
    CHECK(strstr(w.path, "/events.out.tfevents.") != NULL);
    const char *tags[] = {"a"};
    double vals[] = {0.5};
    CHECK_MSG(tb_write_scalars(&w, 300, 1.5, tags, vals, 1, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(tb_write_metrics_line(&w, "{\"step\":7,\"accuracy\":0.25,\"mode\":\"grpo\",\"x\":null,\"val\":{\"acc\":1}}", 2.0, err,
                                    sizeof err) == 0, "%s", err);
    CHECK(tb_write_metrics_line(&w, "{\"accuracy\":0.25}", 2.0, err, sizeof err) != 0 && strstr(err, "step"));
    CHECK(tb_write_metrics_line(&w, "not json", 2.0, err, sizeof err) != 0);
    tb_close(&w);
    size_t n = 0;
    unsigned char *b = slurp(w.path, &n);
    CHECK(b != NULL);
    if (!b) return;
    const unsigned char *rec = NULL;
    size_t rn = 0;
    CHECK(walk(b, n, 0, &rec, &rn) == 3);   // file_version + two summaries; the refused lines wrote nothing
    // record 0: wall_time (fixed64) then file_version "brain.Event:2"
    CHECK(rec && rn == 9 + 2 + 13 && rec[0] == 0x09 && rec[9] == 0x1a && rec[10] == 13 && memcmp(rec + 11, "brain.Event:2", 13) == 0);
    // record 1, byte by byte: wall_time 1.5, step 300 (varint ac 02), summary { value { tag "a", simple_value 0.5f } }
    static const unsigned char want1[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xac, 0x02, 0x2a, 0x0a, 0x0a, 0x08,
                                          0x0a, 0x01, 'a', 0x15, 0, 0, 0, 0x3f};
    CHECK(walk(b, n, 1, &rec, &rn) == 3 && rn == sizeof want1 && memcmp(rec, want1, sizeof want1) == 0);
    // record 2: step 7, the numbers "accuracy" and "val/acc" (no string, no null, no step)
    CHECK(walk(b, n, 2, &rec, &rn) == 3 && rn > 12 && rec[9] == 0x10 && rec[10] == 7);
    CHECK(rec && memmem(rec, rn, "accuracy", 8) && memmem(rec, rn, "val/acc", 7) && !memmem(rec, rn, "mode", 4) &&
          !memmem(rec, rn, "step", 4) && !memmem(rec, rn, "\x01x", 2));
    free(b);
    // a directory that cannot be made: the error names it and says what to check
    CHECK(tb_open(&w, "/proc/no/such/dir", err, sizeof err) != 0 && strstr(err, "/proc/no/such/dir") && strstr(err, "directory"));
}

int main(void) {
    char dir[] = "/tmp/rlvr_tb_XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_crc();
    test_file(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    return tests_done();
}
