/* bench_sched.c - what parallel slots buy on a real-size d90 search: a
 * roberta-base MRPC search (SAID, the measure defaults: dmin raised to m+1,
 * dmax 100000, precision 1.1, baseline over 3 learning rates) run through
 * the real planner (sched_plan_search, the code --jobs and mpirun use) on 1,
 * 8, 32 and 128 slots, with a synthetic outcome: a probe meets the target
 * iff d >= the true d90. An event simulation: every probe run takes the
 * same time, every baseline run its own; each slot freed is refilled at
 * once. Prints the runs started, the rounds (probe-run times of wall
 * clock) and the expected wall time, and checks that the parallel search
 * reports the d90 of the sequential one.
 *
 * Per-run time, from bench figures (no training here): a DID step of
 * preset small at batch 32 x 128 took BENCH_SMALL_STEP_MS (default 9500,
 * the issue-5 bench_train figure: 2 threads, OpenBLAS generic kernels),
 * scaled to roberta-base by the ratio of matrix FLOPs per token (24 H^2 +
 * 4 T H per layer, times layers); a probe run is 20 epochs of MRPC's 3668
 * examples, a baseline run 3 epochs at the full-step cost (bench: DID step
 * = 0.96 x full step). Override with BENCH_PROBE_HOURS /
 * BENCH_BASELINE_HOURS. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "scheduler.h"
#include "search.h"

#define MRPC_TRAIN 3668
#define PROBE_EPOCHS 20
#define BASE_EPOCHS 3

static double layer_flops(const struct arch_config *c, int T)
{
    double H = c->hidden, F = c->ffn;
    return 2.0 * (4.0 * H * H + 2.0 * H * F) + 4.0 * T * H;
}

static double env_num(const char *name, double dflt)
{
    const char *v = getenv(name);
    return v && atof(v) > 0 ? atof(v) : dflt;
}

/* sched_lookup_trial that counts the runs the replayed search asks for. */
struct counting {
    const struct search_state *st;
    size_t n;
};

static enum idim_status counting_lookup(void *ctx, long d, double lr, uint64_t seed,
                                        struct search_trial *out, struct idim_err *err)
{
    struct counting *c = ctx;
    c->n++;
    return sched_lookup_trial((void *)c->st, d, lr, seed, out, err);
}

struct flight {
    struct sched_spec sp;
    double end;
};

/* Simulates one search on n_slots; returns the wall hours, fills the runs
 * started, the runs on the sequential search's path (baseline + every
 * seed's probes x lrs) and the first seed's d90 and probe count as the
 * replayed search reports them. */
static double simulate(int n_slots, long d90_true, const struct sched_search_plan *plan,
                       double probe_h, double base_h, size_t *n_runs, size_t *n_path,
                       long *d90_out, size_t *n_probes)
{
    struct idim_err err;
    struct search_state st;
    search_state_open(&st, NULL, "bench", 1, &err);
    struct flight *fl = calloc((size_t)n_slots, sizeof *fl);
    struct sched_spec *running = calloc((size_t)n_slots, sizeof *running);
    struct sched_spec *want = calloc((size_t)n_slots, sizeof *want);
    int n_fl = 0;
    double t = 0;
    *n_runs = 0;
    for (;;) {
        for (int i = 0; i < n_fl; i++)
            running[i] = fl[i].sp;
        size_t n = sched_plan_search((void *)plan, &st, running, (size_t)n_fl, want,
                                     (size_t)(n_slots - n_fl));
        for (size_t i = 0; i < n; i++) {
            fl[n_fl].sp = want[i];
            fl[n_fl].end = t + (want[i].d == 0 ? base_h : probe_h);
            n_fl++;
            (*n_runs)++;
        }
        if (!n_fl)
            break;
        int first = 0;
        for (int i = 1; i < n_fl; i++)
            if (fl[i].end < fl[first].end)
                first = i;
        t = fl[first].end;
        struct search_trial tr;
        memset(&tr, 0, sizeof tr);
        tr.seed = fl[first].sp.seed;
        tr.d = fl[first].sp.d;
        tr.lr = fl[first].sp.lr;
        tr.epochs = tr.d ? PROBE_EPOCHS : BASE_EPOCHS;
        tr.metric = tr.d == 0 ? 0.90 : tr.d >= d90_true ? 0.85 : 0.70;
        search_state_add(&st, &tr, &err);
        fl[first] = fl[--n_fl];
    }
    /* the report's view: the sequential search replayed over the runs */
    struct search_probe bp;
    search_probe_d(plan->base, 0, sched_lookup_trial, &st, NULL, &bp, &err);
    struct search_result *res = malloc(sizeof *res);
    struct counting cnt = {.st = &st, .n = (size_t)plan->base->n_lr};
    for (size_t s = plan->n_cfg; s-- > 0;) {
        struct search_config cfg = plan->cfg[s];
        cfg.target = plan->threshold * bp.best.metric;
        search_run(&cfg, counting_lookup, &cnt, NULL, res, &err);
        *d90_out = res->reached ? res->d90 : 0;
        *n_probes = res->n_probes;
    }
    *n_path = cnt.n;
    free(res);
    free(fl);
    free(running);
    free(want);
    search_state_free(&st);
    return t;
}

