// Config: schema consistency, YAML loading, overrides, error messages, round trip, and every file in
// configs/ loading and validating.
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/core/check.h"
#include "common/config/config.h"
#include "tests/harness.h"

static char err[1024];

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_schema(void) {
    int n;
    const CfgKey *k = config_schema(&n);
    CHECK(n > 80);
    for (int i = 0; i < n; i++) {
        // The struct field is the key with '.' -> '_' (X-macro list keeps them together).
        char f[256];
        snprintf(f, sizeof(f), "%s", k[i].key);
        for (char *p = f; *p; p++) if (*p == '.') *p = '_';
        CHECK_MSG(strcmp(f, k[i].field) == 0, "field %s does not match key %s", k[i].field, k[i].key);
        CHECK_MSG(config_find_key(k[i].key) == &k[i], "duplicate key %s", k[i].key);
        // No key is also a section ("a.b" and "a.b.c" cannot both exist).
        size_t len = strlen(k[i].key);
        for (int j = 0; j < n; j++)
            CHECK_MSG(!(strncmp(k[j].key, k[i].key, len) == 0 && k[j].key[len] == '.'), "%s is both a key and a section", k[i].key);
        CHECK_MSG(k[i].help[0] != 0, "%s has no help text", k[i].key);
    }
    RlvrConfig c;
    config_defaults(&c);
    CHECK_MSG(config_validate(&c, err, sizeof(err)) == 0, "defaults do not validate: %s", err);
    // Defaults that follow the paper, verl and the authors' code (docs/algorithms.md).
    CHECK_NEAR(c.actor_clip_ratio_low, 0.2, 0);
    CHECK_NEAR(c.actor_clip_ratio_high, 0.28, 0);
    CHECK(c.actor_clip_ratio_c.set && c.actor_clip_ratio_c.v == 3.0);
    CHECK(strcmp(c.actor_loss_agg_mode, "token-mean") == 0);
    CHECK_NEAR(c.actor_optim_lr, 1e-6, 0);
    CHECK_EQ_INT(c.actor_optim_warmup_steps, 10);
    CHECK(c.actor_optim_betas.set && c.actor_optim_betas.v[0] == 0.9 && c.actor_optim_betas.v[1] == 0.999);
    CHECK_EQ_INT(c.rollout_n, 8);
    CHECK_EQ_INT(c.rollout_top_k, -1);
    CHECK(!c.algorithm_ppl_shaping_clamp.set);
    CHECK(c.algorithm_position_shaping_cap.set && c.algorithm_position_shaping_cap.v == 0.5);
    CHECK_NEAR(c.algorithm_position_shaping_n, 0.5, 0);
    CHECK_EQ_INT(c.algorithm_position_shaping_m, 15);
    CHECK_EQ_INT(c.algorithm_position_shaping_start_step, 200);
    CHECK_EQ_INT(c.algorithm_position_shaping_end_step, 300);
    CHECK(strcmp(c.coordinator_endpoint, "tcp://127.0.0.1:0") == 0);
    CHECK(c.algorithm_norm_adv_by_std_in_grpo == true && c.actor_use_kl_loss == false);
}

