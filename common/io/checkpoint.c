// HDF5 checkpoints: write (tmp + fsync + rename), prune, verify (CRC-32C per dataset), load, find
// the newest complete one. The layout is described in checkpoint.h.
#include "common/io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

#include "common/core/check.h"
#include "common/core/files.h"
#include "common/io/model_h5.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint CRCs are defined over little-endian bytes; add a byte swap for big-endian hosts"
#endif

// ---- CRC-32C -------------------------------------------------------------------------------------

#ifndef __SSE4_2__
// Slicing-by-8 tables for hosts without the SSE4.2 crc32 instruction; built once (pthread_once)
// because an 8 KB literal table would be unreadable.
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_tab[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++) crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}
#endif

uint32_t checkpoint_crc32c(uint32_t crc, const void *buf, size_t len) {
    const unsigned char *p = buf;
    uint32_t c = ~crc;
#ifdef __SSE4_2__
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--) c = _mm_crc32_u8(c, *p++);
#else
    pthread_once(&crc_once, crc_init);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^ crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
            crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^ crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--) c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
#endif
    return ~c;
}

// ---- small HDF5 helpers ------------------------------------------------------------------------

static int attr_write_u32(hid_t obj, const char *name, uint32_t v) {
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_U32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, H5T_NATIVE_UINT32, &v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

static int read_crc_attr_named(hid_t obj, const char *name, uint32_t *crc) {
    long long v;
    char e[128];
    if (H5Aexists(obj, name) <= 0 || h5_attr_read_int(obj, name, &v, e, sizeof(e)) != 0 || v < 0 || v > UINT32_MAX) return -1;
    *crc = (uint32_t)v;
    return 0;
}

static int read_crc_attr(hid_t obj, uint32_t *crc) {
    long long v;
    char e[128];
    if (H5Aexists(obj, "crc32c") <= 0 || h5_attr_read_int(obj, "crc32c", &v, e, sizeof(e)) != 0 || v < 0 || v > UINT32_MAX) return -1;
    *crc = (uint32_t)v;
    return 0;
}

// The root's numeric attributes, in a fixed text form, so a flipped bit in them is caught too.
static uint32_t header_crc(int64_t version, int64_t step, int64_t pv, int64_t ostep, uint64_t np) {
    char s[256];
    int n = snprintf(s, sizeof(s), "rlvr-checkpoint v%" PRId64 " step=%" PRId64 " pv=%" PRId64 " ostep=%" PRId64 " np=%" PRIu64,
                     version, step, pv, ostep, np);
    return checkpoint_crc32c(0, s, (size_t)n);
}

// 1-D dataset of `n` elements of file type `ftype` from `buf` (memory type `mtype`), with its CRC.
static int write_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *buf, size_t n, size_t elem) {
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (rc == 0 && n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) rc = -1;
    if (rc == 0 && attr_write_u32(d, "crc32c", n ? checkpoint_crc32c(0, buf, n * elem) : 0) < 0) rc = -1;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return rc;
}

// Scalar fixed-length string dataset (h5py: f["run_config"][()] -> bytes). Empty strings are stored
// as one NUL byte because HDF5 string types cannot have size 0.
static int write_string(hid_t loc, const char *name, const char *s) {
    if (!s) s = "";
    size_t n = strlen(s), sz = n ? n : 1;
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, sz);
    H5Tset_strpad(ty, H5T_STR_NULLPAD);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *buf = n ? s : "";
    int rc = d < 0 || H5Dwrite(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
    if (rc == 0 && attr_write_u32(d, "crc32c", checkpoint_crc32c(0, buf, sz)) < 0) rc = -1;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(ty);
    return rc;
}

// Per-tensor CRCs of one parameter-layout buffer, in parallel (the checksum pass must not dominate
// the save time of a 7B model).
static void tensor_crcs(const Model *m, const float *base, uint32_t *out) {
#pragma omp parallel for schedule(dynamic, 1) if (m->num_params > ((size_t)1 << 22))
    for (int i = 0; i < m->num_tensors; i++)
        out[i] = checkpoint_crc32c(0, base + m->tensors[i].offset, m->tensors[i].numel * sizeof(float));
}

static int write_moments(hid_t g, const Model *m, const float *buf, const uint32_t *crcs) {
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        hsize_t dims[2] = {t->shape[0], t->shape[1]};
        hid_t sp = H5Screate_simple(t->ndim, dims, NULL);
        hid_t d = H5Dcreate2(g, t->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int bad = d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset) < 0 ||
                  attr_write_u32(d, "crc32c", crcs[i]) < 0;
        if (d >= 0) H5Dclose(d);
        H5Sclose(sp);
        if (bad) return -1;
    }
    return 0;
}

static int fsync_path(const char *path, int is_dir) {
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *out, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, n, ".");
    else if (slash == path) snprintf(out, n, "/");
    else snprintf(out, n, "%.*s", (int)(slash - path), path);
}

// ---- write ---------------------------------------------------------------------------------------

static int attrs_crc(hid_t f, uint32_t *out);

// "<OS error text>" when HDF5 failed on an OS error, else HDF5's own message.
static const char *write_error_text(int e, char *h5e, size_t len) {
    if (e == ENOSPC || e == EDQUOT || e == EACCES || e == EPERM || e == EROFS || e == ENOENT || e == ENOTDIR || e == EIO)
        return strerror(e);
    return h5_error_text(h5e, len);
}

