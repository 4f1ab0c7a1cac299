/* bench_model.c - encoder speed: forward, forward+backward and a full
 * AdamW step for presets tiny, mini, small and medium at batch 32 x 128
 * tokens with 1 and 2 threads, against plain cblas_sgemm in the same run.
 *
 * Each (preset, threads) row runs in its own child process, so "peak RSS"
 * (getrusage ru_maxrss) is that configuration's own high-water mark.
 * GFLOP/s counts matrix-product FLOPs analytically (model_flops_forward:
 * forward F, backward 2F, step 3F). The sgemm reference times the six
 * linear-layer products of one encoder layer at the same shapes.
 *
 * Environment: BENCH_PRESETS="tiny,small" and BENCH_THREADS="2" narrow the
 * table; OpenBLAS picks its kernels at load time (OPENBLAS_CORETYPE). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"

#define B_ 32
#define T_ 128

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs fn until min_time seconds or max_it iterations (at least 1). */
#define TIME_IT(result, min_time, max_it, body)                        \
    do {                                                               \
        int it_ = 0;                                                   \
        double t0_ = now(), el_;                                       \
        do {                                                           \
            body;                                                      \
            it_++;                                                     \
            el_ = now() - t0_;                                         \
        } while (el_ < (min_time) && it_ < (max_it));                  \
        (result) = el_ / it_;                                          \
    } while (0)

static double sgemm_gflops(int C, int F)
{
    int N = B_ * T_;
    float *x = malloc((size_t)N * F * 4), *w = malloc((size_t)F * C * 4),
          *y = malloc((size_t)N * F * 4);
    for (size_t i = 0; i < (size_t)N * F; i++)
        x[i] = (float)((i * 7) % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)F * C; i++)
        w[i] = (float)((i * 5) % 11) * 0.01f;
    double flops = 2.0 * N * (4.0 * C * C + 2.0 * C * F), t;
    /* q, k, v, attention output: [N,C] x [C,C]^T; FFN up [N,C] x [F,C]^T; down [N,F] x [C,F]^T */
#define LAYER_GEMMS()                                                                          \
    do {                                                                                       \
        for (int k = 0; k < 4; k++)                                                            \
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, C, 1.0f, x, C, w, C,    \
                        0.0f, y, C);                                                           \
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, F, C, 1.0f, x, C, w, C, 0.0f,  \
                    y, F);                                                                     \
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, F, 1.0f, x, F, w, F, 0.0f,  \
                    y, C);                                                                     \
    } while (0)
    LAYER_GEMMS();
    TIME_IT(t, 1.0, 20, LAYER_GEMMS());
    free(x), free(w), free(y);
    return flops / t / 1e9;
}

static void fwd_bwd(struct model *m, const struct batch *b)
{
    model_forward(m, b, 1);
    model_backward(m);
}

/* One training step: forward, backward, AdamW (lr 2e-5, betas 0.9/0.999,
 * eps 1e-8, weight decay 0.01) over every parameter. */
static void full_step(struct model *m, const struct batch *b, float *mom, float *vel, int step)
{
    model_forward(m, b, 1);
    model_backward(m);
    float b1c = 1.0f - powf(0.9f, (float)step), b2c = 1.0f - powf(0.999f, (float)step);
    for (size_t i = 0; i < m->n_params; i++) {
        float g = m->grads[i];
        mom[i] = 0.9f * mom[i] + 0.1f * g;
        vel[i] = 0.999f * vel[i] + 0.001f * g * g;
        float upd = (mom[i] / b1c) / (sqrtf(vel[i] / b2c) + 1e-8f);
        m->params[i] -= 2e-5f * (upd + 0.01f * m->params[i]);
    }
}

static int run_row(const char *preset, int threads)
{
    struct arch_config c = {ARCH_BERT, 0, 0, 0, 0, 30522, 512, 2, 0, 1e-12f, ARCH_GELU, 1, 0};
    arch_preset(preset, &c);
    model_set_threads(threads);
    double sg = sgemm_gflops(c.hidden, c.ffn);
    struct model m;
    struct idim_err err;
    if (model_init(&m, &c, 2, B_, T_, &err) != IDIM_OK) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        return 1;
    }
    model_init_random(&m, 1);
    m.dropout = 0.1f;
    int32_t ids[B_ * T_], tt[B_ * T_], mask[B_ * T_], labels[B_];
    struct rng r;
    rng_init(&r, 99);
    for (int i = 0; i < B_ * T_; i++) {
        ids[i] = 1000 + (int)rng_below(&r, 29000);
        tt[i] = (i % T_) >= T_ / 2;
        mask[i] = 1;
    }
    for (int i = 0; i < B_; i++)
        labels[i] = i & 1;
    struct batch b = {B_, T_, ids, tt, mask, labels, NULL};
    size_t D = m.n_params;
    float *mom = calloc(D, 4), *vel = calloc(D, 4);
    double tf, tfb, ts;
    double min_t = 2.0;
    int max_it = 3;
    model_forward(&m, &b, 1); /* warm-up: page faults, OpenBLAS buffers */
    model_backward(&m);
    TIME_IT(tf, min_t, max_it, model_forward(&m, &b, 1));
    TIME_IT(tfb, min_t, max_it, fwd_bwd(&m, &b));
    int step = 0;
    TIME_IT(ts, min_t, max_it, full_step(&m, &b, mom, vel, ++step));
    double F = model_flops_forward(&m, B_, T_);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double step_gf = 3.0 * F / ts / 1e9;
    printf("%-7s %3d %5.1fM %9.1f %9.1f %9.1f %8.0f %9.1f %9.1f %9.1f %8.1f %5.0f%%\n", preset,
           threads, (double)D / 1e6, tf * 1e3, tfb * 1e3, ts * 1e3, ru.ru_maxrss / 1024.0,
           F / tf / 1e9, 3.0 * F / tfb / 1e9, step_gf, sg, 100.0 * step_gf / sg);
    fflush(stdout);
    free(mom), free(vel);
    model_free(&m);
    return 0;
}

static int in_list(const char *env, const char *item)
{
    const char *l = getenv(env);
    if (!l || !*l)
        return 1;
    size_t n = strlen(item);
    for (const char *p = l; (p = strstr(p, item)); p += n)
        if ((p == l || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

int main(void)
{
    static const char *presets[] = {"tiny", "mini", "small", "medium"};
    static const char *threads[] = {"1", "2"};
    printf("encoder, BERT vocab 30522, batch %d x %d tokens, dropout 0.1; OpenBLAS %s, core %s\n",
           B_, T_, openblas_get_config(), openblas_get_corename());
    printf("%-7s %3s %6s %9s %9s %9s %8s %9s %9s %9s %8s %6s\n", "preset", "thr", "params",
           "fwd ms", "f+b ms", "step ms", "RSS MB", "fwd GF/s", "f+b GF/s", "step GF/s",
           "sgemm", "step%");
    fflush(stdout);
    for (size_t p = 0; p < 4; p++) {
        for (size_t t = 0; t < 2; t++) {
            if (!in_list("BENCH_PRESETS", presets[p]) || !in_list("BENCH_THREADS", threads[t]))
                continue;
            pid_t pid = fork();
            if (pid < 0)
                return 1;
            if (pid == 0)
                _exit(run_row(presets[p], atoi(threads[t])));
            int st;
            if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 1;
        }
    }
    printf("step%% = full step (forward + backward + AdamW) GFLOP/s over plain sgemm GFLOP/s\n");
    return 0;
}