static void test_load_and_override(void) {
    RlvrConfig c;
    config_defaults(&c);
    const char *y =
        "# comment\n"
        "trainer:\n"
        "  total_training_steps: 7\n"
        "  stage_detector: {window: 5}\n"
        "actor:\n"
        "  optim.lr: 2.5e-6          # dotted key inside a section\n"
        "  optim:\n"
        "    betas: [0.8, 0.95]\n"
        "  clip_ratio_c: null\n"
        "  use_kl_loss: yes\n"
        "algorithm.ppl_shaping:\n"
        "  clamp:\n"
        "    - 0.8\n"
        "    - 1.2\n"
        "data:\n"
        "  prompt_template: 'Q: {prompt}\\n'\n"
        "  val_files:\n";
    CHECK_MSG(config_load_string(&c, y, "t.yaml", 0, err, sizeof(err)) == 0, "%s", err);
    CHECK_EQ_INT(c.trainer_total_training_steps, 7);
    CHECK_EQ_INT(c.trainer_stage_detector_window, 5);
    CHECK_NEAR(c.actor_optim_lr, 2.5e-6, 0);
    CHECK(c.actor_optim_betas.v[0] == 0.8 && c.actor_optim_betas.v[1] == 0.95);
    CHECK(!c.actor_clip_ratio_c.set);
    CHECK(c.actor_use_kl_loss);
    CHECK(c.algorithm_ppl_shaping_clamp.set && c.algorithm_ppl_shaping_clamp.v[0] == 0.8 && c.algorithm_ppl_shaping_clamp.v[1] == 1.2);
    CHECK(strcmp(c.data_prompt_template, "Q: {prompt}\\n") == 0);   // single quotes: no escapes
    CHECK(strcmp(c.data_val_files, "") == 0);

    CHECK(config_override(&c, "actor.optim.lr=3e-6", err, sizeof(err)) == 0);
    CHECK_NEAR(c.actor_optim_lr, 3e-6, 0);
    CHECK(config_override(&c, "actor.clip_ratio_c=10", err, sizeof(err)) == 0);
    CHECK(c.actor_clip_ratio_c.set && c.actor_clip_ratio_c.v == 10.0);
    CHECK(config_override(&c, "algorithm.ppl_shaping.clamp=null", err, sizeof(err)) == 0);
    CHECK(!c.algorithm_ppl_shaping_clamp.set);
    CHECK(config_override(&c, "algorithm.ppl_shaping.clamp=[0.5, 2]", err, sizeof(err)) == 0);
    CHECK(c.algorithm_ppl_shaping_clamp.set && c.algorithm_ppl_shaping_clamp.v[1] == 2.0);
    CHECK(config_override(&c, "data.prompt_template=[x] {prompt} = null", err, sizeof(err)) == 0);
    CHECK(strcmp(c.data_prompt_template, "[x] {prompt} = null") == 0);   // strings are literal
    CHECK(config_override(&c, "data.train_batch_size=1e3", err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.data_train_batch_size, 1000);
    CHECK(config_override(&c, "trainer.resume=true", err, sizeof(err)) == 0);
    CHECK(c.trainer_resume);
    CHECK(config_override(&c, "rollout.top_k=-1", err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.rollout_top_k, -1);
}

static void expect_load_error(const char *yaml, const char *a, const char *b, const char *cc) {
    RlvrConfig c, before;
    config_defaults(&c);
    before = c;
    err[0] = 0;
    int rc = config_load_string(&c, yaml, "bad.yaml", 0, err, sizeof(err));
    CHECK_MSG(rc == -1, "accepted: %s", yaml);
    CHECK_MSG(a == NULL || contains(err, a), "error '%s' lacks '%s'", err, a);
    CHECK_MSG(b == NULL || contains(err, b), "error '%s' lacks '%s'", err, b);
    CHECK_MSG(cc == NULL || contains(err, cc), "error '%s' lacks '%s'", err, cc);
    CHECK_MSG(config_equal(&c, &before), "a failed load changed the config (%s)", yaml);
}

static void expect_override_error(const char *arg, const char *a, const char *b) {
    RlvrConfig c;
    config_defaults(&c);
    err[0] = 0;
    CHECK_MSG(config_override(&c, arg, err, sizeof(err)) == -1, "accepted: %s", arg);
    CHECK_MSG(a == NULL || contains(err, a), "error '%s' lacks '%s'", err, a);
    CHECK_MSG(b == NULL || contains(err, b), "error '%s' lacks '%s'", err, b);
}

static void test_errors(void) {
    // Unknown keys: file, line, key and the suggestion.
    expect_load_error("trainer:\n  seed: 3\nactor:\n  clip_ratio_hgih: 0.3\n", "bad.yaml:4", "actor.clip_ratio_hgih", "did you mean 'actor.clip_ratio_high'");
    expect_load_error("actr:\n  clip_ratio_low: 0.1\n", "bad.yaml:1", "'actr'", "did you mean 'actor'");
    expect_load_error("actor:\n  lr: 1e-6\n", "actor.lr", "did you mean 'actor.optim.lr'", NULL);
    expect_load_error("zzzzzzzzzzzz: 1\n", "unknown key 'zzzzzzzzzzzz'", "--help-config", NULL);
    expect_override_error("rollout.temprature=0.7", "rollout.temprature", "did you mean 'rollout.temperature'");
    // Types and ranges name the key and what was expected.
    expect_load_error("rollout:\n  n: eight\n", "bad.yaml:2", "rollout.n", "expected an integer");
    expect_load_error("actor:\n  clip_ratio_low: 1.5\n", "actor.clip_ratio_low", "in [0, 1]", NULL);
    expect_load_error("actor:\n  optim:\n    lr: 0\n", "actor.optim.lr", "> 0", NULL);
    expect_load_error("data:\n  shuffle: maybe\n", "data.shuffle", "true or false", NULL);
    expect_load_error("actor:\n  kl_loss_type: k5\n", "actor.kl_loss_type", "one of k1|abs|k2|k3|low_var_kl", NULL);
    expect_load_error("actor:\n  optim:\n    betas: [0.9, 0.99, 0.5]\n", "actor.optim.betas", "3 elements", NULL);
    expect_load_error("actor:\n  optim:\n    betas: null\n", "actor.optim.betas", "null", NULL);
    expect_load_error("rollout:\n  n: [1, 2]\n", "rollout.n", "list", NULL);
    expect_load_error("rollout:\n  n: null\n", "rollout.n", "expected an integer", NULL);
    expect_load_error("rollout:\n  n:\n    x: 1\n", "rollout.n takes a value", NULL, NULL);
    expect_load_error("actor: 3\n", "'actor' is a section", NULL, NULL);
    expect_load_error("rollout:\n  n: 4\n  n: 5\n", "bad.yaml:3", "given twice (first at line 2)", NULL);
    expect_load_error("rollout:\n  n: 4\n  top_p: [0.5\n", "bad.yaml:", "YAML syntax error", NULL);
    expect_load_error("- 1\n- 2\n", "top level must be a mapping", NULL, NULL);
    expect_load_error("rollout:\n  n: 4\n---\nrollout:\n  n: 5\n", "more than one YAML document", NULL, NULL);
    expect_load_error("algorithm:\n  ppl_shaping:\n    clamp: [0.8, abc]\n", "algorithm.ppl_shaping.clamp", "'abc'", NULL);
    expect_override_error("actor.optim.lr=fast", "actor.optim.lr", "expected a number");
    expect_override_error("actor.clip_ratio_c=0.5", "actor.clip_ratio_c", "> 1");
    expect_override_error("algorithm.ppl_shaping.clamp=[0.8,1.2", "algorithm.ppl_shaping.clamp", "pair");
    expect_override_error("actor", "not an override", NULL);
    expect_override_error("actor.optim=1", "is a section", NULL);
    expect_override_error("rollout.n=", "rollout.n", "null");
    expect_override_error("rollout.n=99999999999999999999999", "rollout.n", "integer");

    RlvrConfig c;
    config_defaults(&c);
    CHECK(config_load_file(&c, "configs/does_not_exist.yaml", err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "configs/does_not_exist.yaml"), "%s", err);

    // Lenient mode (old checkpoints): unknown keys are skipped, known ones still applied.
    CHECK(config_load_string(&c, "old_section:\n  x: [1, {a: 2}]\nrollout:\n  gone_key: 1\n  n: 3\n", "old", CONFIG_IGNORE_UNKNOWN, err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.rollout_n, 3);
}

static void test_validate(void) {
    RlvrConfig c;
    config_defaults(&c);
    c.data_train_batch_size = 10;
    c.actor_ppo_mini_batch_size = 4;
    CHECK(config_validate(&c, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "data.train_batch_size") && contains(err, "actor.ppo_mini_batch_size"), "%s", err);
    config_defaults(&c);
    c.algorithm_position_shaping_end_step = 100;
    CHECK(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "end_step"));
    config_defaults(&c);
    c.actor_clip_ratio_low = -1;   // set directly, bypassing config_set: validate catches it
    CHECK(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "actor.clip_ratio_low"));
    config_defaults(&c);
    c.reward_overlong_buffer_enable = true;
    c.reward_overlong_buffer_len = 4096;
    c.data_max_response_length = 1024;
    CHECK(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "reward.overlong_buffer.len"));
    config_defaults(&c);
    snprintf(c.reward_verifier, sizeof(c.reward_verifier), "math");
    snprintf(c.data_train_files, sizeof(c.data_train_files), "arith");
    CHECK(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "reward.verifier"));
    config_defaults(&c);   // arith task, arith verifier: a math reward style would be ignored silently
    snprintf(c.reward_style, sizeof(c.reward_style), "math_dapo");
    CHECK(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "reward.style"));
    // data.prompt_template: text with {prompt}, or one of the template names; nothing else
    const char *names[] = {"default", "plain", "dapo", "chatml", "qwen-math"};
    for (int i = 0; i < 5; i++) {
        config_defaults(&c);
        snprintf(c.data_prompt_template, sizeof(c.data_prompt_template), "%s", names[i]);
        CHECK_MSG(config_validate(&c, err, sizeof(err)) == 0, "%s: %s", names[i], err);
    }
    const char *bad[] = {"defaults", "plai", "qwen", "Q: prompt", "", "default, plain"};
    for (int i = 0; i < 6; i++) {
        config_defaults(&c);
        snprintf(c.data_prompt_template, sizeof(c.data_prompt_template), "%s", bad[i]);
        CHECK_MSG(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "data.prompt_template") && contains(err, "dapo"),
                  "'%s' accepted (%s)", bad[i], err);
    }
    // chat markup in the prompt template and the model's chat template: twice wrapped, refused
    const char *twice[] = {"chatml", "qwen-math", "<|im_start|>user\n{prompt}<|im_end|>\n", "<|start_header_id|>user{prompt}"};
    for (int i = 0; i < 4; i++) {
        config_defaults(&c);
        c.data_apply_chat_template = true;
        snprintf(c.data_prompt_template, sizeof(c.data_prompt_template), "%s", twice[i]);
        CHECK_MSG(config_validate(&c, err, sizeof(err)) == -1 && contains(err, "data.apply_chat_template"), "'%s' accepted", twice[i]);
        c.data_apply_chat_template = false;
        CHECK_MSG(config_validate(&c, err, sizeof(err)) == 0, "'%s' without the chat template: %s", twice[i], err);
    }
    config_defaults(&c);
    c.data_apply_chat_template = true;
    snprintf(c.data_prompt_template, sizeof(c.data_prompt_template), "dapo");
    CHECK_MSG(config_validate(&c, err, sizeof(err)) == 0, "dapo + chat template: %s", err);
    // data.chat_template: a built-in renderer's name or "" (recognise the model's)
    expect_override_error("data.chat_template=chatml", "data.chat_template", "qwen2.5|smollm2|llama3|llama3.1|llama3.2");
    config_defaults(&c);
    CHECK(config_override(&c, "data.chat_template=llama3.2", err, sizeof(err)) == 0 && !strcmp(c.data_chat_template, "llama3.2"));
    CHECK(config_override(&c, "data.apply_chat_template=true", err, sizeof(err)) == 0 && c.data_apply_chat_template);
}

