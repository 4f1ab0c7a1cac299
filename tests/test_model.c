/* test_model.c - the encoder against independent references:
 *  1. golden fixtures from a plain-PyTorch float64 implementation of HF's
 *     Bert/RobertaForSequenceClassification (scripts/make_reference.py):
 *     logits, loss and every parameter gradient, per tensor to 1e-4 of the
 *     tensor's largest value;
 *  2. central finite differences (in double) of the float32 loss against
 *     the analytic gradient, for every tensor, both families, both heads,
 *     on a padded batch;
 *  3. determinism: dropout 0 repeats bit for bit; dropout with the same
 *     generator state repeats, and differs from no dropout;
 *  4. model_load: tensors copied, theta0 borrowed, head created from the
 *     seed, wrong head size and shape rejected. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "ops.h"
#include "golden.h"

#define GOLDEN_DIR "tests/fixtures/golden/"

struct golden {
    struct arch_config cfg;
    int n_labels, B, T, n_tensors;
    int32_t *ids, *type_ids, *mask, *labels;
    float *targets;
    char (*names)[ARCH_NAME_MAX];
    size_t *n_elem;
    float **w, **g; /* [n_tensors] weights and expected gradients */
    float *logits, loss;
};

static void golden_free(struct golden *gd)
{
    free(gd->ids), free(gd->type_ids), free(gd->mask), free(gd->labels), free(gd->targets);
    for (int t = 0; gd->w && t < gd->n_tensors; t++)
        free(gd->w[t]), free(gd->g[t]);
    free(gd->w), free(gd->g), free(gd->names), free(gd->n_elem), free(gd->logits);
    memset(gd, 0, sizeof *gd);
}

static void golden_load(struct golden *gd, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s.bin", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run scripts/make_reference.py)", path);
    memset(gd, 0, sizeof *gd);
    char magic[8];
    int32_t h[14];
    float eps;
    assert_true(rd(f, magic, 8) && memcmp(magic, "IDIMGLD1", 8) == 0);
    assert_true(rd(f, h, sizeof h) && rd(f, &eps, 4));
    struct arch_config *c = &gd->cfg;
    golden_cfg(c, h, eps);
    c->has_pooler = c->family == ARCH_BERT;
    gd->n_labels = h[9], gd->B = h[10], gd->T = h[11], gd->n_tensors = h[12];
    c->n_labels = gd->n_labels;
    size_t BT = (size_t)gd->B * gd->T;
    gd->ids = malloc(BT * 4), gd->type_ids = malloc(BT * 4), gd->mask = malloc(BT * 4);
    gd->labels = malloc((size_t)gd->B * 4), gd->targets = malloc((size_t)gd->B * 4);
    assert_true(rd(f, gd->ids, BT * 4) && rd(f, gd->type_ids, BT * 4) && rd(f, gd->mask, BT * 4));
    assert_true(rd(f, gd->labels, (size_t)gd->B * 4) && rd(f, gd->targets, (size_t)gd->B * 4));
    golden_read_weights(f, gd->n_tensors, &gd->names, &gd->n_elem, &gd->w, &gd->g);
    size_t nl = (size_t)gd->B * gd->n_labels;
    gd->logits = malloc(nl * 4);
    assert_true(rd(f, gd->logits, nl * 4) && rd(f, &gd->loss, 4));
    golden_read_grads(f, gd->n_tensors, gd->n_elem, gd->g);
}

static struct batch golden_batch(const struct golden *gd)
{
    struct batch b = {.B = gd->B, .T = gd->T, .ids = gd->ids, .type_ids = gd->type_ids,
                      .mask = gd->mask, .labels = gd->labels,
                      .targets = gd->n_labels == 1 ? gd->targets : NULL};
    return b;
}

/* A model holding the fixture's weights (table order and names checked). */
static void golden_model(struct model *m, const struct golden *gd)
{
    struct idim_err err = {{0}};
    assert_int_equal(model_init(m, &gd->cfg, gd->n_labels, gd->B, gd->T, &err), IDIM_OK);
    assert_int_equal((int)m->n_tensors, gd->n_tensors);
    for (size_t t = 0; t < m->n_tensors; t++) {
        assert_string_equal(m->tensors[t].name, gd->names[t]);
        assert_int_equal(m->tensors[t].n_elem, gd->n_elem[t]);
        memcpy(m->params + m->tensors[t].offset, gd->w[t], gd->n_elem[t] * 4);
    }
    m->dropout = 0.0f;
}

