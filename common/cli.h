// Strict number parsing for command-line options: the whole string must be a number in range, so
// "--credits 4x" or "--temperature nan" are errors instead of silently becoming something else.
#pragma once

// 0 on success, -1 when s is empty, has trailing characters, overflows, or lies outside [lo, hi].
int cli_parse_long(const char *s, long lo, long hi, long *out);
// 0 on success, -1 when s is not a complete finite number.
int cli_parse_double(const char *s, double *out);
// 0 on success, -1 when s is not a complete non-negative integer that fits 64 bits.
int cli_parse_u64(const char *s, unsigned long long *out);
