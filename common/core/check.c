#include "common/core/check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

void rlvr_die(const char *file, int line, const char *fmt, ...) {
    char where[1024];
    snprintf(where, sizeof where, "error: %s:%d", file, line);
    va_list ap;
    va_start(ap, fmt);
    log_line_v(where, fmt, ap);
    va_end(ap);
    exit(1);
}

void log_line_v(const char *prefix, const char *fmt, va_list ap) {
    // One write per line: stderr is unbuffered, so a line written in pieces could be split by
    // another thread's line (the coordinator thread logs while rank 0 trains) or, under mpirun,
    // by the rank's stdout, which reaches the same log through another pipe.
    char line[4096];
    int k = snprintf(line, sizeof line, "%s: ", prefix);
    if (k < 0 || (size_t)k >= sizeof line) k = 0;
    int m = vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    size_t len = m < 0 ? (size_t)k : (size_t)k + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;   // truncated: keep room for the newline
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
    fflush(stderr);
}

void *malloc_check(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) rlvr_die(file, line, "out of memory allocating %zu bytes (hint: reduce batch size, sequence length or model size)", size);
    return p;
}

void *calloc_check(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) rlvr_die(file, line, "out of memory allocating %zu x %zu bytes (hint: reduce batch size, sequence length or model size)", n, size);
    return p;
}

// Large buffers (weights, gradients, optimizer state, KV caches, activations) on 2 MB pages where
// the kernel offers transparent huge pages on request (THP "madvise" mode, the Debian default):
// streaming tens of MB per step through 4 KB pages misses the TLB on most pages (sampling bench,
// 56M model, 1 thread: +13-15% tokens/s). Below 2 MB, or with RLVR_NO_HUGEPAGES set, plain malloc.
// Freed with free().
void *malloc_big_check(size_t size, const char *file, int line) {
    const size_t huge = (size_t)2 << 20;
    if (size < huge || getenv("RLVR_NO_HUGEPAGES")) return malloc_check(size, file, line);
    const size_t rounded = (size + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, rounded) != 0 || !p)
        rlvr_die(file, line, "out of memory allocating %zu bytes (hint: reduce batch size, sequence length or model size)", size);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, rounded, MADV_HUGEPAGE);   // advice only: without THP the pages stay 4 KB
#endif
    return p;
}

void *calloc_big_check(size_t n, size_t size, const char *file, int line) {
    if (size && n > SIZE_MAX / size) rlvr_die(file, line, "allocation of %zu x %zu bytes overflows", n, size);
    void *p = malloc_big_check(n * size, file, line);
    memset(p, 0, n * size);
    return p;
}

void *realloc_check(void *p, size_t size, const char *file, int line) {
    void *q = realloc(p, size ? size : 1);
    if (!q) rlvr_die(file, line, "out of memory reallocating to %zu bytes", size);
    return q;
}

char *strdup_check(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = malloc_check(n, file, line);
    memcpy(p, s, n);
    return p;
}

FILE *fopen_check(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (!f) rlvr_die(file, line, "cannot open '%s' (mode %s): %s (hint: check the path exists and is %s)",
                     path, mode, strerror(errno), mode[0] == 'r' ? "readable" : "writable");
    return f;
}

void fread_check(void *ptr, size_t size, size_t n, FILE *f, const char *file, int line) {
    size_t got = fread(ptr, size, n, f);
    if (got != n) {
        if (feof(f)) rlvr_die(file, line, "file ended early: wanted %zu items of %zu bytes, got %zu (hint: the file is truncated)", n, size, got);
        rlvr_die(file, line, "read failed: %s", strerror(errno));
    }
}

void fwrite_check(const void *ptr, size_t size, size_t n, FILE *f, const char *file, int line) {
    if (fwrite(ptr, size, n, f) != n) rlvr_die(file, line, "write failed: %s (hint: disk full?)", strerror(errno));
}

void fclose_check(FILE *f, const char *file, int line) {
    if (fclose(f) != 0) rlvr_die(file, line, "close failed: %s (hint: disk full?)", strerror(errno));
}

int rlvr_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *read_file_all(const char *path, size_t *len_out, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { rlvr_err(err, errlen, "cannot open '%s': %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); rlvr_err(err, errlen, "out of memory reading '%s'", path); return NULL; }
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); rlvr_err(err, errlen, "out of memory reading '%s'", path); return NULL; }
            buf = nb; cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); rlvr_err(err, errlen, "read error on '%s'", path); return NULL; }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