static double max_abs(const float *x, size_t n)
{
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)x[i]));
    return mx;
}

static double max_diff(const float *x, const float *y, size_t n)
{
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)x[i] - (double)y[i]));
    return mx;
}

/* ---- 1. golden fixtures ---------------------------------------------- */

static void check_golden(const char *name)
{
    struct golden gd;
    struct model m;
    golden_load(&gd, name);
    golden_model(&m, &gd);
    struct batch b = golden_batch(&gd);
    float loss = model_forward(&m, &b, 0);
    size_t nl = (size_t)gd.B * gd.n_labels;
    double worst = 0.0;
    int n_zero = 0;
    double e_log = max_diff(m.logits, gd.logits, nl) / max_abs(gd.logits, nl);
    double e_loss = fabs((double)loss - gd.loss) / fabs((double)gd.loss);
    printf("  %s: logits rel err %.2e, loss %.7f vs %.7f (rel %.2e)\n", name, e_log, loss,
           gd.loss, e_loss);
    assert_true(e_log <= 1e-4);
    assert_true(e_loss <= 1e-4);
    model_backward(&m);
    for (size_t t = 0; t < m.n_tensors; t++) {
        const float *g = m.grads + m.tensors[t].offset;
        double ref = max_abs(gd.g[t], gd.n_elem[t]);
        double d = max_diff(g, gd.g[t], gd.n_elem[t]);
        if (ref < 1e-12) {
            /* mathematically zero: the key bias adds the same score to every
             * key of a query, which softmax ignores; float32 leaves noise */
            printf("  %s: %-52s max abs %.2e (exact gradient 0)\n", name, m.tensors[t].name, d);
            assert_true(d < 1e-6);
            assert_non_null(strstr(m.tensors[t].name, "attention.self.key.bias"));
            n_zero++;
            continue;
        }
        double rel = d / ref;
        worst = fmax(worst, rel);
        if (rel > 1e-4)
            printf("  %s: %-52s max abs diff %.3e, max |ref| %.3e, rel %.2e  FAIL\n", name,
                   m.tensors[t].name, d, ref, rel);
        assert_true(rel <= 1e-4);
    }
    assert_int_equal(n_zero, gd.cfg.n_layers); /* only the key biases */
    printf("  %s: %zu gradients, worst max|diff|/max|ref| = %.2e\n", name, m.n_tensors, worst);
    model_free(&m);
    golden_free(&gd);
}

static void test_golden_bert_cls(void **s) { (void)s; check_golden("bert_cls"); }
static void test_golden_bert_reg(void **s) { (void)s; check_golden("bert_reg"); }
static void test_golden_roberta_cls(void **s) { (void)s; check_golden("roberta_cls"); }
static void test_golden_roberta_reg(void **s) { (void)s; check_golden("roberta_reg"); }

/* ---- 2. finite differences ------------------------------------------- */

/* Entries of tensor t checked: all for small tensors, else the 12 with the
 * largest analytic gradient and 12 spread evenly. */
static size_t pick(size_t *idx, const float *g, size_t n)
{
    if (n <= 48) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        return n;
    }
    size_t k = 0;
    for (int r = 0; r < 12; r++) {
        size_t best = 0;
        double bv = -1.0;
        for (size_t i = 0; i < n; i++) {
            int used = 0;
            for (size_t j = 0; j < k; j++)
                used |= idx[j] == i;
            if (!used && fabs(g[i]) > bv)
                bv = fabs(g[i]), best = i;
        }
        idx[k++] = best;
    }
    for (int r = 0; r < 12; r++)
        idx[k++] = (size_t)r * n / 12 + (n / 24);
    return k;
}

