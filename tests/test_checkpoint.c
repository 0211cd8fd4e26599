// Checkpoints: exact round trip, temp-then-rename, keep-last-K, and every kind of damage (truncation,
// flipped bytes, missing datasets, wrong magic/version, incomplete files) detected, named and skipped.
//
//   test_checkpoint                 run the tests
//   test_checkpoint --write PATH    write the deterministic checkpoint tests/test_checkpoint_h5py.py reads
#include <fcntl.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/io/checkpoint.h"
#include "common/config/config.h"
#include "common/io/model_h5.h"
#include "common/core/rng.h"
#include "tests/harness.h"
#include "common/io/model_io.h"

static char err[2048];
static char tmpdir[256];

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void tiny_config(ModelConfig *c, int tied) {
    model_config_default(c);
    c->vocab_size = 128;
    c->hidden_size = 16;
    c->intermediate_size = 24;
    c->num_layers = 2;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->head_dim = 4;
    c->max_position_embeddings = 64;
    c->qkv_bias = 1;
    c->tie_word_embeddings = tied;
    model_config_set_eos(c, 2);
    snprintf(c->tokenizer, sizeof(c->tokenizer), "char");
}

// A model with params, Adam moments, and the rest of the state; deterministic in `seed`.
typedef struct {
    Model m;
    uint64_t rng[8];
    uint64_t data[3];
    uint8_t coord[100];
    char *yaml;
    CheckpointState st;
} Fixture;

static void fixture_init(Fixture *fx, uint64_t seed, int64_t step, int with_optim) {
    memset(fx, 0, sizeof(*fx));
    ModelConfig c;
    tiny_config(&c, 0);
    CHECK(model_init(&fx->m, &c, err, sizeof(err)) == 0);
    model_init_random(&fx->m, seed, 0.02f);
    if (with_optim) {
        model_alloc_train(&fx->m);
        Rng r;
        rng_seed(&r, seed + 1);
        for (size_t i = 0; i < fx->m.num_params; i++) {
            fx->m.adam_m[i] = rng_normal(&r) * 1e-3f;
            fx->m.adam_v[i] = rng_uniform(&r) * 1e-6f;
        }
        free(fx->m.grads);
        fx->m.grads = NULL;
    }
    Rng r;
    rng_seed(&r, seed + 2);
    for (int i = 0; i < 8; i++) fx->rng[i] = rng_u64(&r);
    for (int i = 0; i < 3; i++) fx->data[i] = seed * 1000 + (uint64_t)i;
    for (int i = 0; i < 100; i++) fx->coord[i] = (uint8_t)(i * 7 + seed);
    RlvrConfig cfg;
    config_defaults(&cfg);
    cfg.trainer_total_training_steps = step + 1000;
    fx->yaml = config_to_yaml(&cfg);
    fx->st.step = step;
    fx->st.policy_version = step + 1;
    fx->st.optimizer_step = step * 16;
    fx->st.model = &fx->m;
    fx->st.rng = fx->rng;
    fx->st.rng_len = 8;
    fx->st.data = fx->data;
    fx->st.data_len = 3;
    fx->st.coordinator = fx->coord;
    fx->st.coordinator_len = 100;
    fx->st.config_yaml = fx->yaml;
    fx->st.metrics = "{\"step\": 1, \"acc\": 0.5}\n";
}

static void fixture_free(Fixture *fx) {
    model_free(&fx->m);
    free(fx->yaml);
}

static int file_exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

static void copy_file(const char *from, const char *to, size_t truncate_to) {
    size_t n;
    char *buf = read_file_all(from, &n, err, sizeof(err));
    CHECK_MSG(buf != NULL, "%s", err);
    if (!buf) return;
    FILE *f = fopenCheck(to, "wb");
    fwriteCheck(buf, 1, truncate_to && truncate_to < n ? truncate_to : n, f);
    fcloseCheck(f);
    free(buf);
}

