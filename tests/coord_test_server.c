// The real coordinator behind a tiny CLI, for tests/test_interop.py (a Python worker written from
// docs/protocol.md). Enqueues N prompts, publishes weights, writes the rendezvous file, then takes
// groups and prints one JSON line per group and finally "COUNTERS {...}".
//
//   coord_test_server RENDEZVOUS_PATH N_PROMPTS G N_WEIGHTS CHUNK_BYTES TIMEOUT_S
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "learner/coordinator/coordinator.h"

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s RENDEZVOUS N_PROMPTS G N_WEIGHTS CHUNK_BYTES TIMEOUT_S\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]), G = atoi(argv[3]);
    size_t nw = (size_t)atol(argv[4]);
    double timeout = atof(argv[6]);
    CoordConfig cfg;
    coord_config_default(&cfg);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "tcp://127.0.0.1:*");
    snprintf(cfg.pub_endpoint, sizeof cfg.pub_endpoint, "tcp://127.0.0.1:*");
    cfg.lease_s = 5.0;
    cfg.heartbeat_s = 0.5;
    cfg.chunk_bytes = (size_t)atol(argv[5]);
    cfg.republish_s = 0.2;
    cfg.lim.vocab_size = 1000;
    cfg.quiet = 1;
    char err[256];
    Coordinator *c = coord_create(&cfg, err, sizeof err);
    if (!c || coord_start(c, err, sizeof err) != 0) { fprintf(stderr, "coord_test_server: %s\n", err); return 1; }
    for (int i = 0; i < n; i++) {
        int32_t toks[4] = {1, 2, 3, i};
        char text[64], ans[32];
        snprintf(text, sizeof text, "What is %d+%d?", i, i);
        snprintf(ans, sizeof ans, "%d", 2 * i);
        CoordPrompt p = {1000 + (uint64_t)i, 4, toks, text, ans, "arith", G, {1.0f, 0.95f, 0, 64, 1, {0}}, 77 + (uint64_t)i};
        if (coord_enqueue(c, &p, err, sizeof err) != 0) { fprintf(stderr, "coord_test_server: %s\n", err); return 1; }
    }
    float *w = mallocCheck(nw * sizeof(float));
    for (size_t i = 0; i < nw; i++) w[i] = 0.25f * (float)i - 1.0f;
    if (coord_publish_weights(c, 2, w, nw, err, sizeof err) != 0) { fprintf(stderr, "coord_test_server: %s\n", err); return 1; }
    free(w);
    if (coord_write_rendezvous(c, argv[1], NULL, err, sizeof err) != 0) { fprintf(stderr, "coord_test_server: %s\n", err); return 1; }
    int got = 0;
    double end = now_seconds() + timeout;
    while (got < n && now_seconds() < end) {
        CoordGroup g;
        if (coord_take(c, &g, 1, 0.1) != 1) continue;
        const WireResponse *r = &g.group.responses[0];
        printf("{\"prompt_id\":%llu,\"n_responses\":%d,\"policy_version\":%lld,\"worker\":\"%s\",\"answer\":\"%s\",\"n_tokens\":%d,\"tokens\":[",
               (unsigned long long)g.prompt_id, g.group.n_responses, (long long)g.group.policy_version, g.group.worker, g.answer, r->n_tokens);
        for (int t = 0; t < r->n_tokens; t++) printf("%s%d", t ? "," : "", r->tokens[t]);
        printf("],\"logprobs\":[");
        for (int t = 0; t < r->n_tokens; t++) printf("%s%.9g", t ? "," : "", (double)r->logprobs[t]);
        printf("],\"entropies\":");
        if (r->entropies) {
            printf("[");
            for (int t = 0; t < r->n_tokens; t++) printf("%s%.9g", t ? "," : "", (double)r->entropies[t]);
            printf("]");
        } else {
            printf("null");
        }
        printf(",\"reward\":%.9g,\"correct\":%s,\"finish\":\"%s\",\"boxed_count\":%d,\"has_cjk\":%s,\"repetition\":%s,\"gen_seconds\":%.9g}\n",
               (double)r->reward, r->correct ? "true" : "false", r->finish == WIRE_FINISH_LENGTH ? "length" : "stop", r->boxed_count,
               r->has_cjk ? "true" : "false", r->repetition ? "true" : "false", (double)r->gen_seconds);
        fflush(stdout);
        coord_group_free(&g);
        got++;
    }
    // let late duplicates / goodbyes arrive before the counters are read
    double settle = now_seconds() + 0.5;
    while (now_seconds() < settle) { CoordGroup g; if (coord_take(c, &g, 1, 0.05) == 1) { coord_group_free(&g); got++; } }
    char js[4096];
    coord_counters_json(c, js, sizeof js);
    printf("COUNTERS %s\n", js);
    fflush(stdout);
    coord_free(c);
    return got == n ? 0 : 1;
}
