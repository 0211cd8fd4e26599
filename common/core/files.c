#include "common/core/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"

int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) { errno = EIO; return -1; }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

const char *write_error_hint(int e) {
    switch (e) {
    case ENOSPC: case EDQUOT: return "the filesystem is full or over quota: free space, then resume the run with --resume";
    case EACCES: case EPERM: case EROFS: return "is the directory writable?";
    case ENOENT: case ENOTDIR: return "does the directory exist?";
    case EIO: return "a disk error: check the device";
    default: return "check the filesystem";
    }
}

int file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    size_t n = strlen(path);
    char *tmp = mallocCheck(n + 5);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        rlvr_err(err, errlen, "cannot create '%s': %s (hint: %s)", tmp, strerror(e), write_error_hint(e));
        free(tmp);
        return -1;
    }
    int rc = write_all(fd, data, len);
    int e = errno;
    if (close(fd) != 0 && rc == 0) { rc = -1; e = errno; }
    if (rc == 0 && rename(tmp, path) != 0) { rc = -1; e = errno; }
    if (rc != 0) {
        unlink(tmp);
        rlvr_err(err, errlen, "writing '%s' failed: %s (hint: %s)", path, strerror(e), write_error_hint(e));
    }
    free(tmp);
    return rc;
}
