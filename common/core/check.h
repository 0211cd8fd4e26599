// Checked wrappers for every fallible call. On failure they print file:line, what failed, the OS or
// library reason and a hint, then exit(1). Use them where failure means the program cannot go on;
// code that must survive bad input (message decoders, file loaders) returns errors instead.
#pragma once
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>

#ifdef __GNUC__
#define RLVR_NORETURN __attribute__((noreturn))
#define RLVR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RLVR_NORETURN
#define RLVR_PRINTF(a, b)
#endif

// Prints "error: <file>:<line>: <message>" and exits(1).
RLVR_NORETURN void rlvr_die(const char *file, int line, const char *fmt, ...) RLVR_PRINTF(3, 4);
#define die(...) rlvr_die(__FILE__, __LINE__, __VA_ARGS__)

// Writes "prefix: <formatted>\n" to stderr in one write (lines from several threads or processes
// sharing a log stay whole); longer than 4 KB is truncated.
void log_line_v(const char *prefix, const char *fmt, va_list ap);
void *malloc_check(size_t size, const char *file, int line);
void *calloc_check(size_t n, size_t size, const char *file, int line);
void *malloc_big_check(size_t size, const char *file, int line);
void *calloc_big_check(size_t n, size_t size, const char *file, int line);
void *realloc_check(void *p, size_t size, const char *file, int line);
char *strdup_check(const char *s, const char *file, int line);
FILE *fopen_check(const char *path, const char *mode, const char *file, int line);
void fread_check(void *ptr, size_t size, size_t n, FILE *f, const char *file, int line);
void fwrite_check(const void *ptr, size_t size, size_t n, FILE *f, const char *file, int line);
void fclose_check(FILE *f, const char *file, int line);

#define mallocCheck(size) malloc_check(size, __FILE__, __LINE__)
#define callocCheck(n, size) calloc_check(n, size, __FILE__, __LINE__)
#define mallocBigCheck(size) malloc_big_check(size, __FILE__, __LINE__)   // 2 MB pages when large
#define callocBigCheck(n, size) calloc_big_check(n, size, __FILE__, __LINE__)
#define reallocCheck(p, size) realloc_check(p, size, __FILE__, __LINE__)
#define strdupCheck(s) strdup_check(s, __FILE__, __LINE__)
#define fopenCheck(path, mode) fopen_check(path, mode, __FILE__, __LINE__)
#define freadCheck(ptr, size, n, f) fread_check(ptr, size, n, f, __FILE__, __LINE__)
#define fwriteCheck(ptr, size, n, f) fwrite_check(ptr, size, n, f, __FILE__, __LINE__)
#define fcloseCheck(f) fclose_check(f, __FILE__, __LINE__)

// Error buffer used by loaders and decoders that must not exit: fill it and return -1.
// Usage: return rlvr_err(err, errlen, "model %s: tensor %s missing", path, name);
int rlvr_err(char *err, size_t errlen, const char *fmt, ...) RLVR_PRINTF(3, 4);

// Whole-file read into a malloc'd, NUL-terminated buffer; NULL and err filled on failure.
char *read_file_all(const char *path, size_t *len_out, char *err, size_t errlen);

// Monotonic wall clock in seconds.
double now_seconds(void);
