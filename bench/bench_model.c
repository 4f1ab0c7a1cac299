/* bench_model.c - encoder speed: forward, forward+backward and a full
 * AdamW step for presets tiny, mini, small and medium with 1 and 2 threads,
 * against plain cblas_sgemm at the same shapes in the same run, on three
 * kinds of batch: the fixed 32 x 128 tokens, and real-length batches of 32
 * MRPC and SST-2 dev examples as tokenized (bert-base-uncased WordPiece,
 * max 128 tokens, each batch padded to its longest row: dynamic padding).
 * The real-length rows need ../shared/data (GLUE and the tokenizer) and
 * say so when it is absent.
 *
 * Each (preset, threads) row runs in its own child process, so "peak RSS"
 * (getrusage ru_maxrss) is that configuration's own high-water mark.
 * GFLOP/s counts matrix-product FLOPs analytically (model_flops_forward:
 * forward F, backward 2F, step 3F). The sgemm reference times the six
 * linear-layer products of one encoder layer at the batch's shapes, L times
 * (as long as a forward's products), with OpenBLAS's own threads (as many
 * as the row's), so it is the bound plain sgemm sets for that row; "step%"
 * is the step's GFLOP/s over it. Rounds interleave one sgemm reference and
 * one timed step (forward, backward and AdamW timed inside the same step);
 * each figure is the minimum over the rounds (tiny 5, mini 3, small 2,
 * medium 1, after one warm-up step), so that other load on the machine
 * hurts both alike and as little as possible.
 *
 * Environment: BENCH_PRESETS="tiny,small", BENCH_THREADS="2" and
 * BENCH_BATCHES="fixed,mrpc,sst2" narrow the table; OpenBLAS picks its
 * kernels at load time (OPENBLAS_CORETYPE, printed when set). */
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
#include "task.h"
#include "tokdata.h"
#include "tokenizer.h"

#define B_ 32
#define T_ 128
#define N_REAL 4 /* real-length batches per row (the first 4 x 32 dev examples) */
#define SHARED "../shared/data"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Times the six linear-layer products of one encoder layer once (the
 * sgemm reference) for N tokens; returns seconds. x, w, y are scratch of
 * the largest shape. */
