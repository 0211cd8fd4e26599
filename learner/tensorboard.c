// TensorBoard event files; the format is described in tensorboard.h.
#include "learner/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/core/files.h"

#define TB_CRC_MASK_DELTA 0xa282ead8u
#define TB_CRC32C_POLY 0x82f63b78u        // Castagnoli, reflected
#define TB_FILE_VERSION "brain.Event:2"
#define TB_TAG_MAX 256                    // longest tag written ("outer/inner" of a metrics line)

// protobuf field keys: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32)
#define PB_EVENT_WALL_TIME 0x09
#define PB_EVENT_STEP 0x10
#define PB_EVENT_FILE_VERSION 0x1a
#define PB_EVENT_SUMMARY 0x2a
#define PB_SUMMARY_VALUE 0x0a
#define PB_VALUE_TAG 0x0a
#define PB_VALUE_SIMPLE 0x15

uint32_t tb_crc32c(const void *data, size_t n) {
    static uint32_t table[256];
    static int ready = 0;
    if (!ready) {   // computed once; a race computes the same table twice
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ TB_CRC32C_POLY : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t tb_masked_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + TB_CRC_MASK_DELTA; }

// A growable byte buffer for one protobuf message.
typedef struct { unsigned char *p; size_t n, cap; } Buf;

static void buf_put(Buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = reallocCheck(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_byte(Buf *b, unsigned char c) { buf_put(b, &c, 1); }

static void put_varint(Buf *b, uint64_t v) {
    while (v >= 0x80) { put_byte(b, (unsigned char)(v | 0x80)); v >>= 7; }
    put_byte(b, (unsigned char)v);
}

static void put_le(Buf *b, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++) put_byte(b, (unsigned char)(v >> (8 * i)));
}

static void put_bytes_field(Buf *b, unsigned char key, const void *data, size_t n) {
    put_byte(b, key);
    put_varint(b, n);
    buf_put(b, data, n);
}

static void put_double_field(Buf *b, unsigned char key, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    put_byte(b, key);
    put_le(b, u, 8);
}

static void put_float_field(Buf *b, unsigned char key, float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    put_byte(b, key);
    put_le(b, u, 4);
}

// Frames an Event as one TFRecord and appends it with one write; a short write is cut off again.
static int write_record(TbWriter *w, const Buf *ev, char *err, size_t errlen) {
    Buf r = {0};
    put_le(&r, ev->n, 8);
    put_le(&r, tb_masked_crc(tb_crc32c(r.p, 8)), 4);
    buf_put(&r, ev->p, ev->n);
    put_le(&r, tb_masked_crc(tb_crc32c(ev->p, ev->n)), 4);
    struct stat sb;
    int rc = 0;
    if (fstat(w->fd, &sb) != 0 || write_all(w->fd, r.p, r.n) != 0) {
        int e = errno;
        int cut = ftruncate(w->fd, sb.st_size);
        rc = rlvr_err(err, errlen, "writing %s failed: %s (%s)%s", w->path, strerror(e), write_error_hint(e),
                      cut == 0 ? "" : "; the file may end with a partial record (TensorBoard ignores it)");
    }
    free(r.p);
    return rc;
}

static int mkdir_parents(const char *dir) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) { errno = ENAMETOOLONG; return -1; }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

int tb_open(TbWriter *w, const char *dir, char *err, size_t errlen) {
    w->fd = -1;
    if (mkdir_parents(dir) != 0) {
        int e = errno;
        return rlvr_err(err, errlen, "cannot create %s: %s (%s)", dir, strerror(e), write_error_hint(e));
    }
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *s = host; *s; s++)
        if (*s == '/') *s = '_';
    snprintf(w->path, sizeof w->path, "%.3000s/events.out.tfevents.%lld.%.200s.%ld", dir, (long long)time(NULL), host, (long)getpid());
    w->fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        return rlvr_err(err, errlen, "cannot create %s: %s (%s)", w->path, strerror(e), write_error_hint(e));
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    Buf ev = {0};
    put_double_field(&ev, PB_EVENT_WALL_TIME, (double)ts.tv_sec + ts.tv_nsec * 1e-9);
    put_bytes_field(&ev, PB_EVENT_FILE_VERSION, TB_FILE_VERSION, strlen(TB_FILE_VERSION));
    int rc = write_record(w, &ev, err, errlen);
    free(ev.p);
    if (rc != 0) tb_close(w);
    return rc;
}

int tb_write_scalars(TbWriter *w, int64_t step, double wall_time, const char *const *tags, const double *vals, size_t n,
                     char *err, size_t errlen) {
    if (w->fd < 0) return rlvr_err(err, errlen, "tensorboard: the event file is not open");
    Buf sum = {0}, val = {0}, ev = {0};
    for (size_t i = 0; i < n; i++) {
        val.n = 0;
        put_bytes_field(&val, PB_VALUE_TAG, tags[i], strlen(tags[i]));
        put_float_field(&val, PB_VALUE_SIMPLE, (float)vals[i]);
        put_bytes_field(&sum, PB_SUMMARY_VALUE, val.p, val.n);
    }
    put_double_field(&ev, PB_EVENT_WALL_TIME, wall_time);
    put_byte(&ev, PB_EVENT_STEP);
    put_varint(&ev, (uint64_t)step);   // int64 varint: a negative step takes ten bytes, as protobuf has it
    put_bytes_field(&ev, PB_EVENT_SUMMARY, sum.p, sum.n);
    int rc = write_record(w, &ev, err, errlen);
    free(sum.p); free(val.p); free(ev.p);
    return rc;
}

// Collects the finite numbers of a JSON object (nested objects as "outer/inner").
typedef struct { char **tags; double *vals; size_t n, cap; } Scalars;

static void collect(Scalars *s, json_t *o, const char *prefix) {   // prefix: at most TB_TAG_MAX + 1 bytes
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        char tag[TB_TAG_MAX];
        snprintf(tag, sizeof tag, "%s%s", prefix, k);
        if (json_is_object(v)) {
            char sub[TB_TAG_MAX + 2];
            snprintf(sub, sizeof sub, "%s/", tag);
            collect(s, v, sub);
            continue;
        }
        if (!json_is_number(v) || !strcmp(tag, "step")) continue;
        double x = json_number_value(v);
        if (!isfinite(x)) continue;
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->tags = reallocCheck(s->tags, s->cap * sizeof(char *));
            s->vals = reallocCheck(s->vals, s->cap * sizeof(double));
        }
        s->tags[s->n] = strdupCheck(tag);
        s->vals[s->n] = x;
        s->n++;
    }
}

int tb_write_metrics_line(TbWriter *w, const char *json_line, double wall_time, char *err, size_t errlen) {
    json_error_t je;
    json_t *o = json_loads(json_line, 0, &je);
    if (!o || !json_is_object(o)) {
        if (o) json_decref(o);
        return rlvr_err(err, errlen, "tensorboard: the metrics line is not a JSON object (%s)", je.text);
    }
    json_t *st = json_object_get(o, "step");
    if (!json_is_integer(st)) {
        json_decref(o);
        return rlvr_err(err, errlen, "tensorboard: the metrics line has no integer \"step\"");
    }
    Scalars s = {0};
    collect(&s, o, "");
    int rc = tb_write_scalars(w, (int64_t)json_integer_value(st), wall_time, (const char *const *)s.tags, s.vals, s.n, err, errlen);
    for (size_t i = 0; i < s.n; i++) free(s.tags[i]);
    free(s.tags); free(s.vals);
    json_decref(o);
    return rc;
}

void tb_close(TbWriter *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}