static void check_fd(const char *name)
{
    struct golden gd;
    struct model m;
    golden_load(&gd, name);
    golden_model(&m, &gd);
    struct batch b = golden_batch(&gd);
    model_forward(&m, &b, 0);
    double l0 = m.loss_f64;
    model_backward(&m);
    float *an = malloc(m.n_params * sizeof(float));
    memcpy(an, m.grads, m.n_params * sizeof(float));
    /* Fourth-order central differences, h = 1e-2, on weights of size ~0.3:
     *   g ~ [8 (L(+h) - L(-h)) - (L(+2h) - L(-2h))] / (12 h),
     * truncation O(h^4) ~ 1e-8. What is left is the float32 forward's
     * rounding noise, a few ulps of the loss (~5e-7) amplified by ~1.5/(2h)
     * ~ 4e-5 per unit of loss (the exactly-zero key-bias gradient shows
     * it). Tolerance: 5e-5 (1 + |L|) absolute + 1e-3 of the tensor's largest
     * gradient, over 2x the worst seen; a missing term, a wrong sign or a
     * transposed weight misses by orders of magnitude. */
    const double h = 1e-2;
    double worst = 0.0;
    size_t idx[64];
    for (size_t t = 0; t < m.n_tensors; t++) {
        const struct arch_tensor *ten = &m.tensors[t];
        float *p = m.params + ten->offset;
        const float *g = an + ten->offset;
        size_t k = pick(idx, g, ten->n_elem);
        double gmax = max_abs(g, ten->n_elem), dmax = 0.0;
        for (size_t j = 0; j < k; j++) {
            size_t i = idx[j];
            float old = p[i];
            double l[4];
            const double steps[4] = {h, -h, 2 * h, -2 * h};
            for (int q = 0; q < 4; q++) {
                p[i] = (float)((double)old + steps[q]); /* exact in float near 0.3 */
                model_forward(&m, &b, 0);
                l[q] = m.loss_f64;
            }
            p[i] = old;
            double fd = (8.0 * (l[0] - l[1]) - (l[2] - l[3])) / (12.0 * h);
            double d = fabs(fd - (double)g[i]);
            double tol = 5e-5 * (1.0 + fabs(l0)) + 1e-3 * gmax;
            dmax = fmax(dmax, d);
            if (d > tol)
                printf("  %s: %s[%zu]: fd %.6e analytic %.6e\n", name, ten->name, i, fd,
                       (double)g[i]);
            assert_true(d <= tol);
        }
        if (gmax > 1e-6)
            worst = fmax(worst, dmax / gmax);
        printf("  %s fd: %-52s %3zu entries, max abs diff %.2e (max |grad| %.2e)\n", name,
               ten->name, k, dmax, gmax);
    }
    printf("  %s fd: worst max|diff|/max|grad| = %.2e (tensors with a nonzero gradient)\n", name, worst);
    free(an);
    model_free(&m);
    golden_free(&gd);
}

static void test_fd_bert_cls(void **s) { (void)s; check_fd("bert_cls"); }
static void test_fd_bert_reg(void **s) { (void)s; check_fd("bert_reg"); }
static void test_fd_roberta_cls(void **s) { (void)s; check_fd("roberta_cls"); }
static void test_fd_roberta_reg(void **s) { (void)s; check_fd("roberta_reg"); }

/* ---- 3. determinism -------------------------------------------------- */

static void test_determinism(void **s)
{
    (void)s;
    struct golden gd;
    struct model m;
    golden_load(&gd, "roberta_cls");
    golden_model(&m, &gd);
    struct batch b = golden_batch(&gd);
    size_t nl = (size_t)gd.B * gd.n_labels, D = m.n_params;
    float *l1 = malloc(nl * 4), *g1 = malloc(D * 4), *l0 = malloc(nl * 4);
    /* dropout 0: bit-identical, and train == eval */
    float a1 = model_forward(&m, &b, 1);
    model_backward(&m);
    memcpy(l1, m.logits, nl * 4), memcpy(g1, m.grads, D * 4);
    float a2 = model_forward(&m, &b, 0);
    model_backward(&m);
    assert_memory_equal(&a1, &a2, sizeof a1);
    assert_memory_equal(l1, m.logits, nl * 4);
    assert_memory_equal(g1, m.grads, D * 4);
    memcpy(l0, m.logits, nl * 4);
    /* dropout 0.3 with the same generator state repeats */
    m.dropout = 0.3f;
    rng_init(&m.drop_rng, rng_key(7, MODEL_DROP_STREAM));
    a1 = model_forward(&m, &b, 1);
    model_backward(&m);
    memcpy(l1, m.logits, nl * 4), memcpy(g1, m.grads, D * 4);
    rng_init(&m.drop_rng, rng_key(7, MODEL_DROP_STREAM));
    a2 = model_forward(&m, &b, 1);
    model_backward(&m);
    assert_memory_equal(&a1, &a2, sizeof a1);
    assert_memory_equal(l1, m.logits, nl * 4);
    assert_memory_equal(g1, m.grads, D * 4);
    /* ... and actually drops: differs from eval and from the next draw */
    assert_true(max_diff(l1, l0, nl) > 1e-4);
    model_forward(&m, &b, 1);
    assert_true(max_diff(l1, m.logits, nl) > 1e-4);
    /* eval mode ignores dropout */
    model_forward(&m, &b, 0);
    assert_memory_equal(l0, m.logits, nl * 4);
    free(l1), free(g1), free(l0);
    model_free(&m);
    golden_free(&gd);
}