static int write_file(const char *tmp, const char *path, const CheckpointState *st, char *err, size_t errlen) {
    const Model *m = st->model;
    char h5e[256];
    errno = 0;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        int e = errno;
        return rlvr_err(err, errlen, "checkpoint '%s': cannot create '%s': %s (hint: %s)", path, tmp,
                        write_error_text(e, h5e, sizeof(h5e)), write_error_hint(e));
    }
    int bad = 0;
    const char *what = "root attributes";
    bad |= h5_attr_write_str(f, "magic", CKPT_MAGIC);
    bad |= h5_attr_write_int(f, "format_version", CKPT_FORMAT_VERSION);
    bad |= h5_attr_write_int(f, "step", st->step);
    bad |= h5_attr_write_int(f, "policy_version", st->policy_version);
    bad |= h5_attr_write_int(f, "optimizer_step", st->optimizer_step);
    bad |= h5_attr_write_int(f, "num_params", (long long)m->num_params);
    bad |= h5_attr_write_str(f, "checksum", "crc32c");
    bad |= h5_attr_write_str(f, "writer", "rlvr.c");
    bad |= attr_write_u32(f, "header_crc32c", header_crc(CKPT_FORMAT_VERSION, st->step, st->policy_version, st->optimizer_step, m->num_params));
    bad = bad ? -1 : 0;
    if (!bad) {
        what = "model";
        char merr[512];
        if (model_h5_write(f, m, merr, sizeof(merr)) != 0) {
            H5Fclose(f);
            return rlvr_err(err, errlen, "checkpoint '%s': %s", path, merr);
        }
    }
    int nt = m->num_tensors;
    uint32_t *crcs = mallocCheck((size_t)(nt ? nt : 1) * sizeof(uint32_t));
    if (!bad) {
        tensor_crcs(m, m->params, crcs);
        hid_t g = H5Gopen2(f, "model", H5P_DEFAULT);
        for (int i = 0; i < nt && !bad && g >= 0; i++) {
            hid_t d = H5Dopen2(g, m->tensors[i].name, H5P_DEFAULT);
            bad = d < 0 || attr_write_u32(d, "crc32c", crcs[i]) < 0;
            if (d >= 0) H5Dclose(d);
        }
        bad |= g < 0;
        if (g >= 0) H5Gclose(g);
    }
    if (!bad) { what = "run_config"; bad = write_string(f, "run_config", st->config_yaml) != 0; }
    if (!bad && m->adam_m && m->adam_v) {
        what = "optimizer";
        hid_t g = H5Gcreate2(f, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad = g < 0 || h5_attr_write_int(g, "step", st->optimizer_step) != 0;
        const char *names[2] = {"adam_m", "adam_v"};
        const float *bufs[2] = {m->adam_m, m->adam_v};
        for (int k = 0; k < 2 && !bad; k++) {
            what = k == 0 ? "optimizer/adam_m" : "optimizer/adam_v";
            hid_t sg = H5Gcreate2(g, names[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (sg < 0) { bad = 1; break; }
            tensor_crcs(m, bufs[k], crcs);
            bad = write_moments(sg, m, bufs[k], crcs) != 0;
            H5Gclose(sg);
        }
        if (g >= 0) H5Gclose(g);
    }
    free(crcs);
    if (!bad) { what = "rng"; bad = write_array(f, "rng", H5T_STD_U64LE, H5T_NATIVE_UINT64, st->rng, st->rng_len, 8) != 0; }
    if (!bad) { what = "data"; bad = write_array(f, "data", H5T_STD_U64LE, H5T_NATIVE_UINT64, st->data, st->data_len, 8) != 0; }
    if (!bad) { what = "coordinator"; bad = write_array(f, "coordinator", H5T_STD_U8LE, H5T_NATIVE_UINT8, st->coordinator, st->coordinator_len, 1) != 0; }
    if (!bad && st->metrics) { what = "metrics"; bad = write_string(f, "metrics", st->metrics) != 0; }
    // Everything is on its way to disk before the file says it is complete.
    if (!bad) {
        what = "attribute checksum";
        uint32_t ac = 0;
        bad = attrs_crc(f, &ac) != 0 || attr_write_u32(f, "attrs_crc32c", ac) < 0;
    }
    if (!bad) { what = "flush"; bad = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0; }
    if (!bad) { what = "complete flag"; bad = h5_attr_write_int(f, "complete", 1) != 0; }
    int e = bad ? errno : 0;
    const char *why = bad ? write_error_text(e, h5e, sizeof(h5e)) : "";
    if (H5Fclose(f) < 0 && !bad) { bad = 1; what = "close"; e = errno; why = write_error_text(e, h5e, sizeof(h5e)); }
    if (bad) return rlvr_err(err, errlen, "checkpoint '%s': writing %s failed: %s (hint: %s)", path, what, why, write_error_hint(e));
    return 0;
}

int checkpoint_write(const char *path, const CheckpointState *st, char *err, size_t errlen) {
    const Model *m = st->model;
    if (!m || !m->params || !m->tensors)
        return rlvr_err(err, errlen, "checkpoint '%s': no model to save (CheckpointState.model is empty)", path);
    if ((m->adam_m == NULL) != (m->adam_v == NULL))
        return rlvr_err(err, errlen, "checkpoint '%s': adam_m and adam_v must both be set or both be NULL", path);
    if ((st->rng_len && !st->rng) || (st->data_len && !st->data) || (st->coordinator_len && !st->coordinator))
        return rlvr_err(err, errlen, "checkpoint '%s': a buffer has a length but no data (rng/data/coordinator)", path);
    size_t n = strlen(path);
    char *tmp = mallocCheck(n + 5);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    unlink(tmp);   // a leftover from a crashed save
    H5Quiet q;
    h5_quiet_begin(&q);
    int rc = write_file(tmp, path, st, err, errlen);
    h5_quiet_end(&q);
    if (rc == 0 && fsync_path(tmp, 0) != 0)
        rc = rlvr_err(err, errlen, "checkpoint '%s': fsync of '%s' failed: %s", path, tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = rlvr_err(err, errlen, "checkpoint '%s': rename from '%s' failed: %s", path, tmp, strerror(errno));
    if (rc != 0) {
        unlink(tmp);
    } else {
        char d[4096];
        dir_of(path, d, sizeof(d));
        fsync_path(d, 1);   // best effort: makes the rename durable; not all filesystems allow it
    }
    free(tmp);
    return rc;
}

// ---- attribute checksum --------------------------------------------------------------------------
// attrs_crc32c (format 2) covers every attribute in the file: the model's config (rope_theta,
// vocab_size, ...), the root's strings, the optimizer's step, ... Each contributes its name, type
// class and size, and value bytes, objects and attributes in name order. Left out: the
// checksums themselves (a flipped bit there fails the check they make) and "complete" (anything but
// 1 already fails).
typedef struct { uint32_t crc; int failed; } AttrsCrc;

static int attr_is_own_checksum(const char *name) {
    return !strcmp(name, "crc32c") || !strcmp(name, "header_crc32c") || !strcmp(name, "attrs_crc32c") || !strcmp(name, "complete");
}

static herr_t attr_crc_cb(hid_t obj, const char *name, const H5A_info_t *ainfo, void *data) {
    (void)ainfo;
    AttrsCrc *ac = data;
    if (attr_is_own_checksum(name)) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    int rc = a < 0 || t < 0 || n < 0 ? -1 : 0;
    if (rc == 0) {
        uint32_t head[2] = {(uint32_t)H5Tget_class(t), (uint32_t)H5Tget_size(t)};
        ac->crc = checkpoint_crc32c(ac->crc, name, strlen(name) + 1);
        ac->crc = checkpoint_crc32c(ac->crc, head, sizeof head);
        if (H5Tis_variable_str(t) > 0) {
            char **v = callocCheck((size_t)(n ? n : 1), sizeof(char *));
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, v) < 0) rc = -1;
            for (hssize_t i = 0; i < n && rc == 0; i++) ac->crc = checkpoint_crc32c(ac->crc, v[i] ? v[i] : "", v[i] ? strlen(v[i]) + 1 : 1);
            if (rc == 0) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
            H5Tclose(mt);
            free(v);
        } else {
            size_t sz = (size_t)n * H5Tget_size(t);
            unsigned char *buf = mallocCheck(sz ? sz : 1);
            if (sz && H5Aread(a, t, buf) < 0) rc = -1;   // the file's own type: the stored bytes
            else ac->crc = checkpoint_crc32c(ac->crc, buf, sz);
            free(buf);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (rc != 0) { ac->failed = 1; return 1; }
    return 0;
}

// The object's path is not part of the sum (a missing or renamed dataset is reported as such by the
// structure checks); its attributes' names and values are.
static int attrs_of(hid_t o, AttrsCrc *ac) {
    hsize_t idx = 0;
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_crc_cb, ac) < 0) ac->failed = 1;
    return ac->failed ? -1 : 0;
}

static herr_t attrs_visit_cb(hid_t g, const char *name, const H5L_info_t *linfo, void *data) {
    if (linfo->type != H5L_TYPE_HARD) return 0;
    AttrsCrc *ac = data;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) { ac->failed = 1; return 1; }
    int rc = attrs_of(o, ac);
    H5Oclose(o);
    return rc ? 1 : 0;
}