static void test_round_trip(void) {
    RlvrConfig a, b;
    config_defaults(&a);
    const char *sets[][2] = {
        {"actor.optim.lr", "0.1"}, {"actor.optim.weight_decay", "0.3333333333333333"},
        {"actor.optim.eps", "1e-300"}, {"actor.clip_ratio_high", "1.7976931348623157e308"},
        {"actor.optim.betas", "[0.123456789012345678, 0.9999999999999999]"},
        {"algorithm.ppl_shaping.clamp", "[-0.5, 1e-7]"}, {"actor.clip_ratio_c", "null"},
        {"data.prompt_template", "line1\n\t\"quoted\" \\back\\slash {prompt} \x01 caf\xc3\xa9 \xe6\x95\xb0 #hash: colon"},
        {"trainer.run_dir", "  spaces around  "}, {"model.path", "null"}, {"data.val_files", "'single'"},
        {"trainer.seed", "9007199254740993"}, {"rollout.top_k", "-1"}, {"trainer.resume", "true"},
        {"actor.entropy_coeff", "-0.0"},
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        CHECK_MSG(config_set(&a, sets[i][0], sets[i][1], "test", err, sizeof(err)) == 0, "%s: %s", sets[i][0], err);
    char *y = config_to_yaml(&a);
    config_defaults(&b);
    CHECK_MSG(config_load_string(&b, y, "round-trip", 0, err, sizeof(err)) == 0, "%s\n%s", err, y);
    CHECK(config_equal(&a, &b));
    config_diff(&a, &b, stderr);
    CHECK(strcmp(b.model_path, "null") == 0);
    CHECK_EQ_INT(b.trainer_seed, 9007199254740993LL);
    CHECK(signbit(b.actor_entropy_coeff));
    // Output is nested and sorted: sections appear in alphabetical order, every key once.
    const char *p_actor = strncmp(y, "actor:\n", 7) == 0 ? y : NULL, *p_alg = strstr(y, "\nalgorithm:\n"), *p_rollout = strstr(y, "\nrollout:\n");
    CHECK(p_actor && p_alg && p_rollout && p_actor < p_alg && p_alg < p_rollout);
    CHECK(strstr(y, "\n  optim:\n    betas: ") != NULL);
    CHECK(strstr(y, "    lr: 0.1\n") != NULL);   // shortest exact form, not 0.10000000000000001
    // A second round trip gives the same text.
    char *y2 = config_to_yaml(&b);
    CHECK(strcmp(y, y2) == 0);
    free(y2);
    free(y);
    // config_diff names what changed.
    b.rollout_n = 5;
    CHECK_EQ_INT(config_diff(&a, &b, NULL), 1);
    char t[64];
    CHECK(config_value_text(&b, "rollout.n", t, sizeof(t)) == 0 && strcmp(t, "5") == 0);
    CHECK(config_value_text(&b, "actor.optim.betas", t, sizeof(t)) == 0 && strncmp(t, "[0.12345678901234568, ", 22) == 0);
    CHECK(config_value_text(&b, "nope", t, sizeof(t)) == -1);
}

static void test_args(void) {
    const char *path = "build_test_config_args.yaml";
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("rollout:\n  n: 4\n  temperature: 0.9\n", f);
    fclose(f);
    RlvrConfig c;
    config_defaults(&c);
    // The override comes before --config on the command line but is applied after the file.
    char *argv[] = {"rollout.n=6", "--config", (char *)path, "--run-dir", "/tmp/rundir", "--resume", "--threads", "3"};
    char *rest[8];
    int nrest = 0;
    CHECK_MSG(config_parse_args(&c, 8, argv, rest, &nrest, err, sizeof(err)) == 0, "%s", err);
    CHECK_EQ_INT(c.rollout_n, 6);
    CHECK_NEAR(c.rollout_temperature, 0.9, 0);
    CHECK(strcmp(c.trainer_run_dir, "/tmp/rundir") == 0);
    CHECK(c.trainer_resume);
    CHECK_EQ_INT(nrest, 2);
    CHECK(nrest == 2 && strcmp(rest[0], "--threads") == 0 && strcmp(rest[1], "3") == 0);
    config_defaults(&c);
    CHECK(config_parse_args(&c, 8, argv, NULL, NULL, err, sizeof(err)) == -1);
    CHECK_MSG(contains(err, "--threads"), "%s", err);
    char *argv2[] = {"--config=configs/nope.yaml"};
    CHECK(config_parse_args(&c, 1, argv2, NULL, NULL, err, sizeof(err)) == -1 && contains(err, "configs/nope.yaml"));
    char *argv3[] = {"data.train_batch_size=6"};   // cross-key validation runs at the end
    config_defaults(&c);
    CHECK(config_parse_args(&c, 1, argv3, NULL, NULL, err, sizeof(err)) == -1 && contains(err, "ppo_mini_batch_size"));
    char *argv4[] = {"rollout.n=oops", "--help-config"};   // help wins, nothing else is parsed
    config_defaults(&c);
    fflush(stdout);
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    int r = config_parse_args(&c, 2, argv4, NULL, NULL, err, sizeof(err));
    fclose(stdout);
    stdout = saved;
    CHECK_EQ_INT(r, 1);
    remove(path);
}

// Every YAML file under configs/ loads and validates.
static int check_dir(const char *dir) {
    int count = 0;
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) { count += check_dir(path); continue; }
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        RlvrConfig c;
        config_defaults(&c);
        int ok = config_load_file(&c, path, err, sizeof(err)) == 0;
        CHECK_MSG(ok, "%s", err);
        if (ok) CHECK_MSG(config_validate(&c, err, sizeof(err)) == 0, "%s: %s", path, err);
        count++;
    }
    closedir(d);
    return count;
}