/* Our own loops split work so that results do not depend on the thread
 * count (nor on the element-wise code's vector width). */
static void test_threads(void **s)
{
    (void)s;
    struct golden gd;
    struct model m;
    golden_load(&gd, "bert_cls");
    golden_model(&m, &gd);
    struct batch b = golden_batch(&gd);
    m.dropout = 0.1f;
    size_t D = m.n_params, nl = (size_t)gd.B * gd.n_labels;
    float *g1 = malloc(D * 4), *l1 = malloc(nl * 4);
    rng_init(&m.drop_rng, rng_key(11, MODEL_DROP_STREAM));
    model_forward(&m, &b, 1);
    model_backward(&m);
    memcpy(g1, m.grads, D * 4), memcpy(l1, m.logits, nl * 4);
    model_set_threads(3);
    rng_init(&m.drop_rng, rng_key(11, MODEL_DROP_STREAM));
    model_forward(&m, &b, 1);
    model_backward(&m);
    model_set_threads(1);
    assert_memory_equal(l1, m.logits, nl * 4);
    assert_memory_equal(g1, m.grads, D * 4);
    /* and the 4-float element-wise code gives the 8-float code's bits */
    ops_set_simd(0);
    rng_init(&m.drop_rng, rng_key(11, MODEL_DROP_STREAM));
    model_forward(&m, &b, 1);
    model_backward(&m);
    ops_set_simd(1);
    assert_memory_equal(l1, m.logits, nl * 4);
    assert_memory_equal(g1, m.grads, D * 4);
    free(g1), free(l1);
    model_free(&m);
    golden_free(&gd);
}

/* The pool grown after it has run calls: the new workers take part in the
 * next call only (they used to run the call before their creation again,
 * with its argument long gone). */
static int pool_ran[8];

static void pool_count(void *p, int part, int parts)
{
    (void)parts;
    __atomic_add_fetch(&((int *)p)[part], 1, __ATOMIC_SEQ_CST);
}

static void test_pool_growth(void **s)
{
    (void)s;
    int before[8] = {0};
    memset(pool_ran, 0, sizeof pool_ran);
    assert_int_equal(ops_set_threads(1), 1);
    ops_parallel(pool_count, before);
    int n = ops_set_threads(6); /* more workers than any earlier test started */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL); /* time for the new workers to wake up wrongly */
    assert_int_equal(__atomic_load_n(&before[0], __ATOMIC_SEQ_CST), 1);
    for (int i = 1; i < 8; i++)
        assert_int_equal(__atomic_load_n(&before[i], __ATOMIC_SEQ_CST), 0);
    ops_parallel(pool_count, pool_ran);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pool_ran[i], i < n ? 1 : 0);
    model_set_threads(1);
}

/* Dropout keeps about 1 - p of the activations and its gradient is exact:
 * finite differences through a fixed mask (the generator is rewound before
 * each forward) still match model_backward. */