// CRC-32C of every attribute of the open file f (see above). -1 when one cannot be read.
static int attrs_crc(hid_t f, uint32_t *out) {
    AttrsCrc ac = {0, 0};
    if (attrs_of(f, &ac) != 0) return -1;
    if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, attrs_visit_cb, &ac) < 0 || ac.failed) return -1;
    *out = ac.crc;
    return 0;
}

// ---- listing -------------------------------------------------------------------------------------

typedef struct { int64_t step; char name[256]; } Cand;

// "ckpt_<digits>.h5" -> step; -1 when the name is not a checkpoint name. tmp: "<...>.h5.tmp".
static int64_t parse_name(const char *name, int tmp) {
    if (strncmp(name, "ckpt_", 5) != 0) return -1;
    const char *p = name + 5;
    int64_t v = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 18) { v = v * 10 + (*p - '0'); p++; nd++; }
    if (nd == 0) return -1;
    return strcmp(p, tmp ? ".h5.tmp" : ".h5") == 0 ? v : -1;
}

static int cand_cmp(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    if (x->step != y->step) return x->step > y->step ? -1 : 1;
    return strcmp(x->name, y->name);
}

// Checkpoint files of dir, newest (highest step) first. A missing dir is an empty list.
static int list_ckpts(const char *dir, int tmp, Cand **out, int *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return rlvr_err(err, errlen, "checkpoint dir '%s': %s", dir, strerror(errno));
    }
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t s = parse_name(e->d_name, tmp);
        if (s < 0 || strlen(e->d_name) >= sizeof((*out)->name)) continue;
        if (*n == cap) { cap = cap ? cap * 2 : 16; *out = reallocCheck(*out, (size_t)cap * sizeof(Cand)); }
        (*out)[*n].step = s;
        snprintf((*out)[*n].name, sizeof((*out)->name), "%s", e->d_name);
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof(Cand), cand_cmp);
    return 0;
}