// Flips one byte inside the raw data of dataset `name` (located with H5Dget_offset).
static void flip_byte_in(const char *path, const char *name, size_t byte) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    haddr_t off = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    CHECK_MSG(off != HADDR_UNDEF, "no offset for %s", name);
    int fd = open(path, O_RDWR);
    unsigned char b;
    CHECK(pread(fd, &b, 1, (off_t)(off + byte)) == 1);
    b ^= 0x10;
    CHECK(pwrite(fd, &b, 1, (off_t)(off + byte)) == 1);
    close(fd);
}

static void set_root_attr_int(const char *path, const char *name, long long v) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(h5_attr_write_int(f, name, v) == 0);
    H5Fclose(f);
}

static void test_crc(void) {
    CHECK_EQ_INT(checkpoint_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(checkpoint_crc32c(0, "", 0), 0);
    const char *s = "The quick brown fox jumps over the lazy dog, twice over, to cross 8-byte words.";
    size_t n = strlen(s);
    uint32_t one = checkpoint_crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut += 5)
        CHECK_EQ_INT(checkpoint_crc32c(checkpoint_crc32c(0, s, cut), s + cut, n - cut), one);
}

static void test_round_trip(void) {
    Fixture fx;
    fixture_init(&fx, 1, 120, 1);
    char dir[512], path[1024];
    snprintf(dir, sizeof(dir), "%s/rt/nested", tmpdir);   // created by save
    CHECK_MSG(checkpoint_save(dir, &fx.st, 3, path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
    CHECK(contains(path, "/ckpt_000120.h5"));
    CHECK(checkpoint_is_checkpoint(path));
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(!file_exists(tmp));

    CheckpointInfo info;
    CHECK_MSG(checkpoint_verify(path, 1, &info, err, sizeof(err)) == 0, "%s", err);
    CHECK_EQ_INT(info.step, 120);
    CHECK_EQ_INT(info.policy_version, 121);
    CHECK_EQ_INT(info.optimizer_step, 1920);
    CHECK_EQ_INT(info.format_version, CKPT_FORMAT_VERSION);
    CHECK_EQ_INT(info.num_params, fx.m.num_params);
    CHECK(info.has_optimizer && info.complete);
    // Every dataset was checked: 3 x tensors + run_config + rng + data + coordinator + metrics.
    CHECK_EQ_INT(info.datasets_checked, 3 * fx.m.num_tensors + 5);

    Model m2;
    CheckpointState ld = {0};
    ld.model = &m2;
    CHECK_MSG(checkpoint_load(path, &ld, 0, err, sizeof(err)) == 0, "%s", err);
    CHECK_EQ_INT(ld.step, 120);
    CHECK_EQ_INT(ld.policy_version, 121);
    CHECK_EQ_INT(ld.optimizer_step, 1920);
    CHECK_EQ_INT(m2.num_params, fx.m.num_params);
    CHECK(memcmp(&m2.cfg, &fx.m.cfg, sizeof(ModelConfig)) == 0);
    CHECK(memcmp(m2.params, fx.m.params, fx.m.num_params * sizeof(float)) == 0);
    CHECK(m2.adam_m && memcmp(m2.adam_m, fx.m.adam_m, fx.m.num_params * sizeof(float)) == 0);
    CHECK(m2.adam_v && memcmp(m2.adam_v, fx.m.adam_v, fx.m.num_params * sizeof(float)) == 0);
    CHECK(m2.grads != NULL);
    CHECK(ld.rng_len == 8 && memcmp(ld.rng, fx.rng, sizeof(fx.rng)) == 0);
    CHECK(ld.data_len == 3 && memcmp(ld.data, fx.data, sizeof(fx.data)) == 0);
    CHECK(ld.coordinator_len == 100 && memcmp(ld.coordinator, fx.coord, 100) == 0);
    CHECK(ld.config_yaml && strcmp(ld.config_yaml, fx.yaml) == 0);
    CHECK(ld.metrics && strcmp(ld.metrics, fx.st.metrics) == 0);
    // The stored config parses back to the same config.
    RlvrConfig a, b;
    config_defaults(&a);
    config_defaults(&b);
    CHECK(config_load_string(&a, fx.yaml, "orig", 0, err, sizeof(err)) == 0);
    CHECK_MSG(config_load_string(&b, ld.config_yaml, "ckpt", 0, err, sizeof(err)) == 0, "%s", err);
    CHECK(config_equal(&a, &b));
    checkpoint_state_free(&ld);
    CHECK(ld.model == &m2 && ld.rng == NULL);
    model_free(&m2);

    // Model-only load leaves the optimizer out.
    ld.model = &m2;
    CHECK(checkpoint_load(path, &ld, CKPT_LOAD_MODEL_ONLY, err, sizeof(err)) == 0);
    CHECK(m2.adam_m == NULL && m2.adam_v == NULL);
    CHECK(memcmp(m2.params, fx.m.params, fx.m.num_params * sizeof(float)) == 0);
    checkpoint_state_free(&ld);
    model_free(&m2);
    fixture_free(&fx);

    // No optimizer, empty blobs, no metrics, tied embeddings.
    Fixture g;
    fixture_init(&g, 2, 5, 0);
    model_free(&g.m);
    ModelConfig c;
    tiny_config(&c, 1);
    CHECK(model_init(&g.m, &c, err, sizeof(err)) == 0);
    model_init_random(&g.m, 9, 0.02f);
    g.st.coordinator_len = 0;
    g.st.coordinator = NULL;
    g.st.metrics = NULL;
    g.st.config_yaml = NULL;
    snprintf(path, sizeof(path), "%s/plain.h5", tmpdir);
    CHECK_MSG(checkpoint_write(path, &g.st, err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(checkpoint_verify(path, 1, &info, err, sizeof(err)) == 0, "%s", err);
    CHECK(!info.has_optimizer && info.coordinator_len == 0);
    ld.model = &m2;
    CHECK_MSG(checkpoint_load(path, &ld, 0, err, sizeof(err)) == 0, "%s", err);
    CHECK(m2.adam_m == NULL && ld.coordinator == NULL && ld.coordinator_len == 0 && ld.metrics == NULL);
    CHECK(ld.config_yaml && ld.config_yaml[0] == 0);
    CHECK(m2.cfg.tie_word_embeddings == 1 && memcmp(m2.params, g.m.params, g.m.num_params * sizeof(float)) == 0);
    checkpoint_state_free(&ld);
    model_free(&m2);

    // Bad arguments and an unwritable place fail cleanly, leaving no file behind.
    CheckpointState bad = g.st;
    bad.model = NULL;
    CHECK(checkpoint_write(path, &bad, err, sizeof(err)) == -1 && contains(err, "no model"));
    bad = g.st;
    bad.rng = NULL;
    CHECK(checkpoint_write(path, &bad, err, sizeof(err)) == -1 && contains(err, "rng"));
    snprintf(path, sizeof(path), "%s/no/such/dir/x.h5", tmpdir);
    CHECK(checkpoint_write(path, &g.st, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "no/such/dir/x.h5"), "%s", err);
    CHECK(!file_exists(path));
    fixture_free(&g);
}

static void test_dir_ops(void) {
    char dir[512], path[1024], latest[1024], junk[1024];
    snprintf(dir, sizeof(dir), "%s/run", tmpdir);
    CHECK(checkpoint_find_latest(dir, 0, latest, sizeof(latest), err, sizeof(err)) == 0);   // no dir yet
    Fixture fx;
    int64_t steps[] = {10, 20, 30, 40};
    for (int i = 0; i < 4; i++) {
        fixture_init(&fx, (uint64_t)steps[i], steps[i], 1);
        if (i == 2) {
            // A crashed save left a partial file behind: ignored by find_latest, removed by the next save.
            snprintf(junk, sizeof(junk), "%s/ckpt_000099.h5.tmp", dir);
            FILE *f = fopenCheck(junk, "wb");
            fputs("partial", f);
            fcloseCheck(f);
            CHECK(checkpoint_find_latest(dir, 1, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000020.h5"));
        }
        CHECK_MSG(checkpoint_save(dir, &fx.st, 2, path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
        fixture_free(&fx);
    }
    CHECK(!file_exists(junk));
    // Keep-last-2: 30 and 40 remain.
    snprintf(path, sizeof(path), "%s/ckpt_000010.h5", dir); CHECK(!file_exists(path));
    snprintf(path, sizeof(path), "%s/ckpt_000020.h5", dir); CHECK(!file_exists(path));
    snprintf(path, sizeof(path), "%s/ckpt_000030.h5", dir); CHECK(file_exists(path));
    snprintf(path, sizeof(path), "%s/ckpt_000040.h5", dir); CHECK(file_exists(path));
    CHECK(checkpoint_find_latest(dir, 1, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000040.h5"));

    // A truncated newest file is detected, named, and skipped in favour of the previous one.
    char p40[1024], p30[1024], saved[1024];
    snprintf(p40, sizeof(p40), "%s/ckpt_000040.h5", dir);
    snprintf(p30, sizeof(p30), "%s/ckpt_000030.h5", dir);
    snprintf(saved, sizeof(saved), "%s/saved40.h5", tmpdir);
    copy_file(p40, saved, 0);
    struct stat sb;
    stat(p40, &sb);
    copy_file(saved, p40, (size_t)sb.st_size / 2);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "ckpt_000040.h5") && contains(err, "truncated"), "%s", err);
    CHECK(checkpoint_find_latest(dir, 0, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000030.h5"));
    Model m;
    CheckpointState ld = {0};
    ld.model = &m;
    CHECK(checkpoint_load_latest(dir, &ld, 0, latest, sizeof(latest), err, sizeof(err)) == 1);
    CHECK(contains(latest, "ckpt_000030.h5") && ld.step == 30 && ld.data[0] == 30000);
    checkpoint_state_free(&ld);
    model_free(&m);

    // A flipped byte in the Adam moments: the header check passes, the CRC does not.
    copy_file(saved, p40, 0);
    flip_byte_in(p40, "optimizer/adam_v/model.layers.1.mlp.down_proj.weight", 37);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == 0);
    CHECK(checkpoint_verify(p40, 1, NULL, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "ckpt_000040.h5") && contains(err, "optimizer/adam_v/model.layers.1.mlp.down_proj.weight") &&
              contains(err, "checksum"), "%s", err);
    ld.model = &m;
    CHECK(checkpoint_load(p40, &ld, 0, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "adam_v/model.layers.1.mlp.down_proj.weight") && contains(err, "checksum"), "%s", err);
    CHECK(m.params == NULL && ld.rng == NULL);   // nothing half-loaded is left behind
    CHECK(checkpoint_load(p40, &ld, CKPT_LOAD_MODEL_ONLY, err, sizeof(err)) == 0);   // the model itself is intact
    checkpoint_state_free(&ld);
    model_free(&m);
    CHECK(checkpoint_find_latest(dir, 1, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000030.h5"));
    ld.model = &m;
    CHECK(checkpoint_load_latest(dir, &ld, 0, latest, sizeof(latest), err, sizeof(err)) == 1 && ld.step == 30);
    checkpoint_state_free(&ld);
    model_free(&m);

    // Flipped bytes in a model tensor and in the RNG state.
    const char *victims[] = {"model/model.embed_tokens.weight", "rng", "coordinator", "run_config"};
    for (int i = 0; i < 4; i++) {
        copy_file(saved, p40, 0);
        flip_byte_in(p40, victims[i], 3);
        ld.model = &m;
        CHECK(checkpoint_load(p40, &ld, 0, err, sizeof(err)) == -1);
        CHECK_MSG(contains(err, victims[i]) && contains(err, "checksum"), "%s: %s", victims[i], err);
        CHECK(checkpoint_verify(p40, 1, NULL, err, sizeof(err)) == -1 && contains(err, victims[i]));
    }

    // A missing dataset.
    copy_file(saved, p40, 0);
    hid_t f = H5Fopen(p40, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "rng", H5P_DEFAULT);
    H5Fclose(f);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "'/rng' is missing") && contains(err, "ckpt_000040.h5"), "%s", err);
    copy_file(saved, p40, 0);
    f = H5Fopen(p40, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "optimizer/adam_m/model.norm.weight", H5P_DEFAULT);
    H5Fclose(f);
    ld.model = &m;
    CHECK(checkpoint_load(p40, &ld, 0, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "optimizer/adam_m/model.norm.weight") && contains(err, "missing"), "%s", err);

    // Wrong magic, a newer format version, a hand-edited step, an incomplete file.
    copy_file(saved, p40, 0);
    f = H5Fopen(p40, H5F_ACC_RDWR, H5P_DEFAULT);
    h5_attr_write_str(f, "magic", "something-else");
    H5Fclose(f);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == -1 && contains(err, "magic"));
    CHECK(!checkpoint_is_checkpoint(p40));
    copy_file(saved, p40, 0);
    set_root_attr_int(p40, "format_version", 99);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == -1 && contains(err, "format_version 99") && contains(err, "newer"));
    copy_file(saved, p40, 0);
    set_root_attr_int(p40, "step", 41);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == -1 && contains(err, "checksum"));
    copy_file(saved, p40, 0);
    set_root_attr_int(p40, "complete", 0);
    CHECK(checkpoint_verify(p40, 0, NULL, err, sizeof(err)) == -1 && contains(err, "incomplete"));
    CHECK(checkpoint_find_latest(dir, 0, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000030.h5"));

    // A save after damage keeps the invalid newer file for inspection and never deletes the new one.
    fixture_init(&fx, 35, 35, 1);
    CHECK(checkpoint_save(dir, &fx.st, 1, path, sizeof(path), err, sizeof(err)) == 0);
    fixture_free(&fx);
    CHECK(file_exists(path) && file_exists(p40) && !file_exists(p30));
    CHECK(checkpoint_find_latest(dir, 1, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000035.h5"));

    // A native model file is recognised as "not a checkpoint" with a hint.
    fixture_init(&fx, 3, 3, 0);
    snprintf(path, sizeof(path), "%s/native.h5", tmpdir);
    CHECK(model_save_native(&fx.m, path, err, sizeof(err)) == 0);
    CHECK(!checkpoint_is_checkpoint(path));
    CHECK(checkpoint_verify(path, 0, NULL, err, sizeof(err)) == -1 && contains(err, "native model file"));
    fixture_free(&fx);
    snprintf(path, sizeof(path), "%s/not_hdf5.h5", tmpdir);
    FILE *nf = fopenCheck(path, "wb");
    fputs("hello", nf);
    fcloseCheck(nf);
    CHECK(checkpoint_verify(path, 0, NULL, err, sizeof(err)) == -1 && contains(err, "not_hdf5.h5"));
    CHECK(checkpoint_verify("/nonexistent/ckpt_000001.h5", 0, NULL, err, sizeof(err)) == -1 && contains(err, "No such file"));
}

// Flips bit `bit` of the stored bytes of attribute `name` of object `obj` (an attribute of any type).
static void flip_attr_bit(const char *path, const char *obj, const char *name, int bit) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    hid_t a = H5Aopen(o, name, H5P_DEFAULT), t = H5Aget_type(a);
    unsigned char buf[64] = {0};
    CHECK(H5Tget_size(t) <= sizeof buf && H5Aread(a, t, buf) >= 0);
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    CHECK(H5Awrite(a, t, buf) >= 0);
    H5Tclose(t); H5Aclose(a); H5Oclose(o); H5Fclose(f);
}

// Every attribute is under a checksum: one flipped bit in the model config (rope_theta) or in a root
// string is caught by verify (cheap and full) and by load, and resume falls back to the older file.
static void test_attribute_checksum(void) {
    char dir[512], path[1024], latest[1024], p2[1024], saved[1024];
    snprintf(dir, sizeof(dir), "%s/attrs", tmpdir);
    Fixture fx;
    for (int64_t s = 1; s <= 2; s++) {
        fixture_init(&fx, (uint64_t)s, s, 1);
        CHECK_MSG(checkpoint_save(dir, &fx.st, 5, path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
        fixture_free(&fx);
    }
    snprintf(p2, sizeof(p2), "%s/ckpt_000002.h5", dir);
    snprintf(saved, sizeof(saved), "%s/saved2.h5", tmpdir);
    copy_file(p2, saved, 0);
    const char *cases[][2] = {{"config", "rope_theta"}, {"config", "num_hidden_layers"}, {"/", "writer"}, {"/", "checksum"},
                              {"optimizer", "step"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_file(saved, p2, 0);
        flip_attr_bit(p2, cases[i][0], cases[i][1], 3);
        CHECK_MSG(checkpoint_verify(p2, 0, NULL, err, sizeof(err)) == -1 && contains(err, "attributes") && contains(err, "checksum"),
                  "%s/%s: %s", cases[i][0], cases[i][1], err);
        CHECK(checkpoint_verify(p2, 1, NULL, err, sizeof(err)) == -1);
        Model m;
        CheckpointState ld = {0};
        ld.model = &m;
        CHECK(checkpoint_load(p2, &ld, 0, err, sizeof(err)) == -1);
        CHECK(checkpoint_load_latest(dir, &ld, 0, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000001.h5"));
        checkpoint_state_free(&ld);
        model_free(&m);
    }
    copy_file(saved, p2, 0);
    CHECK(checkpoint_verify(p2, 1, NULL, err, sizeof(err)) == 0);
}

// A checkpoint whose name disagrees with its step is never resumed from, so it does not count toward
// max_keep: the good checkpoints are kept, and it is left alone.
static void test_misnamed_not_counted(void) {
    char dir[512], path[1024], p3[1024], p9[1024];
    snprintf(dir, sizeof(dir), "%s/misnamed", tmpdir);
    Fixture fx;
    for (int64_t s = 1; s <= 3; s++) {
        fixture_init(&fx, (uint64_t)s, s, 0);
        CHECK(checkpoint_save(dir, &fx.st, 2, path, sizeof(path), err, sizeof(err)) == 0);
        fixture_free(&fx);
    }
    snprintf(p3, sizeof(p3), "%s/ckpt_000003.h5", dir);
    snprintf(p9, sizeof(p9), "%s/ckpt_000009.h5", dir);
    copy_file(p3, p9, 0);   // a copy renamed by hand: step 3 inside, 9 in the name
    fixture_init(&fx, 4, 4, 0);
    CHECK(checkpoint_save(dir, &fx.st, 2, path, sizeof(path), err, sizeof(err)) == 0);
    fixture_free(&fx);
    CHECK_MSG(file_exists(p3), "the good ckpt_000003.h5 was deleted while the misnamed copy counted toward max_keep");
    CHECK(file_exists(p9));
    char latest[1024];
    CHECK(checkpoint_find_latest(dir, 1, latest, sizeof(latest), err, sizeof(err)) == 1 && contains(latest, "ckpt_000004.h5"));
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        Fixture fx;
        fixture_init(&fx, 7, 120, 1);
        // Values the Python test can recompute: param i = (i % 1000) * 1e-3 - 0.5.
        for (size_t i = 0; i < fx.m.num_params; i++) fx.m.params[i] = (float)(i % 1000) * 1e-3f - 0.5f;
        int rc = checkpoint_write(argv[2], &fx.st, err, sizeof(err));
        if (rc) fprintf(stderr, "%s\n", err);
        fixture_free(&fx);
        return rc ? 1 : 0;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rlvr_test_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) die("mkdtemp failed");
    test_crc();
    test_round_trip();
    test_dir_ops();
    test_attribute_checksum();
    test_misnamed_not_counted();
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return tests_done();
}
