// Writing files so that a reader never sees half of one, and saying what to do when a write fails.
#pragma once
#include <stddef.h>

// Writes all len bytes to PATH.tmp, closes it and renames it over PATH: PATH holds either its old
// contents or all the new bytes, never a part. Returns 0, or -1 with err naming the path, the OS
// error and a hint (the old PATH is left as it was and PATH.tmp removed).
int file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

// Writes all n bytes to fd, resuming after short writes (a disk filling up mid-line stops write(2)
// short). 0, or -1 with errno set.
int write_all(int fd, const void *buf, size_t n);

// What to do about a failed write, from its errno: a full or over-quota filesystem, a directory that
// is not writable or does not exist, a disk error.
const char *write_error_hint(int e);