// ---- verify --------------------------------------------------------------------------------------

// Header checks on an open file; fills info.
static int check_header(hid_t f, const char *path, CheckpointInfo *info, char *err, size_t errlen) {
    char s[64], aerr[256];
    long long v;
    memset(info, 0, sizeof(*info));
    if (H5Aexists(f, "magic") <= 0 || h5_attr_read_str(f, "magic", s, sizeof(s), aerr, sizeof(aerr)) != 0 || strcmp(s, CKPT_MAGIC) != 0) {
        if (H5Aexists(f, "magic") > 0 && h5_attr_read_str(f, "magic", s, sizeof(s), aerr, sizeof(aerr)) == 0 && !strcmp(s, MODEL_H5_MAGIC))
            return rlvr_err(err, errlen, "checkpoint '%s': this is a native model file (magic \"%s\"), not a checkpoint (hint: load it with model.path)", path, s);
        return rlvr_err(err, errlen, "checkpoint '%s': root attribute magic is not \"%s\" (hint: not an rlvr checkpoint)", path, CKPT_MAGIC);
    }
    if (h5_attr_read_int(f, "format_version", &v, aerr, sizeof(aerr)) != 0)
        return rlvr_err(err, errlen, "checkpoint '%s': %s", path, aerr);
    info->format_version = (int)v;
    if (v > CKPT_FORMAT_VERSION)
        return rlvr_err(err, errlen, "checkpoint '%s': format_version %lld was written by a newer rlvr; this build reads version %d (hint: upgrade)",
                        path, v, CKPT_FORMAT_VERSION);
    if (v < 1) return rlvr_err(err, errlen, "checkpoint '%s': format_version %lld is invalid", path, v);
    if (H5Aexists(f, "complete") <= 0 || h5_attr_read_int(f, "complete", &v, aerr, sizeof(aerr)) != 0 || v != 1)
        return rlvr_err(err, errlen, "checkpoint '%s': incomplete (no complete = 1 attribute: the save was interrupted)", path);
    info->complete = 1;
    long long step, pv, os, np, hcrc;
    if (h5_attr_read_int(f, "step", &step, aerr, sizeof(aerr)) != 0 || h5_attr_read_int(f, "policy_version", &pv, aerr, sizeof(aerr)) != 0 ||
        h5_attr_read_int(f, "optimizer_step", &os, aerr, sizeof(aerr)) != 0 || h5_attr_read_int(f, "num_params", &np, aerr, sizeof(aerr)) != 0 ||
        h5_attr_read_int(f, "header_crc32c", &hcrc, aerr, sizeof(aerr)) != 0)
        return rlvr_err(err, errlen, "checkpoint '%s': %s", path, aerr);
    if ((uint32_t)hcrc != header_crc(info->format_version, step, pv, os, (uint64_t)np))
        return rlvr_err(err, errlen, "checkpoint '%s': the root attributes (step, versions, num_params) fail their checksum: corrupt file", path);
    if (info->format_version >= 2) {
        uint32_t want = 0, got = 0;
        if (read_crc_attr_named(f, "attrs_crc32c", &want) != 0)
            return rlvr_err(err, errlen, "checkpoint '%s': the attribute checksum attrs_crc32c is missing or unreadable: corrupt file", path);
        if (attrs_crc(f, &got) != 0)
            return rlvr_err(err, errlen, "checkpoint '%s': an attribute cannot be read: corrupt file", path);
        if (got != want)
            return rlvr_err(err, errlen, "checkpoint '%s': the attributes (model config such as rope_theta, run metadata) fail their "
                            "checksum (crc32c %08x, stored %08x): corrupt file", path, got, want);
    }
    info->step = step;
    info->policy_version = pv;
    info->optimizer_step = os;
    info->num_params = (uint64_t)np;
    static const char *required[] = {"config", "model", "run_config", "rng", "data", "coordinator"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (H5Lexists(f, required[i], H5P_DEFAULT) <= 0)
            return rlvr_err(err, errlen, "checkpoint '%s': '/%s' is missing (hint: corrupt or hand-edited file)", path, required[i]);
    info->has_optimizer = H5Lexists(f, "optimizer", H5P_DEFAULT) > 0;
    const char *arrays[3] = {"rng", "data", "coordinator"};
    size_t *lens[3] = {&info->rng_len, &info->data_len, &info->coordinator_len};
    for (int i = 0; i < 3; i++) {
        hid_t d = H5Dopen2(f, arrays[i], H5P_DEFAULT);
        if (d < 0) return rlvr_err(err, errlen, "checkpoint '%s': '/%s' is not a dataset", path, arrays[i]);
        hid_t sp = H5Dget_space(d);
        hssize_t np2 = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        H5Dclose(d);
        if (np2 < 0) return rlvr_err(err, errlen, "checkpoint '%s': cannot read the size of '/%s'", path, arrays[i]);
        *lens[i] = (size_t)np2;
    }
    return 0;
}

typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    int failed;
    size_t count;
    uint64_t bytes;
    uint64_t file_size;
} VisitCtx;

