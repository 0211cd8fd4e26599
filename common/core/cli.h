// Command-line helpers. Strict number parsing: the whole string must be a number in range, so
// "--credits 4x" or "--temperature nan" are errors instead of silently becoming something else.
#pragma once
#include <stddef.h>

// 0 on success, -1 when s is empty, has trailing characters, overflows, or lies outside [lo, hi].
int cli_parse_long(const char *s, long lo, long hi, long *out);
// 0 on success, -1 when s is not a complete finite number.
int cli_parse_double(const char *s, double *out);
// 0 on success, -1 when s is not a complete non-negative integer that fits 64 bits.
int cli_parse_u64(const char *s, unsigned long long *out);
// A progress bar of `width` cells (<= 63) for done of total: "=====>    ", into bar (width + 1).
void cli_progress_bar(char *bar, int width, size_t done, size_t total);
// mkdir -p for --out directories. Returns 0, or -1 with err naming the path.
int cli_mkdir_p(const char *dir, char *err, size_t errlen);