static void test_dropout_gradient(void **s)
{
    (void)s;
    struct golden gd;
    struct model m;
    golden_load(&gd, "bert_cls");
    golden_model(&m, &gd);
    struct batch b = golden_batch(&gd);
    m.dropout = 0.2f;
    rng_init(&m.drop_rng, rng_key(3, MODEL_DROP_STREAM));
    model_forward(&m, &b, 1);
    model_backward(&m);
    float *an = malloc(m.n_params * 4);
    memcpy(an, m.grads, m.n_params * 4);
    const double eps = 1e-2;
    for (size_t t = 0; t < m.n_tensors; t += 3) {
        const struct arch_tensor *ten = &m.tensors[t];
        float *p = m.params + ten->offset;
        const float *g = an + ten->offset;
        size_t idx[64];
        size_t k = pick(idx, g, ten->n_elem);
        double gmax = max_abs(g, ten->n_elem);
        for (size_t j = 0; j < k && j < 6; j++) {
            size_t i = idx[j];
            float old = p[i];
            p[i] = old + (float)eps;
            rng_init(&m.drop_rng, rng_key(3, MODEL_DROP_STREAM));
            double lp = model_forward(&m, &b, 1);
            p[i] = old - (float)eps;
            rng_init(&m.drop_rng, rng_key(3, MODEL_DROP_STREAM));
            double lm = model_forward(&m, &b, 1);
            p[i] = old;
            double fd = (lp - lm) / (2 * eps);
            assert_true(fabs(fd - g[i]) <= 2e-3 * gmax + 2e-5);
        }
    }
    free(an);
    model_free(&m);
    golden_free(&gd);
}

/* dropout_mask keeps 1 - p of the entries (binomial: 200000 draws give a
 * standard deviation of 6.7e-4 at p = 0.1, so 0.004 is 6 sigma), odd
 * lengths included, and repeats from the same generator state. */
static void test_dropout_rate(void **s)
{
    (void)s;
    enum { N = 200001 };
    static uint8_t k1[N], k2[N];
    const float ps[3] = {0.1f, 0.5f, 0.0f};
    for (int i = 0; i < 3; i++) {
        struct rng r;
        rng_init(&r, 5);
        dropout_mask(k1, &r, ps[i], N);
        model_set_threads(3); /* chunks filled by 3 threads: same mask */
        rng_init(&r, 5);
        dropout_mask(k2, &r, ps[i], N);
        model_set_threads(1);
        assert_memory_equal(k1, k2, N);
        size_t kept = 0;
        for (int j = 0; j < N; j++)
            kept += k1[j];
        double rate = (double)kept / N;
        printf("  dropout p=%.1f: kept %.4f\n", (double)ps[i], rate);
        assert_true(fabs(rate - (1.0 - ps[i])) < 0.004);
    }
}

/* GELU and its derivative against erf/exp in double over [-12, 12] plus the
 * edge cases 0, -0, 1e-30, +-1e-20 and +-40 (tails odd lengths included):
 * forward within 2e-6 absolute (float32 of values up to 12), derivative
 * within 3e-6. */
static void test_gelu(void **s)
{
    (void)s;
    enum { F = 24011 };
    static float f[F], g[F], d[F];
    float bias[F];
    const float edge[11] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-20f, -1e-20f, 40.0f, -40.0f,
                            3.0e-8f, -5.0f, 5.0f};
    for (int i = 0; i < F; i++) {
        f[i] = i < 11 ? edge[i] : -12.0f + 24.0f * (float)(i - 11) / (float)(F - 12);
        bias[i] = 0.0f;
        d[i] = 1.0f;
    }
    float bsum[F];
    memset(bsum, 0, sizeof bsum);
    bias_gelu_forward(g, f, bias, 1, F);
    gelu_backward(d, bsum, f, g, 1, F);
    double ef = 0, eb = 0;
    for (int i = 0; i < F; i++) {
        double x = f[i];
        double ref = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double dref = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        ef = fmax(ef, fabs(g[i] - ref));
        eb = fmax(eb, fabs(d[i] - dref));
        assert_true(bsum[i] == d[i]);
    }
    printf("  gelu: max abs error %.2e, derivative %.2e\n", ef, eb);
    assert_true(ef < 2e-6);
    assert_true(eb < 3e-6);
    /* the 4-float code gives the same bits as the 8-float one (when the
     * processor has AVX2; otherwise both runs are the 4-float code) */
    static float f4[F], g4[F], d4[F], b4[F];
    for (int i = 0; i < F; i++) {
        f4[i] = f[i] - bias[i];
        d4[i] = 1.0f;
        b4[i] = 0.0f;
    }
    int wide = ops_set_simd(1);
    ops_set_simd(0);
    bias_gelu_forward(g4, f4, bias, 1, F);
    gelu_backward(d4, b4, f4, g4, 1, F);
    ops_set_simd(1);
    printf("  8-float vectors %s\n", wide ? "in use (compared with 4)" : "not available");
    assert_memory_equal(g4, g, sizeof g);
    assert_memory_equal(d4, d, sizeof d);
}