// Re-reads one dataset's raw bytes (in slabs along the first dimension) and checks its CRC.
static int verify_dataset(hid_t d, const char *name, VisitCtx *v) {
    uint32_t want = 0;
    if (read_crc_attr(d, &want) != 0)
        return rlvr_err(v->err, v->errlen, "checkpoint '%s': dataset '/%s' has no crc32c attribute (hint: corrupt or not written by rlvr)", v->path, name);
    hid_t ty = H5Dget_type(d), sp = H5Dget_space(d);
    int rc = 0;
    size_t elem = H5Tget_size(ty);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8] = {0};
    if (ty < 0 || sp < 0 || elem == 0 || nd < 0 || nd > 8 || H5Tis_variable_str(ty) > 0) {
        rc = rlvr_err(v->err, v->errlen, "checkpoint '%s': dataset '/%s' has an unsupported type or shape", v->path, name);
        goto out;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    uint64_t total = (uint64_t)npts * elem;
    if (npts < 0 || total > v->file_size) {
        rc = rlvr_err(v->err, v->errlen, "checkpoint '%s': dataset '/%s' claims %" PRIu64 " bytes, more than the file holds (corrupt)", v->path, name, total);
        goto out;
    }
    uint32_t crc = 0;
    if (nd == 0 || total == 0) {
        unsigned char *buf = mallocCheck(total ? total : 1);
        if (total && H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) rc = -1;
        else crc = checkpoint_crc32c(0, buf, total);
        free(buf);
    } else {
        uint64_t row = total / dims[0];
        hsize_t rows = row ? (hsize_t)((64u << 20) / row) : dims[0];
        if (rows == 0) rows = 1;
        if (rows > dims[0]) rows = dims[0];
        unsigned char *buf = mallocCheck((rows * row) > 0 ? rows * row : 1);
        for (hsize_t r0 = 0; r0 < dims[0] && rc == 0; r0 += rows) {
            hsize_t cnt[8], start[8] = {0};
            for (int i = 0; i < nd; i++) cnt[i] = dims[i];
            start[0] = r0;
            cnt[0] = r0 + rows <= dims[0] ? rows : dims[0] - r0;
            hid_t fs = H5Dget_space(d);
            hid_t ms = H5Screate_simple(nd, cnt, NULL);
            if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 || H5Dread(d, ty, ms, fs, H5P_DEFAULT, buf) < 0) rc = -1;
            else crc = checkpoint_crc32c(crc, buf, cnt[0] * row);
            H5Sclose(ms);
            H5Sclose(fs);
        }
        free(buf);
    }
    if (rc != 0) {
        char h5e[256];
        rc = rlvr_err(v->err, v->errlen, "checkpoint '%s': cannot read dataset '/%s': %s (hint: truncated or corrupt file)",
                      v->path, name, h5_error_text(h5e, sizeof(h5e)));
    } else if (crc != want) {
        rc = rlvr_err(v->err, v->errlen, "checkpoint '%s': dataset '/%s' fails its checksum (crc32c %08x, stored %08x): the file is corrupt",
                      v->path, name, crc, want);
    } else {
        v->count++;
        v->bytes += total;
    }
out:
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *linfo, void *data) {
    VisitCtx *v = data;
    if (linfo->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        rlvr_err(v->err, v->errlen, "checkpoint '%s': cannot open '/%s' (corrupt file)", v->path, name);
        v->failed = 1;
        return 1;
    }
    int rc = 0;
    if (H5Iget_type(o) == H5I_DATASET) rc = verify_dataset(o, name, v);
    H5Oclose(o);
    if (rc != 0) { v->failed = 1; return 1; }
    return 0;
}

static hid_t open_ckpt(const char *path, char *err, size_t errlen) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        char h5e[256];
        h5_error_text(h5e, sizeof(h5e));
        struct stat sb;
        if (stat(path, &sb) != 0) rlvr_err(err, errlen, "checkpoint '%s': %s", path, strerror(errno));
        else rlvr_err(err, errlen, "checkpoint '%s': HDF5 cannot open it: %s (hint: the file is truncated or not HDF5)", path, h5e);
    }
    return f;
}

