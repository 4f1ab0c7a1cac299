/* bench_train.c - training-step speed: a full fine-tuning step (forward,
 * backward, clip norm, AdamW over all D weights), a DID step and a SAID
 * step (projection, forward, backward, adjoint, AdamW over theta_d) for
 * presets tiny, mini, small and medium at batch 32 x 128 tokens, d = 1000,
 * with all online cores; and the projection's share of a DID step
 * (fastfood_forward + fastfood_adjoint timed alone).
 *
 * Issue 5 targets for preset small: projection <= 20% of a DID step, and a
 * DID step <= 1.3x a full step; the table prints both ratios.
 *
 * Environment: BENCH_PRESETS="tiny,small" narrows the table,
 * BENCH_THREADS=N overrides the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fastfood.h"
#include "model.h"
#include "train.h"

#define B_ 32
#define T_ 128
#define D_SUB 1000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Mean seconds per call of body over at least min_time s / max_it calls,
 * after one untimed warm-up call. */
#define TIME_IT(result, min_time, max_it, body)                        \
    do {                                                               \
        body;                                                          \
        int it_ = 0;                                                   \
        double t0_ = now(), el_;                                       \
        do {                                                           \
            body;                                                      \
            it_++;                                                     \
            el_ = now() - t0_;                                         \
        } while (el_ < (min_time) && it_ < (max_it));                  \
        (result) = el_ / it_;                                          \
    } while (0)

static void fill_batch(struct batch *b, int V)
{
    b->B = B_;
    b->T = T_;
    for (int i = 0; i < B_ * T_; i++) {
        b->ids[i] = 1000 + (i * 7919) % (V - 1000);
        b->type_ids[i] = 0;
        b->mask[i] = 1;
    }
    for (int i = 0; i < B_; i++)
        b->labels[i] = i & 1;
}

static void full_step(struct model *m, const struct batch *b, float *mom, float *vel, long t)
{
    model_forward(m, b, 1);
    model_backward(m);
    double acc = 0;
    for (size_t i = 0; i < m->n_params; i++)
        acc += (double)m->grads[i] * m->grads[i];
    float c = (float)(1.0 / (sqrt(acc) + 1e-6));
    if (c < 1)
        for (size_t i = 0; i < m->n_params; i++)
            m->grads[i] *= c;
    train_adamw_step(m->params, m->grads, mom, vel, m->n_params, 1e-9, 0.9, 0.999, 1e-8, 0.0,
                     NULL, t);
}

static void sub_step(struct subspace *s, const struct batch *b, float *mom, float *vel, long t)
{
    subspace_loss_grad(s, b, 1);
    train_adamw_step(s->theta, s->grad, mom, vel, s->d, 1e-6, 0.9, 0.999, 1e-8, 0.0, NULL, t);
}

static int row(const char *preset, int threads)
{
    struct arch_config c;
    memset(&c, 0, sizeof c);
    if (!arch_preset(preset, &c))
        return 1;
    c.family = ARCH_BERT;
    c.vocab_size = 30522;
    c.max_pos = 512;
    c.type_vocab = 2;
    c.pad_id = 0;
    c.ln_eps = 1e-12f;
    c.act = ARCH_GELU;
    c.has_pooler = 1;
    c.n_labels = 2;
    struct idim_err err = {{0}};
    struct model m;
    if (model_init(&m, &c, 2, B_, T_, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    model_init_random(&m, 1);
    model_set_threads(threads);
    m.dropout = 0.1f;
    struct batch b;
    if (batch_alloc(&b, B_, T_, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    fill_batch(&b, c.vocab_size);
    float *st = calloc(2 * m.n_params, sizeof(float));
    if (!st)
        return 1;
    long t = 0;
    double t_full, t_did, t_said, t_proj;
    TIME_IT(t_full, 3.0, 5, full_step(&m, &b, st, st + m.n_params, ++t));
    free(st);

    double t_fwd;
    TIME_IT(t_fwd, 2.0, 5, (model_forward(&m, &b, 1), model_backward(&m)));

    struct subspace s;
    float *sst = calloc(2 * (D_SUB + m.n_tensors), sizeof(float));
    if (subspace_init(&s, &m, TRAIN_DID, D_SUB, FF_SCOPE_TENSOR, 7, 0, threads, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    t = 0;
    TIME_IT(t_did, 3.0, 5, sub_step(&s, &b, sst, sst + D_SUB, ++t));
    TIME_IT(t_proj, 2.0, 10,
            (fastfood_forward(s.ff, s.theta, s.delta), fastfood_adjoint(s.ff, m.grads, NULL, s.grad)));
    subspace_free(&s);
    size_t ds = D_SUB + m.n_tensors;
    if (subspace_init(&s, &m, TRAIN_SAID, ds, FF_SCOPE_TENSOR, 7, 0, threads, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    memset(sst, 0, 2 * ds * sizeof(float));
    t = 0;
    TIME_IT(t_said, 3.0, 5, sub_step(&s, &b, sst, sst + ds, ++t));
    subspace_free(&s);
    free(sst);
    printf("%-7s %2d %10.2f %10.1f %10.1f %10.1f %10.1f %10.1f %8.1f%% %8.2fx\n", preset, threads,
           (double)m.n_params / 1e6, 1e3 * t_fwd, 1e3 * t_full, 1e3 * t_did, 1e3 * t_said,
           1e3 * t_proj, 100.0 * t_proj / t_did, t_did / t_full);
    fflush(stdout);
    batch_free(&b);
    model_free(&m);
    return 0;
}

int main(void)
{
    const char *presets = getenv("BENCH_PRESETS");
    if (!presets)
        presets = "tiny,mini,small,medium";
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (getenv("BENCH_THREADS"))
        threads = atoi(getenv("BENCH_THREADS"));
    if (threads < 1)
        threads = 1;
    printf("training steps, batch %d x %d tokens, d = %d (SAID: d = %d + m), %d threads\n", B_, T_,
           D_SUB, D_SUB, threads);
    printf("%-7s %2s %10s %10s %10s %10s %10s %10s %9s %9s\n", "preset", "th", "D (M)",
           "fwd+bwd", "full ms", "DID ms", "SAID ms", "proj ms", "proj/DID", "DID/full");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", presets);
    for (char *p = strtok(buf, ","); p; p = strtok(NULL, ","))
        if (row(p, threads))
            return 1;
    return 0;
}