/* The products of linear_forward / linear_backward against double loops,
 * on shapes too short to be cut by rows (fewer than 256 output rows), which
 * are cut into column halves instead, the bias filled per block; and the
 * same bits on 1 and 3 threads. */
static void test_linear_blocks(void **s)
{
    (void)s;
    enum { N = 200, IC = 160, OC = 144 };
    static float x[N * IC], w[OC * IC], b[OC], dout[N * OC];
    static float y[2][N * OC], dx[2][N * IC], dw[2][OC * IC], db[2][OC];
    struct rng r;
    rng_init(&r, 5);
    for (int i = 0; i < N * IC; i++)
        x[i] = (float)rng_normal(&r);
    for (int i = 0; i < OC * IC; i++)
        w[i] = (float)rng_normal(&r);
    for (int i = 0; i < OC; i++)
        b[i] = (float)rng_normal(&r);
    for (int i = 0; i < N * OC; i++)
        dout[i] = (float)rng_normal(&r);
    for (int k = 0; k < 2; k++) {
        model_set_threads(k ? 3 : 1);
        memset(dw[k], 0, sizeof dw[k]);
        memset(db[k], 0, sizeof db[k]);
        linear_forward(y[k], x, w, b, N, IC, OC);
        linear_backward(dx[k], dw[k], db[k], dout, x, w, N, IC, OC, 0.0f);
    }
    model_set_threads(1);
    assert_memory_equal(y[0], y[1], sizeof y[0]);
    assert_memory_equal(dx[0], dx[1], sizeof dx[0]);
    assert_memory_equal(dw[0], dw[1], sizeof dw[0]);
    assert_memory_equal(db[0], db[1], sizeof db[0]);
    double ey = 0, ex = 0, ew = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = b[o];
            for (int i = 0; i < IC; i++)
                acc += (double)x[n * IC + i] * w[o * IC + i];
            ey = fmax(ey, fabs(y[0][n * OC + o] - acc));
        }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < IC; i++) {
            double acc = 0;
            for (int o = 0; o < OC; o++)
                acc += (double)dout[n * OC + o] * w[o * IC + i];
            ex = fmax(ex, fabs(dx[0][n * IC + i] - acc));
        }
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++) {
            double acc = 0;
            for (int n = 0; n < N; n++)
                acc += (double)dout[n * OC + o] * x[n * IC + i];
            ew = fmax(ew, fabs(dw[0][o * IC + i] - acc));
        }
    printf("  linear blocks: max abs error y %.2e, dx %.2e, dW %.2e\n", ey, ex, ew);
    assert_true(ey < 1e-4 && ex < 1e-4 && ew < 2e-4);
}

/* ---- 4. model_load --------------------------------------------------- */