int checkpoint_verify(const char *path, int full, CheckpointInfo *info_out, char *err, size_t errlen) {
    CheckpointInfo info;
    H5Quiet q;
    h5_quiet_begin(&q);
    hid_t f = open_ckpt(path, err, errlen);
    int rc = f < 0 ? -1 : check_header(f, path, &info, err, errlen);
    if (rc == 0 && full) {
        struct stat sb;
        VisitCtx v = {path, err, errlen, 0, 0, 0, stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0};
        herr_t r = H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &v);
        if (v.failed) rc = -1;
        else if (r < 0) rc = rlvr_err(err, errlen, "checkpoint '%s': cannot walk the file's groups (corrupt file)", path);
        info.datasets_checked = v.count;
        info.bytes_checked = v.bytes;
    }
    if (f >= 0) H5Fclose(f);
    h5_quiet_end(&q);
    if (rc == 0 && info_out) *info_out = info;
    return rc;
}

int checkpoint_is_checkpoint(const char *path) {
    H5Quiet q;
    h5_quiet_begin(&q);
    int yes = 0;
    if (H5Fis_hdf5(path) > 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        char s[64], e[128];
        if (f >= 0) {
            yes = H5Aexists(f, "magic") > 0 && h5_attr_read_str(f, "magic", s, sizeof(s), e, sizeof(e)) == 0 && !strcmp(s, CKPT_MAGIC);
            H5Fclose(f);
        }
    }
    h5_quiet_end(&q);
    return yes;
}

// ---- load ----------------------------------------------------------------------------------------

void checkpoint_state_free(CheckpointState *st) {
    free(st->rng);
    free(st->data);
    free(st->coordinator);
    free(st->config_yaml);
    free(st->metrics);
    Model *m = st->model;
    memset(st, 0, sizeof(*st));
    st->model = m;
}

static int read_string(hid_t f, const char *path, const char *name, char **out, char *err, size_t errlen) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s' is missing", path, name);
    hid_t ty = H5Dget_type(d);
    int rc = 0;
    uint32_t want = 0;
    size_t sz = ty >= 0 ? H5Tget_size(ty) : 0;
    if (ty < 0 || H5Tget_class(ty) != H5T_STRING || H5Tis_variable_str(ty) > 0 || sz == 0 || sz > (1u << 30))
        rc = rlvr_err(err, errlen, "checkpoint '%s': '/%s' is not a fixed-length string dataset", path, name);
    else if (read_crc_attr(d, &want) != 0)
        rc = rlvr_err(err, errlen, "checkpoint '%s': '/%s' has no crc32c attribute", path, name);
    char *buf = NULL;
    if (rc == 0) {
        buf = mallocCheck(sz + 1);
        if (H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            char h5e[256];
            rc = rlvr_err(err, errlen, "checkpoint '%s': cannot read '/%s': %s", path, name, h5_error_text(h5e, sizeof(h5e)));
        } else if (checkpoint_crc32c(0, buf, sz) != want) {
            rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s' fails its checksum: the file is corrupt", path, name);
        }
        buf[sz] = 0;
    }
    if (ty >= 0) H5Tclose(ty);
    H5Dclose(d);
    if (rc != 0) { free(buf); return -1; }
    *out = buf;
    return 0;
}

// 1-D integer dataset of `elem`-byte elements into a malloc'd buffer (NULL when empty).
static int read_array(hid_t f, const char *path, const char *name, hid_t mtype, size_t elem, void **out, size_t *n,
                      char *err, size_t errlen) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s' is missing", path, name);
    hid_t ty = H5Dget_type(d), sp = H5Dget_space(d);
    int rc = 0;
    uint32_t want = 0;
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(ty) != H5T_INTEGER || H5Tget_size(ty) != elem || H5Sget_simple_extent_ndims(sp) != 1 || np < 0 || np > (1LL << 34) / (hssize_t)elem)
        rc = rlvr_err(err, errlen, "checkpoint '%s': '/%s' is not a 1-D array of %zu-byte integers", path, name, elem);
    else if (read_crc_attr(d, &want) != 0)
        rc = rlvr_err(err, errlen, "checkpoint '%s': '/%s' has no crc32c attribute", path, name);
    void *buf = NULL;
    if (rc == 0 && np > 0) {
        buf = mallocCheck((size_t)np * elem);
        if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            char h5e[256];
            rc = rlvr_err(err, errlen, "checkpoint '%s': cannot read '/%s': %s", path, name, h5_error_text(h5e, sizeof(h5e)));
        } else if (checkpoint_crc32c(0, buf, (size_t)np * elem) != want) {
            rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s' fails its checksum: the file is corrupt", path, name);
        }
    } else if (rc == 0 && want != 0) {
        rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s' fails its checksum: the file is corrupt", path, name);
    }
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(d);
    if (rc != 0) { free(buf); return -1; }
    *out = buf;
    *n = (size_t)np;
    return 0;
}