static void test_config_files(void) {
    int n = check_dir("configs");
    CHECK_MSG(n >= 8, "only %d config files found", n);
    // Spot-check the paper settings.
    RlvrConfig c;
    config_defaults(&c);
    CHECK(config_load_file(&c, "configs/paper/qwen2.5-7b_position.yaml", err, sizeof(err)) == 0);
    CHECK_EQ_INT(c.data_train_batch_size, 512);
    CHECK_EQ_INT(c.data_train_batch_size / c.actor_ppo_mini_batch_size, 16);
    CHECK_EQ_INT(c.data_max_response_length, 8192);
    CHECK_EQ_INT(c.reward_overlong_buffer_len, 1024);
    CHECK(c.algorithm_position_shaping_enable && !c.algorithm_ppl_shaping_enable);
    CHECK_NEAR(c.rollout_top_p, 1.0, 0);   // the authors' scripts: verl's default
    CHECK(c.algorithm_filter_groups_enable && c.trainer_test_freq == 10 && c.trainer_val_before_train);
    CHECK_NEAR(c.actor_optim_weight_decay, 0.1, 0);
    CHECK(strstr(c.data_prompt_template, "\\boxed{}") != NULL && strstr(c.data_prompt_template, "\n<|im_start|>user\n{prompt}") != NULL);
    config_defaults(&c);
    CHECK(config_load_file(&c, "configs/paper/qwen2.5-math-7b_ppl.yaml", err, sizeof(err)) == 0);
    CHECK(c.algorithm_ppl_shaping_enable && !c.algorithm_position_shaping_enable);
    CHECK_NEAR(c.algorithm_ppl_shaping_alpha, 0.01, 0);
}