static void test_load(void **s)
{
    (void)s;
    struct golden gd;
    golden_load(&gd, "bert_cls");
    struct idim_err err = {{0}};
    /* a file with the encoder only: no pooler, no head */
    struct wfile w;
    memset(&w, 0, sizeof w);
    w.cfg = gd.cfg;
    w.cfg.n_labels = 0;
    w.cfg.has_pooler = 0;
    w.path = "fake.idim";
    struct wfile_tensor *wt = calloc((size_t)gd.n_tensors, sizeof *wt);
    int n_enc = gd.n_tensors - 4;
    for (int t = 0; t < gd.n_tensors; t++) {
        snprintf(wt[t].name, sizeof wt[t].name, "%s", gd.names[t]);
        wt[t].n_elem = gd.n_elem[t];
        wt[t].data = gd.w[t];
    }
    w.tensors = wt;
    w.n_tensors = (size_t)n_enc;
    struct arch_tensor tab[64];
    arch_tensors(&gd.cfg, ARCH_TABLE_MODEL, gd.n_labels, tab, 64);
    for (int t = 0; t < gd.n_tensors; t++) {
        wt[t].n_dims = tab[t].n_dims;
        wt[t].shape[0] = tab[t].shape[0];
        wt[t].shape[1] = tab[t].shape[1];
    }
    struct model m, m2;
    assert_int_equal(model_init(&m, &w.cfg, 3, 2, 5, &err), IDIM_OK);
    assert_int_equal(model_load(&m, &w, 42, &err), IDIM_OK);
    for (int t = 0; t < n_enc; t++) {
        assert_ptr_equal(m.theta0[t], gd.w[t]); /* borrowed from the file */
        assert_memory_equal(m.params + m.tensors[t].offset, gd.w[t], gd.n_elem[t] * 4);
        assert_int_equal(m.tensor_created[t], 0);
    }
    /* pooler and head created: normal(0, 0.02) weights, zero biases */
    for (size_t t = (size_t)n_enc; t < m.n_tensors; t++) {
        assert_int_equal(m.tensor_created[t], 1);
        const float *p = m.params + m.tensors[t].offset;
        assert_memory_equal(p, m.theta0[t], m.tensors[t].n_elem * 4);
        double ss = 0;
        for (size_t i = 0; i < m.tensors[t].n_elem; i++)
            ss += (double)p[i] * p[i];
        double rms = sqrt(ss / (double)m.tensors[t].n_elem);
        if (m.tensors[t].n_dims == 2)
            assert_true(rms > 0.01 && rms < 0.03);
        else
            assert_true(rms == 0.0);
    }
    /* same seed, same head; another seed, another head */
    assert_int_equal(model_init(&m2, &w.cfg, 3, 2, 5, &err), IDIM_OK);
    assert_int_equal(model_load(&m2, &w, 42, &err), IDIM_OK);
    assert_memory_equal(m.params, m2.params, m.n_params * 4);
    assert_int_equal(model_load(&m2, &w, 43, &err), IDIM_OK);
    assert_true(memcmp(m.params, m2.params, m.n_params * 4) != 0);
    model_free(&m2);
    /* a file head with 3 labels for a 2-label task */
    w.cfg.n_labels = 3;
    w.cfg.has_pooler = 1;
    w.n_tensors = (size_t)gd.n_tensors;
    assert_int_equal(model_init(&m2, &w.cfg, 2, 2, 5, &err), IDIM_OK);
    assert_int_equal(model_load(&m2, &w, 1, &err), IDIM_ERR_FORMAT);
    printf("  expected error: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "fake.idim"));
    model_free(&m2);
    /* the full file with the matching head loads every tensor from the file */
    assert_int_equal(model_init(&m2, &w.cfg, 3, 2, 5, &err), IDIM_OK);
    assert_int_equal(model_load(&m2, &w, 1, &err), IDIM_OK);
    for (size_t t = 0; t < m2.n_tensors; t++)
        assert_int_equal(m2.tensor_created[t], 0);
    model_free(&m2);
    /* a wrong shape */
    wt[5].shape[1] = 5;
    assert_int_equal(model_init(&m2, &w.cfg, 3, 2, 5, &err), IDIM_OK);
    assert_int_equal(model_load(&m2, &w, 1, &err), IDIM_ERR_FORMAT);
    printf("  expected error: %s\n", err.msg);
    assert_non_null(strstr(err.msg, gd.names[5]));
    model_free(&m2);
    /* sequence longer than the position table */
    assert_int_equal(model_init(&m2, &w.cfg, 3, 2, gd.cfg.max_pos + 1, &err), IDIM_ERR_USAGE);
    model_free(&m);
    free(wt);
    golden_free(&gd);
}

/* The same through a real weights file (wfile_write, then wfile_open):
 * every tensor read from the mapping, logits bit-identical to the model
 * filled by hand, theta0 pointing into the read-only mapping. */
static void test_load_file(void **s)
{
    (void)s;
    struct golden gd;
    struct model m, ref;
    struct idim_err err = {{0}};
    golden_load(&gd, "bert_cls");
    golden_model(&ref, &gd);
    struct batch b = golden_batch(&gd);
    model_forward(&ref, &b, 0);
    struct wfile_src_tensor *src = calloc((size_t)gd.n_tensors, sizeof *src);
    for (int t = 0; t < gd.n_tensors; t++) {
        src[t].name = gd.names[t];
        src[t].n_dims = ref.tensors[t].n_dims;
        src[t].shape[0] = ref.tensors[t].shape[0];
        src[t].shape[1] = ref.tensors[t].shape[1];
        src[t].data = gd.w[t];
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/idim_test_model_%d.bin", (int)getpid());
    struct arch_config fc = gd.cfg; /* has_pooler 1, n_labels 3 */
    assert_int_equal(wfile_write(path, &fc, NULL, src, (size_t)gd.n_tensors, &err), IDIM_OK);
    struct wfile w;
    memset(&w, 0, sizeof w);
    assert_int_equal(wfile_open(&w, path, &err), IDIM_OK);
    assert_int_equal(model_init(&m, &w.cfg, 3, gd.B, gd.T, &err), IDIM_OK);
    assert_int_equal(model_load(&m, &w, 9, &err), IDIM_OK);
    m.dropout = 0.0f;
    model_forward(&m, &b, 0);
    assert_memory_equal(m.logits, ref.logits, (size_t)gd.B * 3 * 4);
    const char *lo = w.map, *hi = lo + w.file_bytes;
    for (size_t t = 0; t < m.n_tensors; t++) {
        assert_int_equal(m.tensor_created[t], 0);
        assert_true((const char *)m.theta0[t] >= lo && (const char *)m.theta0[t] < hi);
    }
    model_free(&m);
    /* a 2-label task on this 3-label file */
    assert_int_equal(model_init(&m, &w.cfg, 2, gd.B, gd.T, &err), IDIM_OK);
    assert_int_equal(model_load(&m, &w, 9, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
    model_free(&m);
    wfile_free(&w);
    remove(path);
    free(src);
    model_free(&ref);
    golden_free(&gd);
}

static void test_init_random(void **s)
{
    (void)s;
    struct arch_config c = {ARCH_ROBERTA, 2, 16, 2, 32, 50, 20, 1, 1, 1e-5f, ARCH_GELU, 0, 0, 0, 0};
    struct idim_err err;
    struct model m;
    assert_int_equal(model_init(&m, &c, 2, 2, 8, &err), IDIM_OK);
    model_init_random(&m, 5);
    for (size_t t = 0; t < m.n_tensors; t++) {
        const struct arch_tensor *ten = &m.tensors[t];
        const float *p = m.params + ten->offset;
        if (ten->n_dims == 1) {
            float want = strstr(ten->name, "LayerNorm.weight") ? 1.0f : 0.0f;
            for (size_t i = 0; i < ten->n_elem; i++)
                assert_true(p[i] == want);
        } else {
            double ss = 0;
            for (size_t i = 0; i < ten->n_elem; i++)
                ss += (double)p[i] * p[i];
            assert_true(sqrt(ss / ten->n_elem) > 0.012 && sqrt(ss / ten->n_elem) < 0.028);
        }
    }
    /* padding rows zero, as HF's _init_weights */
    assert_true(max_abs(m.params + m.tensors[0].offset + 16, 16) == 0.0);
    assert_true(max_abs(m.params + m.tensors[1].offset + 16, 16) == 0.0);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bert_cls),    cmocka_unit_test(test_golden_bert_reg),
        cmocka_unit_test(test_golden_roberta_cls), cmocka_unit_test(test_golden_roberta_reg),
        cmocka_unit_test(test_fd_bert_cls),        cmocka_unit_test(test_fd_bert_reg),
        cmocka_unit_test(test_fd_roberta_cls),     cmocka_unit_test(test_fd_roberta_reg),
        cmocka_unit_test(test_determinism),        cmocka_unit_test(test_dropout_gradient),
        cmocka_unit_test(test_threads),            cmocka_unit_test(test_pool_growth),
        cmocka_unit_test(test_linear_blocks),
        cmocka_unit_test(test_dropout_rate),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_load),               cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_init_random),
    };
    model_set_threads(1);
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