// Reads the expected CRCs of every tensor under group `gname` ("model", "optimizer/adam_m"), and
// (for the moments) the tensors themselves into buf.
static int read_tensor_group(hid_t f, const char *path, const char *gname, const Model *m, float *buf, uint32_t *want,
                             char *err, size_t errlen) {
    hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
    if (g < 0) return rlvr_err(err, errlen, "checkpoint '%s': group '/%s' is missing", path, gname);
    int rc = 0;
    for (int i = 0; i < m->num_tensors && rc == 0; i++) {
        const TensorInfo *t = &m->tensors[i];
        hid_t d = H5Lexists(g, t->name, H5P_DEFAULT) > 0 ? H5Dopen2(g, t->name, H5P_DEFAULT) : -1;
        if (d < 0) { rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s/%s' is missing", path, gname, t->name); break; }
        if (read_crc_attr(d, &want[i]) != 0)
            rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s/%s' has no crc32c attribute", path, gname, t->name);
        if (rc == 0 && buf) {
            hid_t sp = H5Dget_space(d), ty = H5Dget_type(d);
            hsize_t dims[8] = {0};
            int nd = H5Sget_simple_extent_ndims(sp);
            if (nd >= 0 && nd <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
            if (nd != t->ndim || dims[0] != t->shape[0] || (nd == 2 && dims[1] != t->shape[1]) || H5Tget_class(ty) != H5T_FLOAT)
                rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s/%s' has the wrong shape or type for the model", path, gname, t->name);
            else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset) < 0) {
                char h5e[256];
                rc = rlvr_err(err, errlen, "checkpoint '%s': cannot read '/%s/%s': %s (hint: truncated or corrupt file)",
                              path, gname, t->name, h5_error_text(h5e, sizeof(h5e)));
            }
            H5Sclose(sp);
            H5Tclose(ty);
        }
        H5Dclose(d);
    }
    H5Gclose(g);
    return rc;
}

static int check_tensor_crcs(const char *path, const char *gname, const Model *m, const float *buf, const uint32_t *want,
                             char *err, size_t errlen) {
    uint32_t *got = mallocCheck((size_t)m->num_tensors * sizeof(uint32_t) + 1);
    tensor_crcs(m, buf, got);
    int rc = 0;
    for (int i = 0; i < m->num_tensors; i++)
        if (got[i] != want[i]) {
            rc = rlvr_err(err, errlen, "checkpoint '%s': dataset '/%s/%s' fails its checksum (crc32c %08x, stored %08x): the file is corrupt",
                          path, gname, m->tensors[i].name, got[i], want[i]);
            break;
        }
    free(got);
    return rc;
}

static int load_open(hid_t f, const char *path, CheckpointState *st, int flags, char *err, size_t errlen) {
    CheckpointInfo info;
    if (check_header(f, path, &info, err, errlen) != 0) return -1;
    st->step = info.step;
    st->policy_version = info.policy_version;
    st->optimizer_step = info.optimizer_step;
    Model *m = st->model;
    char merr[1024];
    if (model_h5_read(f, m, merr, sizeof(merr)) != 0) return rlvr_err(err, errlen, "checkpoint '%s': %s", path, merr);
    if ((uint64_t)m->num_params != info.num_params)
        return rlvr_err(err, errlen, "checkpoint '%s': the model has %zu parameters but the header says %" PRIu64 " (corrupt file)",
                        path, m->num_params, info.num_params);
    uint32_t *want = mallocCheck((size_t)m->num_tensors * sizeof(uint32_t) + 1);
    int rc = read_tensor_group(f, path, "model", m, NULL, want, err, errlen);
    if (rc == 0) rc = check_tensor_crcs(path, "model", m, m->params, want, err, errlen);
    if (rc == 0 && info.has_optimizer && !(flags & CKPT_LOAD_MODEL_ONLY)) {
        model_alloc_train(m);
        rc = read_tensor_group(f, path, "optimizer/adam_m", m, m->adam_m, want, err, errlen);
        if (rc == 0) rc = check_tensor_crcs(path, "optimizer/adam_m", m, m->adam_m, want, err, errlen);
        if (rc == 0) rc = read_tensor_group(f, path, "optimizer/adam_v", m, m->adam_v, want, err, errlen);
        if (rc == 0) rc = check_tensor_crcs(path, "optimizer/adam_v", m, m->adam_v, want, err, errlen);
    }
    free(want);
    if (rc != 0) return -1;
    void *p;
    if (read_array(f, path, "rng", H5T_NATIVE_UINT64, 8, &p, &st->rng_len, err, errlen) != 0) return -1;
    st->rng = p;
    if (read_array(f, path, "data", H5T_NATIVE_UINT64, 8, &p, &st->data_len, err, errlen) != 0) return -1;
    st->data = p;
    if (read_array(f, path, "coordinator", H5T_NATIVE_UINT8, 1, &p, &st->coordinator_len, err, errlen) != 0) return -1;
    st->coordinator = p;
    if (read_string(f, path, "run_config", &st->config_yaml, err, errlen) != 0) return -1;
    if (H5Lexists(f, "metrics", H5P_DEFAULT) > 0 && read_string(f, path, "metrics", &st->metrics, err, errlen) != 0) return -1;
    return 0;
}

int checkpoint_load(const char *path, CheckpointState *st, int flags, char *err, size_t errlen) {
    Model *m = st->model;
    if (!m) return rlvr_err(err, errlen, "checkpoint '%s': CheckpointState.model must point to a Model to load into", path);
    memset(st, 0, sizeof(*st));
    st->model = m;
    memset(m, 0, sizeof(*m));
    H5Quiet q;
    h5_quiet_begin(&q);
    hid_t f = open_ckpt(path, err, errlen);
    int rc = f < 0 ? -1 : load_open(f, path, st, flags, err, errlen);
    if (f >= 0) H5Fclose(f);
    h5_quiet_end(&q);
    if (rc != 0) {
        checkpoint_state_free(st);
        model_free(m);
    }
    return rc;
}