// docs/configuration.md lists every key (the table is generated from the schema; this keeps it so).
static void test_docs(void) {
    char *doc = read_file_all("docs/configuration.md", NULL, err, sizeof(err));
    CHECK_MSG(doc != NULL, "%s", err);
    if (!doc) return;
    int n;
    const CfgKey *k = config_schema(&n);
    for (int i = 0; i < n; i++) {
        char pat[300];
        snprintf(pat, sizeof(pat), "| `%s` |", k[i].key);
        CHECK_MSG(strstr(doc, pat) != NULL, "docs/configuration.md does not document %s", k[i].key);
    }
    free(doc);
}

// A list of words (trainer.logger): YAML flow and block lists, the command line, the printed form,
// each word checked against the allowed ones, no word twice.
static void test_words(void) {
    RlvrConfig c;
    config_defaults(&c);
    CHECK(strcmp(c.trainer_logger, "console,jsonl") == 0);
    CHECK(config_words_has(c.trainer_logger, "jsonl") && !config_words_has(c.trainer_logger, "json") &&
          !config_words_has(c.trainer_logger, "tensorboard"));
    CHECK_MSG(config_override(&c, "trainer.logger=[jsonl, tensorboard]", err, sizeof(err)) == 0, "%s", err);
    CHECK(strcmp(c.trainer_logger, "jsonl,tensorboard") == 0);
    CHECK_MSG(config_override(&c, "trainer.logger=console", err, sizeof(err)) == 0, "%s", err);
    CHECK(strcmp(c.trainer_logger, "console") == 0);
    CHECK_MSG(config_override(&c, "trainer.logger=[]", err, sizeof(err)) == 0 && c.trainer_logger[0] == 0, "%s", err);
    CHECK_MSG(config_load_string(&c, "trainer:\n  logger:\n    - console\n    - tensorboard\n", "w.yaml", 0, err, sizeof(err)) == 0, "%s", err);
    CHECK(strcmp(c.trainer_logger, "console,tensorboard") == 0);
    char *y = config_to_yaml(&c);
    CHECK(contains(y, "  logger: [console, tensorboard]\n"));
    RlvrConfig d;
    config_defaults(&d);
    CHECK_MSG(config_load_string(&d, y, "round", 0, err, sizeof(err)) == 0 && config_equal(&c, &d), "%s", err);
    free(y);
    CHECK_MSG(config_validate(&c, err, sizeof(err)) == 0, "%s", err);
    expect_override_error("trainer.logger=[console, wandb]", "'wandb'", "console|jsonl|tensorboard");
    expect_override_error("trainer.logger=[jsonl, jsonl]", "'jsonl' twice", NULL);
    expect_override_error("trainer.logger=[console, ]", "(empty)", NULL);
    expect_load_error("trainer:\n  logger: [console, tensorbord]\n", "bad.yaml:2", "trainer.logger", "'tensorbord'");
}

int main(void) {
    test_schema();
    test_load_and_override();
    test_errors();
    test_validate();
    test_round_trip();
    test_args();
    test_config_files();
    test_docs();
    test_words();
    return tests_done();
}