int main(void)
{
    struct arch_config small, base;
    memset(&small, 0, sizeof small);
    memset(&base, 0, sizeof base);
    arch_preset("small", &small);
    arch_preset("base", &base);
    double ratio = base.n_layers * layer_flops(&base, 128) / (small.n_layers * layer_flops(&small, 128));
    double step_ms = env_num("BENCH_SMALL_STEP_MS", 9500.0) * ratio;
    double ex_per_s = 32.0 / (step_ms / 1000.0);
    double probe_h = env_num("BENCH_PROBE_HOURS", PROBE_EPOCHS * MRPC_TRAIN / ex_per_s / 3600.0);
    double base_h = env_num("BENCH_BASELINE_HOURS",
                            BASE_EPOCHS * MRPC_TRAIN / (ex_per_s * 0.96) / 3600.0);
    long m = (long)arch_tensors(&base, ARCH_TABLE_MODEL, 2, NULL, 0);
    printf("roberta-base / small matrix FLOPs per token: %.2fx; DID step 32 x 128: %.1f s; "
           "%.2f examples/s\n",
           ratio, step_ms / 1000.0, ex_per_s);
    printf("probe run (%d epochs x %d): %.1f h; baseline run (%d epochs): %.1f h; SAID dmin = m+1 "
           "= %ld\n",
           PROBE_EPOCHS, MRPC_TRAIN, probe_h, BASE_EPOCHS, base_h, m + 1);

    static const int slots[] = {1, 8, 32, 128};
    static const long d90s[] = {1861, 300, 20000};
    static const struct { int seeds, n_lr; } shapes[] = {{1, 1}, {3, 2}};
    int bad = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        for (size_t k = 0; k < sizeof d90s / sizeof d90s[0]; k++) {
            struct search_config cfg[3], bcfg;
            memset(&bcfg, 0, sizeof bcfg);
            bcfg.target = INFINITY;
            bcfg.n_lr = 3;
            bcfg.lr[0] = 2e-5, bcfg.lr[1] = 3e-5, bcfg.lr[2] = 5e-5;
            for (int s = 0; s < shapes[sh].seeds; s++) {
                memset(&cfg[s], 0, sizeof cfg[s]);
                cfg[s].dmin = m + 1;
                cfg[s].dmax = 100000;
                cfg[s].precision = 1.1;
                cfg[s].seed = 1234 + (uint64_t)s;
                cfg[s].n_lr = shapes[sh].n_lr;
                cfg[s].lr[0] = 3e-3;
                cfg[s].lr[1] = 1e-2;
                cfg[s].early_stop = 1; /* the measure default */
            }
            struct sched_search_plan plan = {.cfg = cfg, .n_cfg = (size_t)shapes[sh].seeds,
                                             .base = &bcfg, .threshold = 0.9, .threads = 1};
            printf("\n%d seed(s) x %d lr, true d90 %ld:\n", shapes[sh].seeds, shapes[sh].n_lr,
                   d90s[k]);
            printf("  %6s %6s %8s %8s %10s %8s  %s\n", "slots", "runs", "extra", "rounds",
                   "wall h", "speedup", "d90 (probes)");
            double wall1 = 0;
            long d90_1 = 0;
            for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
                size_t runs = 0, n_path = 0, n_probes = 0;
                long d90 = 0;
                double w = simulate(slots[i], d90s[k], &plan, probe_h, base_h, &runs, &n_path,
                                    &d90, &n_probes);
                if (i == 0) {
                    wall1 = w;
                    d90_1 = d90;
                }
                printf("  %6d %6zu %8zu %8.1f %10.1f %7.1fx  %ld (%zu)\n", slots[i], runs,
                       runs - n_path, w / probe_h, w, wall1 / w, d90, n_probes);
                if (d90 != d90_1)
                    bad = 1;
            }
        }
    }
    if (bad)
        printf("\nBUG: a parallel search reported another d90 than the sequential one\n");
    return bad;
}