// ---- directory-level: save + prune, find latest ------------------------------------------------

static int mkdir_p(const char *dir, char *err, size_t errlen) {
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) return rlvr_err(err, errlen, "checkpoint dir '%s': path too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return rlvr_err(err, errlen, "checkpoint dir '%s': cannot create '%s': %s", dir, buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return rlvr_err(err, errlen, "checkpoint dir '%s': cannot create: %s", dir, strerror(errno));
    return 0;
}

// Keeps the file just written plus the newest max_keep-1 other valid checkpoints. Invalid files
// newer than the new one are left for a human to look at (find_latest skips them); anything else is
// deleted, as are stale *.tmp files of interrupted saves. A file whose name disagrees with the step
// inside it (renamed or copied by hand) is never resumed from, so it counts for nothing: it is left
// alone and a good checkpoint is kept in its place.
static void prune(const char *dir, const char *keep_name, int64_t keep_step, int max_keep) {
    Cand *c;
    int n;
    char err[512], path[4096];
    if (list_ckpts(dir, 0, &c, &n, err, sizeof(err)) != 0) { fprintf(stderr, "warning: %s (not pruning)\n", err); return; }
    int kept = 1;
    for (int i = 0; i < n; i++) {
        if (strcmp(c[i].name, keep_name) == 0) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, c[i].name);
        CheckpointInfo info;
        int valid = checkpoint_verify(path, 0, &info, err, sizeof(err)) == 0;
        if (valid && info.step != c[i].step) {
            fprintf(stderr, "warning: leaving '%s': its step attribute is %" PRId64 ", not the %" PRId64 " of its name (renamed by hand?); "
                    "it is never resumed from and does not count toward max_keep\n", path, info.step, c[i].step);
            continue;
        }
        if (valid && kept < max_keep) { kept++; continue; }
        if (!valid && c[i].step > keep_step) { fprintf(stderr, "warning: leaving invalid %s\n", err); continue; }
        if (unlink(path) != 0) fprintf(stderr, "warning: cannot delete old checkpoint '%s': %s\n", path, strerror(errno));
    }
    free(c);
    if (list_ckpts(dir, 1, &c, &n, err, sizeof(err)) == 0) {
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, c[i].name);
            unlink(path);
        }
        free(c);
    }
}

int checkpoint_save(const char *dir, const CheckpointState *st, int max_keep, char *path_out, size_t path_len,
                    char *err, size_t errlen) {
    if (max_keep < 1) return rlvr_err(err, errlen, "checkpoint dir '%s': max_keep = %d must be >= 1", dir, max_keep);
    if (st->step < 0) return rlvr_err(err, errlen, "checkpoint dir '%s': step %" PRId64 " is negative", dir, st->step);
    if (mkdir_p(dir, err, errlen) != 0) return -1;
    char name[64], path[4096];
    snprintf(name, sizeof(name), "ckpt_%06" PRId64 ".h5", st->step);
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) return rlvr_err(err, errlen, "checkpoint dir '%s': path too long", dir);
    if (checkpoint_write(path, st, err, errlen) != 0) return -1;
    prune(dir, name, st->step, max_keep);
    if (path_out) snprintf(path_out, path_len, "%s", path);
    return 0;
}

int checkpoint_find_latest(const char *dir, int full_verify, char *path_out, size_t path_len, char *err, size_t errlen) {
    Cand *c;
    int n;
    if (list_ckpts(dir, 0, &c, &n, err, errlen) != 0) return -1;
    int found = 0;
    char path[4096], verr[1024];
    for (int i = 0; i < n && !found; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, c[i].name);
        CheckpointInfo info;
        if (checkpoint_verify(path, full_verify, &info, verr, sizeof(verr)) != 0) {
            fprintf(stderr, "warning: skipping %s\n", verr);
            continue;
        }
        if (info.step != c[i].step) {
            fprintf(stderr, "warning: skipping checkpoint '%s': its step attribute is %" PRId64 " (renamed by hand?)\n", path, info.step);
            continue;
        }
        snprintf(path_out, path_len, "%s", path);
        found = 1;
    }
    free(c);
    return found;
}

int checkpoint_load_latest(const char *dir, CheckpointState *st, int flags, char *path_out, size_t path_len,
                           char *err, size_t errlen) {
    Cand *c;
    int n;
    if (list_ckpts(dir, 0, &c, &n, err, errlen) != 0) return -1;
    int found = 0;
    char path[4096], lerr[1024];
    for (int i = 0; i < n && !found; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, c[i].name);
        if (checkpoint_load(path, st, flags, lerr, sizeof(lerr)) != 0) {
            fprintf(stderr, "warning: skipping %s\n", lerr);
            continue;
        }
        if (st->step != c[i].step) {
            fprintf(stderr, "warning: skipping checkpoint '%s': its step attribute is %" PRId64 " (renamed by hand?)\n", path, st->step);
            checkpoint_state_free(st);
            model_free(st->model);
            continue;
        }
        if (path_out) snprintf(path_out, path_len, "%s", path);
        found = 1;
    }
    free(c);
    return found;
}
