/* bench_model.c - encoder speed: forward, forward+backward and a full
 * AdamW step for presets tiny, mini, small and medium at batch 32 x 128
 * tokens with 1 and 2 threads, against plain cblas_sgemm in the same run.
 *
 * Each (preset, threads) row runs in its own child process, so "peak RSS"
 * (getrusage ru_maxrss) is that configuration's own high-water mark.
 * GFLOP/s counts matrix-product FLOPs analytically (model_flops_forward:
 * forward F, backward 2F, step 3F). The sgemm reference times the six
 * linear-layer products of one encoder layer at the same shapes, L times
 * (as long as a forward's products). Rounds interleave one sgemm reference
 * and one timed step (forward, backward and AdamW timed inside the same
 * step); each figure is the minimum over the rounds (tiny 5, mini 3,
 * small 2, medium 1, after one warm-up step), so that other load on the machine hurts both alike
 * and as little as possible.
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
#include "ops.h"

#define B_ 32
#define T_ 128

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Times the six linear-layer products of one encoder layer once (the
 * sgemm reference); returns seconds. x, w, y are scratch of the largest shape. */
static double sgemm_layer(float *x, float *w, float *y, int C, int F)
{
    int N = B_ * T_;
    double t0 = now();
    /* q, k, v, attention output: [N,C] x [C,C]^T; FFN up [N,C] x [F,C]^T; down [N,F] x [C,F]^T */
    for (int k = 0; k < 4; k++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, C, 1.0f, x, C, w, C, 0.0f, y,
                    C);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, F, C, 1.0f, x, C, w, C, 0.0f, y, F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, F, 1.0f, x, F, w, F, 0.0f, y, C);
    return now() - t0;
}

/* AdamW (lr 2e-5, betas 0.9/0.999, eps 1e-8, weight decay 0.01) over every
 * parameter, split over the threads like the model's own loops. */
struct adamw_args {
    float *p, *g, *mom, *vel;
    size_t n;
    float b1c, b2c;
};

static void adamw_part(void *arg, int part, int parts)
{
    struct adamw_args *a = arg;
    size_t lo = a->n * (size_t)part / (size_t)parts, hi = a->n * (size_t)(part + 1) / (size_t)parts;
    for (size_t i = lo; i < hi; i++) {
        float g = a->g[i];
        a->mom[i] = 0.9f * a->mom[i] + 0.1f * g;
        a->vel[i] = 0.999f * a->vel[i] + 0.001f * g * g;
        float upd = (a->mom[i] / a->b1c) / (sqrtf(a->vel[i] / a->b2c) + 1e-8f);
        a->p[i] -= 2e-5f * (upd + 0.01f * a->p[i]);
    }
}

/* One training step with timestamps: forward, backward, AdamW. */
static void full_step(struct model *m, const struct batch *b, float *mom, float *vel, int step,
                      double *t_fwd, double *t_fb, double *t_step)
{
    double t0 = now();
    model_forward(m, b, 1);
    double t1 = now();
    model_backward(m);
    double t2 = now();
    struct adamw_args a = {m->params, m->grads, mom, vel, m->n_params,
                           1.0f - powf(0.9f, (float)step), 1.0f - powf(0.999f, (float)step)};
    ops_parallel(adamw_part, &a);
    double t3 = now();
    *t_fwd = t1 - t0, *t_fb = t2 - t0, *t_step = t3 - t0;
}

static int run_row(const char *preset, int threads, int rounds)
{
    struct arch_config c = {ARCH_BERT, 0, 0, 0, 0, 30522, 512, 2, 0, 1e-12f, ARCH_GELU, 1, 0};
    arch_preset(preset, &c);
    model_set_threads(threads);
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
    struct batch b = {.B = B_, .T = T_, .ids = ids, .type_ids = tt, .mask = mask, .labels = labels};
    size_t D = m.n_params, NF = (size_t)B_ * T_ * c.ffn;
    float *mom = calloc(D, 4), *vel = calloc(D, 4);
    float *x = malloc(NF * 4), *w = malloc((size_t)c.ffn * c.hidden * 4), *y = malloc(NF * 4);
    if (!mom || !vel || !x || !w || !y) {
        fprintf(stderr, "bench_model: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < NF; i++)
        x[i] = (float)((i * 7) % 13) * 0.01f, y[i] = 0.0f;
    for (size_t i = 0; i < (size_t)c.ffn * c.hidden; i++)
        w[i] = (float)((i * 5) % 11) * 0.01f;
    /* warm-up (page faults, OpenBLAS buffers), then the rounds */
    double tf = 1e30, tfb = 1e30, ts = 1e30, tg = 1e30, a1, a2, a3;
    sgemm_layer(x, w, y, c.hidden, c.ffn);
    full_step(&m, &b, mom, vel, 1, &a1, &a2, &a3);
    for (int k = 0; k < rounds; k++) {
        double t = 0.0;
        for (int l = 0; l < c.n_layers; l++) /* as long as a forward's products */
            t += sgemm_layer(x, w, y, c.hidden, c.ffn);
        tg = fmin(tg, t / c.n_layers);
        full_step(&m, &b, mom, vel, k + 2, &a1, &a2, &a3);
        tf = fmin(tf, a1), tfb = fmin(tfb, a2), ts = fmin(ts, a3);
    }
    double sg = 2.0 * B_ * T_ * (4.0 * c.hidden * c.hidden + 2.0 * c.hidden * c.ffn) / tg / 1e9;
    double F = model_flops_forward(&m, B_, T_);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double step_gf = 3.0 * F / ts / 1e9;
    printf("%-7s %3d %5.1fM %9.1f %9.1f %9.1f %8.0f %9.1f %9.1f %9.1f %8.1f %5.0f%%\n", preset,
           threads, (double)D / 1e6, tf * 1e3, tfb * 1e3, ts * 1e3, ru.ru_maxrss / 1024.0,
           F / tf / 1e9, 3.0 * F / tfb / 1e9, step_gf, sg, 100.0 * step_gf / sg);
    fflush(stdout);
    free(mom), free(vel), free(x), free(w), free(y);
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
    static const int rounds[] = {5, 3, 2, 1};
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
                _exit(run_row(presets[p], atoi(threads[t]), rounds[p]));
            int st;
            if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 1;
        }
    }
    printf("step%% = full step (forward + backward + AdamW) GFLOP/s over plain sgemm GFLOP/s\n");
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!strcmp(openblas_get_corename(), "Prescott") && __builtin_cpu_supports("avx512f"))
        printf("note: OpenBLAS did not recognise this AVX-512 CPU and uses its generic SSE3\n"
               "      (Prescott) kernels; OPENBLAS_CORETYPE=SkylakeX selects its AVX-512 kernels\n"
               "      (about 4x faster here)\n");
#endif
    return 0;
}
