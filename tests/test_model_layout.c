// The parameter buffer layout: HF names, offsets contiguous, views agree with the table.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/model.h"
#include "tests/harness.h"

int main(void) {
    ModelConfig c;
    model_config_default(&c);
    c.vocab_size = 11; c.hidden_size = 8; c.intermediate_size = 12; c.num_layers = 2;
    c.num_heads = 4; c.num_kv_heads = 2; c.head_dim = 2; c.qkv_bias = 1; c.tie_word_embeddings = 0;
    Model m;
    char err[256];
    CHECK(model_init(&m, &c, err, sizeof(err)) == 0);
    // 1 embed + 2 * 12 per layer + norm + lm_head
    CHECK_EQ_INT(m.num_tensors, 1 + 2 * 12 + 1 + 1);
    size_t off = 0;
    for (int i = 0; i < m.num_tensors; i++) { CHECK_EQ_INT(m.tensors[i].offset, off); off += m.tensors[i].numel; }
    CHECK_EQ_INT(off, m.num_params);
    const size_t per_layer = 8 + (8 * 8 + 8) + 2 * (4 * 8 + 4) + 8 * 8 + 8 + 3 * 12 * 8;
    CHECK_EQ_INT(m.num_params, 11 * 8 + 2 * per_layer + 8 + 11 * 8);
    ModelView v;
    model_view(&m, m.params, &v);
    const TensorInfo *t = model_find_tensor(&m, "model.layers.1.self_attn.k_proj.bias");
    CHECK(t && v.layers[1].k_bias == m.params + t->offset);
    CHECK(t && t->shape[0] == 4 && t->ndim == 1);
    t = model_find_tensor(&m, "lm_head.weight");
    CHECK(t && v.lm_head == m.params + t->offset);
    model_free(&m);

    c.tie_word_embeddings = 1; c.qkv_bias = 0;
    CHECK(model_init(&m, &c, err, sizeof(err)) == 0);
    model_view(&m, m.params, &v);
    CHECK(v.lm_head == v.embed_tokens);
    CHECK(v.layers[0].q_bias == NULL);
    CHECK(model_find_tensor(&m, "lm_head.weight") == NULL);
    model_free(&m);

    c.num_kv_heads = 3;  // 4 % 3 != 0
    CHECK(model_init(&m, &c, err, sizeof(err)) == -1);
    CHECK(strstr(err, "num_key_value_heads") != NULL);

    // Large buffers (common/core/check.h callocBigCheck / mallocBigCheck): 2 MB aligned so that they can
    // sit on huge pages, zeroed by the calloc form, usable to the last byte; small ones and
    // RLVR_NO_HUGEPAGES fall back to plain malloc. A model big enough gets its parameters that way.
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) setenv("RLVR_NO_HUGEPAGES", "1", 1);
        const size_t n = ((size_t)3 << 20) / sizeof(float) + 5;   // 3 MB + 20 bytes: not a multiple of 2 MB
        float *big = callocBigCheck(n, sizeof(float));
        CHECK(pass == 1 || ((uintptr_t)big & (((uintptr_t)2 << 20) - 1)) == 0);
        int zero = 1;
        for (size_t i = 0; i < n; i++) zero &= big[i] == 0.0f;
        CHECK_MSG(zero, "callocBigCheck (pass %d) did not zero the buffer", pass);
        big[n - 1] = 1.0f;
        free(big);
        unsigned char *raw = mallocBigCheck((size_t)5 << 20);
        memset(raw, 0xab, (size_t)5 << 20);
        CHECK(raw[((size_t)5 << 20) - 1] == 0xab);
        free(raw);
        float *small = callocBigCheck(16, sizeof(float));
        CHECK(small[15] == 0.0f);
        free(small);
    }
    unsetenv("RLVR_NO_HUGEPAGES");
    c.num_kv_heads = 2; c.vocab_size = 40000; c.hidden_size = 64; c.tie_word_embeddings = 1;
    CHECK(model_init(&m, &c, err, sizeof(err)) == 0);
    CHECK(((uintptr_t)m.params & (((uintptr_t)2 << 20) - 1)) == 0);
    model_free(&m);
    return tests_done();
}
