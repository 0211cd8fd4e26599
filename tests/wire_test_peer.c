// A scripted protocol peer for tests (not a rollout worker): connects to a coordinator with the
// worker client library and follows one script, so tests can kill it mid-lease.
//
//   wire_test_peer ENDPOINT NAME CREDITS hold     take CREDITS leases, print "HELD n", then only heartbeat
//   wire_test_peer ENDPOINT NAME CREDITS serve N  answer N assignments with synthetic groups, then say goodbye
//
// ENDPOINT may be "rdv:PATH" to read it from a rendezvous file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/client.h"

static void synth_group(const WireAssign *a, WireGroup *g, WireResponse *rs, int32_t *tok, float *lp) {
    memset(g, 0, sizeof *g);
    g->prompt_id = a->prompt_id;
    g->lease_id = a->lease_id;
    g->seed = a->seed;
    g->policy_version = a->policy_version;
    g->n_responses = a->group_size;
    g->responses = rs;
    for (int i = 0; i < 4; i++) { tok[i] = (int32_t)(a->prompt_id % 1000) + i; lp[i] = -0.5f; }
    for (int i = 0; i < a->group_size; i++)
        rs[i] = (WireResponse){4, tok, lp, NULL, i % 2 ? 1.0f : -1.0f, i % 2, WIRE_FINISH_STOP, 1, 0, 0, 0.01f};
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s ENDPOINT|rdv:PATH NAME CREDITS hold|serve [N]\n", argv[0]);
        return 2;
    }
    WireClientConfig cfg;
    wire_client_config_default(&cfg);
    if (strncmp(argv[1], "rdv:", 4) == 0) snprintf(cfg.rendezvous, sizeof cfg.rendezvous, "%s", argv[1] + 4);
    else snprintf(cfg.endpoint, sizeof cfg.endpoint, "%s", argv[1]);
    snprintf(cfg.worker_id, sizeof cfg.worker_id, "%s", argv[2]);
    cfg.credits = atoi(argv[3]);
    cfg.subscribe_weights = 0;
    cfg.quiet = 1;
    char err[256];
    WireClient *c = wire_client_open(&cfg, err, sizeof err);
    if (!c) { fprintf(stderr, "wire_test_peer: %s\n", err); return 1; }
    if (strcmp(argv[4], "hold") == 0) {
        int held = 0;
        WireAssign a;
        while (held < cfg.credits) {
            int rc = wire_client_next(c, &a, 10.0);
            if (rc <= 0) { fprintf(stderr, "wire_test_peer: no assignment within 10 s\n"); return 1; }
            wire_assign_free(&a);
            held++;
        }
        printf("HELD %d\n", held);
        fflush(stdout);
        for (;;) pause();   // the I/O thread keeps heartbeating until the test kills us
    }
    int n = argc > 5 ? atoi(argv[5]) : 1;
    static WireResponse rs[1024];
    int32_t tok[4];
    float lp[4];
    for (int done = 0; done < n;) {
        WireAssign a;
        int rc = wire_client_next(c, &a, 10.0);
        if (rc <= 0) { fprintf(stderr, "wire_test_peer: no assignment within 10 s\n"); return 1; }
        WireGroup g;
        synth_group(&a, &g, rs, tok, lp);
        if (wire_client_send_group(c, &g, err, sizeof err) != 0) fprintf(stderr, "wire_test_peer: %s\n", err);
        wire_assign_free(&a);
        done++;
    }
    wire_client_close(c, "script done");
    printf("SERVED %d\n", n);
    return 0;
}
