/* bench_pretrain.c - masked-LM pretraining speed: tokens per second of
 * `idim pretrain` steps (encoder forward + MLM head at the masked rows +
 * backward + AdamW) for presets tiny and mini at batch 32 x 128 tokens,
 * with 1 and 2 threads, and its ratio to the sgemm bound measured in the
 * same process: the tokens per second the step's matrix-product FLOPs
 * (pretrain_flops_step) would allow at the GFLOP/s of one plain
 * cblas_sgemm of the FFN's shape ([B*T, C] x [C, F]), the best of 5.
 *
 * Runs pretrain_run itself (setup excluded: the rate is over the steps,
 * the first one included) on SST-2 train text from ../shared with the
 * bert-base-uncased vocabulary (skips with a message when absent), in a
 * temporary folder. Environment: BENCH_PRESETS, BENCH_THREADS narrow it. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "pretrain.h"

#define B_ 32
#define T_ 128
#define VOCAB "../shared/data/tokenizers/bert-base-uncased/vocab.txt"
#define SST "../shared/data/glue/SST-2/train.tsv"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of [N, C] x [C, F]^T, best of 5. */
static double sgemm_rate(int N, int C, int F)
{
    float *x = calloc((size_t)N * C, 4), *w = calloc((size_t)F * C, 4), *y = calloc((size_t)N * F, 4);
    if (!x || !w || !y)
        return 0.0;
    for (size_t i = 0; i < (size_t)N * C; i++)
        x[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int k = 0; k < 6; k++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, F, C, 1.0f, x, C, w, C, 0.0f, y, F);
        if (k > 0)
            best = fmin(best, now() - t0);
    }
    free(x), free(w), free(y);
    return 2.0 * N * C * (double)F / best / 1e9;
}

static int in_list(const char *env, const char *item)
{
    const char *l = getenv(env);
    return !l || !*l || strstr(l, item) != NULL;
}

static int run_row(const char *dir, const char *preset, int threads, int steps)
{
    char model[512], out[512], corpus[512], cmd[2048];
    snprintf(model, sizeof model, "%s/%s.bin", dir, preset);
    snprintf(out, sizeof out, "%s/run-%s-%d", dir, preset, threads);
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(cmd, sizeof cmd, "test -f %s || ./idim init --preset %s --vocab %s -o %s >/dev/null",
             model, preset, VOCAB, model);
    if (system(cmd) != 0)
        return 1;
    const char *files[1] = {corpus};
    struct pretrain_opts o;
    pretrain_opts_default(&o);
    o.model = model;
    o.out_dir = out;
    o.corpus = files;
    o.n_corpus = 1;
    o.steps = steps;
    o.batch = B_;
    o.seq_len = T_;
    o.checkpoint_every = 1000000;
    o.log_every = 1000000;
    o.threads = threads;
    struct pretrain_result r;
    struct idim_err err;
    if (pretrain_run(&o, &r, &err) != IDIM_OK) {
        fprintf(stderr, "bench_pretrain: %s\n", err.msg);
        return 1;
    }
    struct arch_config c = {.family = ARCH_BERT, .vocab_size = 30522};
    arch_preset(preset, &c);
    int M = (int)lround(0.15 * B_ * (T_ - 2));
    double flops = pretrain_flops_step(&c, B_, T_, M);
    double sg = sgemm_rate(B_ * T_, c.hidden, c.ffn);
    double bound = sg * 1e9 / (flops / (B_ * T_));
    printf("%-7s %3d %6d %12.0f %9.1f %9.1f %12.0f %6.1f%%\n", preset, threads, steps,
           r.tokens_per_s, r.tokens_per_s * flops / (B_ * T_) / 1e9, sg, bound,
           100.0 * r.tokens_per_s / bound);
    fflush(stdout);
    return 0;
}

int main(void)
{
    if (access(VOCAB, R_OK) != 0 || access(SST, R_OK) != 0) {
        printf("bench_pretrain: ../shared/data (SST-2, bert vocab) absent: skipping\n");
        return 0;
    }
    char dir[] = "/tmp/idim-bench-pretrain-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sed -n '2,20001p' %s | cut -f1 > %s/corpus.txt", SST, dir);
    if (system(cmd) != 0)
        return 1;
    printf("masked-LM pretraining, BERT vocab 30522, batch %d x %d, 15%% masked; OpenBLAS %s, "
           "core %s\n",
           B_, T_, openblas_get_config(), openblas_get_corename());
    printf("%-7s %3s %6s %12s %9s %9s %12s %7s\n", "preset", "thr", "steps", "tokens/s",
           "GFLOP/s", "sgemm", "bound tok/s", "ratio");
    fflush(stdout);
    static const char *presets[] = {"tiny", "mini"};
    static const int steps[] = {6, 3};
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++)
        for (int t = 1; t <= 2 && !rc; t++) {
            char tn[8];
            snprintf(tn, sizeof tn, "%d", t);
            if (!in_list("BENCH_PRESETS", presets[p]) || !in_list("BENCH_THREADS", tn))
                continue;
            pid_t pid = fork();
            if (pid < 0)
                return 1;
            if (pid == 0)
                _exit(run_row(dir, presets[p], t, steps[p]));
            int st;
            rc = waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
    printf("ratio = measured tokens/s over the sgemm bound (the step's matrix FLOPs at the plain\n"
           "sgemm rate); the first step (page faults, buffers) is included\n");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