static double sgemm_layer(float *x, float *w, float *y, int N, int C, int F)
{
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

/* The batches of one row: the fixed 32 x 128 one, or N_REAL real-length
 * ones. *nb = count; returns 0, or 1 with a message on stderr, or 2 when
 * the shared data is absent (the row is skipped). */
static int make_batches(const char *kind, struct batch *bs, int *nb)
{
    *nb = 0;
    if (!strcmp(kind, "fixed")) {
        struct idim_err err;
        if (batch_alloc(&bs[0], B_, T_, &err) != IDIM_OK)
            return 1;
        struct rng r;
        rng_init(&r, 99);
        for (int i = 0; i < B_ * T_; i++) {
            bs[0].ids[i] = 1000 + (int)rng_below(&r, 29000);
            bs[0].type_ids[i] = (i % T_) >= T_ / 2;
            bs[0].mask[i] = 1;
        }
        for (int i = 0; i < B_; i++)
            bs[0].labels[i] = i & 1;
        bs[0].B = B_, bs[0].T = T_;
        *nb = 1;
        return 0;
    }
    struct tokdata td;
    struct tokenizer *tk = NULL;
    struct task_spec spec;
    struct dataset ds;
    struct encoded enc;
    struct idim_err err = {{0}};
    if (tokdata_load_hf(&td, SHARED "/tokenizers/bert-base-uncased", &err) != IDIM_OK)
        return 2;
    int rc = 2;
    if (task_resolve(&spec, kind, SHARED "/glue", &err) != IDIM_OK)
        goto out_td;
    rc = 1;
    if (tokenizer_new(&tk, &td, &err) != IDIM_OK || task_load(&ds, &spec, "dev", &err) != IDIM_OK)
        goto out_tk;
    if (encoded_build(&enc, &ds, tk, T_, &err) != IDIM_OK)
        goto out_ds;
    size_t idx[B_];
    for (int k = 0; k < N_REAL && (size_t)(k + 1) * B_ <= enc.n; k++) {
        if (batch_alloc(&bs[k], B_, T_, &err) != IDIM_OK)
            break;
        for (int i = 0; i < B_; i++)
            idx[i] = (size_t)k * B_ + (size_t)i;
        batch_fill(&bs[k], &enc, idx, B_, td.pad_id);
        *nb = k + 1;
    }
    rc = *nb == N_REAL ? 0 : 1;
    encoded_free(&enc);
out_ds:
    dataset_free(&ds);
out_tk:
    tokenizer_free(tk);
out_td:
    if (rc == 1)
        fprintf(stderr, "bench_model: %s: %s\n", kind, err.msg[0] ? err.msg : "too few examples");
    tokdata_free(&td);
    return rc;
}

static int run_row(const char *preset, const char *kind, int threads, int rounds)
{
    struct arch_config c;
    memset(&c, 0, sizeof c);
    c.family = ARCH_BERT, c.vocab_size = 30522, c.max_pos = 512, c.type_vocab = 2;
    c.ln_eps = 1e-12f, c.act = ARCH_GELU, c.has_pooler = 1;
    arch_preset(preset, &c);
    struct batch bs[N_REAL];
    int nb;
    memset(bs, 0, sizeof bs);
    int mk = make_batches(kind, bs, &nb);
    if (mk == 2) {
        printf("%-7s %-5s %3d skipped: %s (GLUE dev set and bert-base-uncased tokenizer) is "
               "absent\n", preset, kind, threads, SHARED);
        return 0;
    }
    if (mk != 0)
        return 1;
    model_set_threads(threads);
    struct model m;
    struct idim_err err;
    if (model_init(&m, &c, 2, B_, T_, &err) != IDIM_OK) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        return 1;
    }
    model_init_random(&m, 1);
    m.dropout = 0.1f;
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
    /* warm-up (page faults, OpenBLAS buffers), then the rounds; a round
     * times every batch of the row once, and its sgemm reference */
    double tf = 1e30, tfb = 1e30, ts = 1e30, tg = 1e30, a1, a2, a3, F = 0.0, sgf = 0.0;
    long tokens = 0;
    for (int k = 0; k < nb; k++) {
        F += model_flops_forward(&m, bs[k].B, bs[k].T);
        sgf += 2.0 * bs[k].B * bs[k].T *
               (4.0 * c.hidden * c.hidden + 2.0 * c.hidden * c.ffn) * c.n_layers;
        tokens += (long)bs[k].B * bs[k].T;
    }
    openblas_set_num_threads(threads);
    sgemm_layer(x, w, y, B_ * T_, c.hidden, c.ffn);
    openblas_set_num_threads(1);
    full_step(&m, &bs[0], mom, vel, 1, &a1, &a2, &a3);
    long step = 1;
    for (int r = 0; r < rounds; r++) {
        double t = 0.0, sf = 0.0, sfb = 0.0, ss = 0.0;
        openblas_set_num_threads(threads); /* the reference: OpenBLAS's own threads */
        for (int k = 0; k < nb; k++)
            for (int l = 0; l < c.n_layers; l++) /* as long as a forward's products */
                t += sgemm_layer(x, w, y, bs[k].B * bs[k].T, c.hidden, c.ffn);
        openblas_set_num_threads(1); /* as model_set_threads left it */
        tg = fmin(tg, t);
        for (int k = 0; k < nb; k++) {
            full_step(&m, &bs[k], mom, vel, (int)++step, &a1, &a2, &a3);
            sf += a1, sfb += a2, ss += a3;
        }
        tf = fmin(tf, sf), tfb = fmin(tfb, sfb), ts = fmin(ts, ss);
    }
    double sg = sgf / tg / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double step_gf = 3.0 * F / ts / 1e9;
    printf("%-7s %-5s %3d %5.1fM %4.0f %9.1f %9.1f %9.1f %7.0f %8.1f %8.1f %9.1f %7.1f %5.0f%%\n",
           preset, kind, threads, (double)D / 1e6, (double)tokens / nb / B_, tf * 1e3 / nb,
           tfb * 1e3 / nb, ts * 1e3 / nb, ru.ru_maxrss / 1024.0, F / tf / 1e9,
           3.0 * F / tfb / 1e9, step_gf, sg, 100.0 * step_gf / sg);
    fflush(stdout);
    free(mom), free(vel), free(x), free(w), free(y);
    for (int k = 0; k < nb; k++)
        batch_free(&bs[k]);
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
    static const char *kinds[] = {"fixed", "mrpc", "sst2"};
    static const char *threads[] = {"1", "2"};
    static const int rounds[] = {5, 3, 2, 1};
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("encoder, BERT vocab 30522, batch %d x %d tokens (fixed) or %d x longest of %d real "
           "dev batches (mrpc, sst2), dropout 0.1\nOpenBLAS %s, core %s%s%s%s\n",
           B_, T_, B_, N_REAL, openblas_get_config(), openblas_get_corename(),
           ct ? " (OPENBLAS_CORETYPE=" : "", ct ? ct : "", ct ? ")" : "");
    printf("%-7s %-5s %3s %6s %4s %9s %9s %9s %7s %8s %8s %9s %7s %6s\n", "preset", "batch",
           "thr", "params", "T", "fwd ms", "f+b ms", "step ms", "RSS MB", "fwd GF/s", "f+b GF/s",
           "step GF/s", "sgemm", "step%");
    fflush(stdout);
    for (size_t p = 0; p < 4; p++)
        for (size_t k = 0; k < 3; k++)
            for (size_t t = 0; t < 2; t++) {
                if (!in_list("BENCH_PRESETS", presets[p]) ||
                    !in_list("BENCH_BATCHES", kinds[k]) || !in_list("BENCH_THREADS", threads[t]))
                    continue;
                pid_t pid = fork();
                if (pid < 0)
                    return 1;
                if (pid == 0)
                    _exit(run_row(presets[p], kinds[k], atoi(threads[t]), rounds[p]));
                int st;
                if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                    return 1;
            }
    printf("T = mean padded length; ms are per batch; sgemm = GFLOP/s of plain cblas_sgemm (its\n"
           "own threads) on the same shapes in the same run; step%% = full step (forward +\n"
           "backward + AdamW) GFLOP/s over it\n");
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!strcmp(openblas_get_corename(), "Prescott") && __builtin_cpu_supports("avx512f"))
        printf("note: OpenBLAS did not recognise this AVX-512 CPU and uses its generic SSE3\n"
               "      (Prescott) kernels; OPENBLAS_CORETYPE=SkylakeX selects its AVX-512 kernels\n"
               "      (about 4x faster here)\n");
#endif
    return 0;
}
