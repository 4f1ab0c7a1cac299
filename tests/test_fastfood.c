/* test_fastfood.c - the Fastfood projection against independent references:
 * the explicit Sylvester Hadamard matrix, a plain-loop implementation of
 * the formula (explicit H multiply, explicit permutation, double sums) on
 * tables re-derived here from rng.h alone, the adjoint identity
 * <P x, y> = <x, P^T y>, column norms, seeds, grad_compat, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fastfood.h"
#include "rng.h"
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

static size_t p2(size_t v)
{
    size_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* Sylvester: H_1 = [1], H_2n = [[H_n, H_n], [H_n, -H_n]]. int8 [n][n]. */
static int8_t *sylvester(size_t n)
{
    int8_t *h = malloc(n * n);
    assert_non_null(h);
    h[0] = 1;
    for (size_t k = 1; k < n; k <<= 1)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++) {
                int8_t v = h[i * n + j];
                h[i * n + j + k] = v;
                h[(i + k) * n + j] = v;
                h[(i + k) * n + j + k] = (int8_t)-v;
            }
    return h;
}

static void hmul(const int8_t *h, size_t n, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += h[i * n + j] * x[j];
        y[i] = s;
    }
}

/* The documented generator (docs/PROJECTION.md), written out again from
 * rng.h: B from top bits, Durstenfeld Fisher-Yates, Box-Muller normals. */
struct tabs {
    size_t LL;
    int8_t *B;
    uint32_t *Pi;
    float *G;
    double scale;
};

static void derive(struct tabs *t, uint64_t seed, uint64_t k, size_t n, size_t LL)
{
    struct rng r;
    rng_init(&r, rng_key(seed, k));
    t->LL = LL;
    t->B = malloc(LL);
    t->Pi = malloc(LL * sizeof *t->Pi);
    t->G = malloc(LL * sizeof *t->G);
    assert_true(t->B && t->Pi && t->G);
    for (size_t i = 0; i < LL; i++)
        t->B[i] = (rng_next(&r) >> 63) ? -1 : 1;
    for (size_t i = 0; i < LL; i++)
        t->Pi[i] = (uint32_t)i;
    for (size_t i = LL - 1; i >= 1; i--) {
        size_t j = (size_t)rng_below(&r, i + 1);
        uint32_t tmp = t->Pi[i];
        t->Pi[i] = t->Pi[j];
        t->Pi[j] = tmp;
    }
    double s = 0;
    for (size_t i = 0; i < LL; i++) {
        t->G[i] = (float)rng_normal(&r);
        s += (double)t->G[i] * t->G[i];
    }
    t->scale = 1.0 / sqrt((double)n * s);
}

static void tabs_free(struct tabs *t)
{
    free(t->B);
    free(t->Pi);
    free(t->G);
}

/* y[0..n) = first n of H G Pi H B pad(x) * scale, all in double. */
static void ref_forward(const struct tabs *t, const int8_t *h, const float *x, size_t d,
                        size_t n, double *y)
{
    size_t LL = t->LL;
    double *v = calloc(LL, sizeof *v), *a = malloc(LL * sizeof *a), *z = malloc(LL * sizeof *z);
    for (size_t j = 0; j < d; j++)
        v[j] = t->B[j] * (double)x[j];
    hmul(h, LL, v, a);
    for (size_t i = 0; i < LL; i++)
        z[i] = a[t->Pi[i]] * t->G[i];
    hmul(h, LL, z, a);
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * t->scale;
    free(v), free(a), free(z);
}

/* out[0..d) = first d of B H Pi^T G H pad(g) * scale. */
static void ref_adjoint(const struct tabs *t, const int8_t *h, const float *g, size_t n,
                        size_t d, double *out)
{
    size_t LL = t->LL;
    double *v = calloc(LL, sizeof *v), *a = malloc(LL * sizeof *a), *u = malloc(LL * sizeof *u);
    for (size_t i = 0; i < n; i++)
        v[i] = g[i];
    hmul(h, LL, v, a);
    for (size_t i = 0; i < LL; i++)
        u[t->Pi[i]] = t->G[i] * a[i];
    hmul(h, LL, u, a);
    for (size_t j = 0; j < d; j++)
        out[j] = t->B[j] * a[j] * t->scale;
    free(v), free(a), free(u);
}

static double maxabs_d(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static struct fastfood *mk(const size_t *n, size_t m, size_t d, enum ff_scope sc, uint64_t seed,
                           int compat, int threads)
{
    struct fastfood *ff = NULL;
    struct idim_err err;
    enum idim_status st = fastfood_new(&ff, n, m, d, sc, seed, compat, threads, &err);
    if (st != IDIM_OK)
        print_message("fastfood_new: %s\n", err.msg);
    assert_int_equal(st, IDIM_OK);
    return ff;
}

/* -------------------------------------------------------------- tests */

/* fwht_inplace against the explicit Sylvester matrix, n = 1 .. 2^12, on
 * small integers (every partial sum exact in float). */
static void test_fwht_explicit(void **state)
{
    (void)state;
    size_t nmax = (size_t)1 << 12;
    int8_t *h = sylvester(nmax);
    for (size_t n = 1; n <= nmax; n <<= 1) {
        struct rng r;
        rng_init(&r, 77 + n);
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((int)rng_below(&r, 201) - 100);
        float *y = malloc(n * sizeof *y);
        memcpy(y, x, n * sizeof *x);
        fwht_inplace(y, n);
        for (size_t i = 0; i < n; i++) {
            double s = 0; /* row i of H_n = top-left block of H_nmax */
            for (size_t j = 0; j < n; j++)
                s += h[i * nmax + j] * (double)x[j];
            if ((double)y[i] != s)
                fail_msg("n = %zu: entry %zu is %g, H x gives %g", n, i, y[i], s);
        }
        free(x), free(y);
    }
    free(h);
}

/* Blocked / SIMD / scalar / 2-thread FWHT all equal the textbook loop bit
 * for bit on random floats (sizes that use one block and several rows). */
static void test_fwht_bitwise(void **state)
{
    (void)state;
    size_t sizes[] = {2, 8, 64, 4096, (size_t)1 << 16, (size_t)1 << 17, (size_t)1 << 21};
    size_t nmax = (size_t)1 << 21;
    struct fastfood *ff = mk(&nmax, 1, 1, FF_SCOPE_TENSOR, 1, 0, 2);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        float *x = frand(n, 5 + n), *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4),
              *e = malloc(n * 4);
        memcpy(a, x, n * 4), memcpy(b, x, n * 4), memcpy(c, x, n * 4), memcpy(e, x, n * 4);
        fwht_reference(a, n);
        fwht_inplace(b, n);
        fastfood_fwht(ff, c, n);
        for (int lvl = 0; lvl <= 1; lvl++) {
            memcpy(e, x, n * 4);
            fwht_set_simd(lvl); /* scalar, then AVX2 (when the CPU has them) */
            fwht_inplace(e, n);
            if (memcmp(a, e, n * 4))
                fail_msg("n = %zu: FWHT with SIMD level %d differs from the reference", n, lvl);
        }
        fwht_set_simd(2);
        if (memcmp(a, b, n * 4) || memcmp(a, c, n * 4))
            fail_msg("n = %zu: blocked (%d) or pooled (%d) FWHT differs from the reference loop",
                     n, memcmp(a, b, n * 4) != 0, memcmp(a, c, n * 4) != 0);
        free(x), free(a), free(b), free(c), free(e);
    }
    fastfood_free(ff);
}

/* The tables are the documented generator's, re-derived from rng.h. */
static void test_tables_generator(void **state)
{
    (void)state;
    size_t n[3] = {300, 7, 5000};
    size_t d = 50;
    struct fastfood *ff = mk(n, 3, d, FF_SCOPE_TENSOR, 1234, 0, 1);
    for (size_t k = 0; k < 3; k++) {
        struct fastfood_tables ft;
        fastfood_get_tables(ff, k, &ft);
        size_t LL = p2(n[k] > d ? n[k] : d);
        assert_int_equal(ft.LL, LL);
        assert_int_equal(ft.n, n[k]);
        struct tabs t;
        derive(&t, 1234, k, n[k], LL);
        /* spot check the first entries by hand-rolled draws, then all */
        struct rng r;
        rng_init(&r, rng_key(1234, k));
        int8_t b0 = (rng_next(&r) >> 63) ? -1 : 1;
        assert_int_equal(ft.B[0], b0);
        assert_memory_equal(ft.B, t.B, LL);
        assert_memory_equal(ft.Pi, t.Pi, LL * 4);
        assert_memory_equal(ft.G, t.G, LL * 4);
        assert_true(ft.scale == t.scale);
        /* Pi is a permutation */
        uint8_t *seen = calloc(LL, 1);
        for (size_t i = 0; i < LL; i++) {
            assert_true(ft.Pi[i] < LL);
            assert_int_equal(seen[ft.Pi[i]], 0);
            seen[ft.Pi[i]] = 1;
        }
        free(seen);
        tabs_free(&t);
    }
    fastfood_free(ff);
}

/* P's output and P^T's equal the plain-loop formula on tables derived here. */
static void check_against_plain(size_t nt, size_t d, int threads)
{
    size_t n[2] = {nt, 33};
    uint64_t seed = 99 + nt + d;
    struct fastfood *ff = mk(n, 2, d, FF_SCOPE_TENSOR, seed, 0, threads);
    float *x = frand(d, 3 + d);
    size_t D = n[0] + n[1];
    float *y = malloc(D * 4);
    fastfood_forward(ff, x, y);
    float *g = frand(D, 11 + D);
    float *xg = malloc(d * 4);
    float wts[2] = {1.0f, 0.0f}; /* isolate tensor 0 for the adjoint */
    fastfood_adjoint(ff, g, wts, xg);
    for (size_t k = 0; k < 2; k++) {
        size_t LL = p2(n[k] > d ? n[k] : d);
        int8_t *h = sylvester(LL);
        struct tabs t;
        derive(&t, seed, k, n[k], LL);
        double *ry = malloc(n[k] * sizeof *ry);
        ref_forward(&t, h, x, d, n[k], ry);
        double m = maxabs_d(ry, n[k]);
        size_t off = k ? n[0] : 0;
        for (size_t i = 0; i < n[k]; i++)
            if (fabs(y[off + i] - ry[i]) > 1e-5 * m)
                fail_msg("n=%zu d=%zu tensor %zu: (P x)[%zu] = %.9g, plain loop %.9g", nt, d, k,
                         i, y[off + i], ry[i]);
        if (k == 0) {
            double *rg = malloc(d * sizeof *rg);
            ref_adjoint(&t, h, g, n[0], d, rg);
            double mg = maxabs_d(rg, d);
            for (size_t j = 0; j < d; j++)
                if (fabs(xg[j] - rg[j]) > 1e-5 * mg)
                    fail_msg("n=%zu d=%zu: (P^T g)[%zu] = %.9g, plain loop %.9g", nt, d, j,
                             xg[j], rg[j]);
            free(rg);
        }
        free(ry), free(h);
        tabs_free(&t);
    }
    free(x), free(y), free(g), free(xg);
    fastfood_free(ff);
}

/* Textbook FWHT in double (independent of the float kernels). */
static void dfwht(double *x, size_t n)
{
    for (size_t h = 1; h < n; h <<= 1)
        for (size_t b = 0; b < n; b += 2 * h)
            for (size_t j = b; j < b + h; j++) {
                double a = x[j], c = x[j + h];
                x[j] = a + c;
                x[j + h] = a - c;
            }
}

/* Large transforms (blocked, pooled, fold and scatter paths) against the
 * formula in double with explicit tables and the textbook FWHT. */
static void check_large(size_t nt, size_t d, int threads)
{
    struct fastfood *ff = mk(&nt, 1, d, FF_SCOPE_TENSOR, 17, 0, threads);
    size_t LL = p2(nt > d ? nt : d);
    struct tabs t;
    derive(&t, 17, 0, nt, LL);
    float *x = frand(d, 21), *g = frand(nt, 22), *y = malloc(nt * 4), *xg = malloc(d * 4);
    fastfood_forward(ff, x, y);
    fastfood_adjoint(ff, g, NULL, xg);
    double *v = calloc(LL, sizeof *v), *z = malloc(LL * sizeof *z);
    for (size_t j = 0; j < d; j++)
        v[j] = t.B[j] * (double)x[j];
    dfwht(v, LL);
    for (size_t i = 0; i < LL; i++)
        z[i] = v[t.Pi[i]] * t.G[i];
    dfwht(z, LL);
    double m = 0, e = 0;
    for (size_t i = 0; i < nt; i++) {
        m = fmax(m, fabs(z[i] * t.scale));
        e = fmax(e, fabs(y[i] - z[i] * t.scale));
    }
    if (e > 1e-5 * m)
        fail_msg("n = %zu, d = %zu: forward max error %.3g of %.3g", nt, d, e, m);
    memset(v, 0, LL * sizeof *v);
    for (size_t i = 0; i < nt; i++)
        v[i] = g[i];
    dfwht(v, LL);
    for (size_t i = 0; i < LL; i++)
        z[t.Pi[i]] = t.G[i] * v[i];
    dfwht(z, LL);
    m = 0, e = 0;
    for (size_t j = 0; j < d; j++) {
        double r = t.B[j] * z[j] * t.scale;
        m = fmax(m, fabs(r));
        e = fmax(e, fabs(xg[j] - r));
    }
    if (e > 1e-5 * m)
        fail_msg("n = %zu, d = %zu: adjoint max error %.3g of %.3g", nt, d, e, m);
    free(v), free(z), free(x), free(g), free(y), free(xg);
    tabs_free(&t);
    fastfood_free(ff);
}

static void test_large_vs_reference(void **state)
{
    (void)state;
    check_large(200000, 1000, 2);   /* LL 2^18, 4 rows, fold into M = 1024 */
    check_large(3000000, 70000, 2); /* LL 2^22, 64 rows, M = 2^17: uint32 fold */
    check_large(100000, 300000, 1); /* d > n: LL = M = 2^19, scatter path */
}

static void test_plain_loop(void **state)
{
    (void)state;
    check_against_plain(300, 50, 1);   /* d < n, M = 64 < LL = 512: fold path */
    check_against_plain(100, 1000, 1); /* d > n: LL = 1024 from d */
    check_against_plain(1024, 1024, 2); /* M == LL */
    check_against_plain(2000, 3, 1);   /* tiny d */
    check_against_plain(1, 1, 1);
}

/* <P x, y> = <x, P^T y> to 1e-5 relative, both scopes, several tensors,
 * d above and below n_t, sizes that take the blocked and pooled paths. */
static void check_adjoint(const size_t *n, size_t m, size_t d, enum ff_scope sc, int threads)
{
    struct fastfood *ff = mk(n, m, d, sc, 42 + d + m, 0, threads);
    size_t D = 0;
    for (size_t t = 0; t < m; t++)
        D += n[t];
    float *x = frand(d, 1 + d), *g = frand(D, 2 + D), *y = malloc(D * 4), *xg = malloc(d * 4);
    fastfood_forward(ff, x, y);
    fastfood_adjoint(ff, g, NULL, xg);
    double a = ddot(y, g, D), b = ddot(x, xg, d);
    double scale = sqrt(ddot(y, y, D) * ddot(g, g, D));
    if (fabs(a - b) > 1e-5 * scale)
        fail_msg("scope %d, %zu tensors, d = %zu: <Px,y> = %.9g but <x,P^T y> = %.9g", (int)sc,
                 m, d, a, b);
    /* with weights w: sum_t w_t <P_t x, y_t> */
    float *w = malloc(m * 4);
    for (size_t t = 0; t < m; t++)
        w[t] = 0.5f + (float)t;
    fastfood_adjoint(ff, g, w, xg);
    double aw = 0;
    size_t o = 0;
    for (size_t t = 0; t < m; t++) {
        aw += w[t] * ddot(y + o, g + o, n[t]);
        o += n[t];
    }
    double bw = ddot(x, xg, d);
    if (fabs(aw - bw) > 1e-5 * scale * m * (m + 1))
        fail_msg("weighted adjoint, scope %d, d = %zu: %.9g vs %.9g", (int)sc, d, aw, bw);
    free(x), free(g), free(y), free(xg), free(w);
    fastfood_free(ff);
}

static void test_adjoint(void **state)
{
    (void)state;
    size_t a[4] = {300, 1, 4096, 77};
    size_t big[3] = {(size_t)1 << 18, 200000, 512}; /* pooled, several rows */
    check_adjoint(a, 4, 50, FF_SCOPE_TENSOR, 1);
    check_adjoint(a, 4, 50, FF_SCOPE_GLOBAL, 1);
    check_adjoint(a, 4, 5000, FF_SCOPE_TENSOR, 1); /* d > n_t everywhere */
    check_adjoint(a, 4, 5000, FF_SCOPE_GLOBAL, 2);
    check_adjoint(big, 3, 1000, FF_SCOPE_TENSOR, 2);
    check_adjoint(big, 3, 100000, FF_SCOPE_TENSOR, 2); /* M = 2^17: uint32 fold */
    check_adjoint(big, 3, 1000, FF_SCOPE_GLOBAL, 2);
}

/* Columns P e_j have unit norm on average (within 5%). */
static void test_column_norm(void **state)
{
    (void)state;
    size_t cases[][2] = {{300, 50}, {64, 200}, {5000, 20}};
    for (size_t c = 0; c < 3; c++) {
        size_t n = cases[c][0], d = cases[c][1];
        struct fastfood *ff = mk(&n, 1, d, FF_SCOPE_TENSOR, 7 + c, 0, 1);
        float *e = calloc(d, 4), *y = malloc(n * 4);
        double tot = 0;
        for (size_t j = 0; j < d; j++) {
            e[j] = 1;
            fastfood_forward(ff, e, y);
            e[j] = 0;
            tot += sqrt(ddot(y, y, n));
        }
        double mean = tot / (double)d;
        if (fabs(mean - 1.0) > 0.05)
            fail_msg("n = %zu, d = %zu: mean column norm %.4f", n, d, mean);
        free(e), free(y);
        fastfood_free(ff);
    }
}

/* Same seed: same P bitwise (also across thread counts and SIMD levels);
 * other seed: not. */
static void test_seeds(void **state)
{
    (void)state;
    size_t n[3] = {(size_t)1 << 18, 1000, 3};
    size_t d = 700, D = n[0] + n[1] + n[2];
    float *x = frand(d, 9), *g = frand(D, 10);
    float *y[4], *xg[4];
    uint64_t seeds[4] = {5, 5, 6, 5};
    int threads[4] = {1, 2, 1, 2};
    for (int r = 0; r < 4; r++) {
        struct fastfood *ff = mk(n, 3, d, FF_SCOPE_TENSOR, seeds[r], 0, threads[r]);
        y[r] = malloc(D * 4);
        xg[r] = malloc(d * 4);
        if (r == 3)
            fwht_set_simd(0); /* portable kernels everywhere */
        fastfood_forward(ff, x, y[r]);
        fastfood_adjoint(ff, g, NULL, xg[r]);
        fwht_set_simd(2);
        fastfood_free(ff);
    }
    assert_memory_equal(y[0], y[1], D * 4);
    assert_memory_equal(xg[0], xg[1], d * 4);
    assert_memory_equal(y[0], y[3], D * 4);
    assert_memory_equal(xg[0], xg[3], d * 4);
    assert_memory_not_equal(y[0], y[2], D * 4);
    size_t same = 0;
    for (size_t i = 0; i < D; i++)
        same += y[0][i] == y[2][i];
    assert_true(same < D / 100);
    for (int r = 0; r < 4; r++)
        free(y[r]), free(xg[r]);
    free(x), free(g);
}

/* grad_compat: exactly the exact adjoint divided by LL_t, per tensor. */
static void test_grad_compat(void **state)
{
    (void)state;
    size_t n[3] = {300, 20000, 5};
    size_t d = 64, D = n[0] + n[1] + n[2];
    struct fastfood *fe = mk(n, 3, d, FF_SCOPE_TENSOR, 3, 0, 1);
    struct fastfood *fc = mk(n, 3, d, FF_SCOPE_TENSOR, 3, 1, 1);
    float *g = frand(D, 4), *a = malloc(d * 4), *b = malloc(d * 4);
    for (size_t t = 0; t < 3; t++) {
        float w[3] = {0, 0, 0};
        w[t] = 1;
        fastfood_adjoint(fe, g, w, a);
        fastfood_adjoint(fc, g, w, b);
        size_t LL = p2(n[t] > d ? n[t] : d);
        for (size_t j = 0; j < d; j++)
            if (b[j] != a[j] / (float)LL)
                fail_msg("tensor %zu, entry %zu: compat %.9g, exact/LL %.9g", t, j, b[j],
                         a[j] / (float)LL);
    }
    free(g), free(a), free(b);
    fastfood_free(fe);
    fastfood_free(fc);
}

/* forward_tensor gives the slice of forward, in both scopes. */
static void test_forward_tensor(void **state)
{
    (void)state;
    size_t n[3] = {300, 20000, 5};
    size_t d = 100, D = n[0] + n[1] + n[2];
    float *x = frand(d, 8), *y = malloc(D * 4), *o = malloc(20000 * 4);
    for (int sc = 1; sc <= 2; sc++) {
        struct fastfood *ff = mk(n, 3, d, (enum ff_scope)sc, 3, 0, 1);
        fastfood_forward(ff, x, y);
        size_t off = 0;
        for (size_t t = 0; t < 3; t++) {
            fastfood_forward_tensor(ff, t, x, o);
            assert_memory_equal(o, y + off, n[t] * 4);
            off += n[t];
        }
        assert_int_equal(fastfood_n_transforms(ff), sc == 1 ? 3 : 1);
        if (sc == 1) { /* one tensor alone, keyed by its index */
            struct fastfood *one = NULL;
            struct idim_err err;
            assert_int_equal(fastfood_new_tensor(&one, n[1], 1, d, 3, 1, &err), IDIM_OK);
            fastfood_forward_tensor(one, 0, x, o);
            assert_memory_equal(o, y + n[0], n[1] * 4);
            fastfood_free(one);
        }
        assert_int_equal(fastfood_dim(ff), d);
        fastfood_free(ff);
    }
    free(x), free(y), free(o);
}

static void test_bad_args(void **state)
{
    (void)state;
    struct fastfood *ff = (struct fastfood *)1;
    struct idim_err err;
    size_t n[2] = {3, 0};
    assert_int_equal(fastfood_new(&ff, n, 1, 0, FF_SCOPE_TENSOR, 1, 0, 1, &err), IDIM_ERR_USAGE);
    assert_null(ff);
    assert_int_equal(fastfood_new(&ff, n, 2, 5, FF_SCOPE_TENSOR, 1, 0, 1, &err), IDIM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "tensor 1"));
    fastfood_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fwht_explicit),    cmocka_unit_test(test_fwht_bitwise),
        cmocka_unit_test(test_tables_generator), cmocka_unit_test(test_plain_loop),
        cmocka_unit_test(test_large_vs_reference),
        cmocka_unit_test(test_adjoint),          cmocka_unit_test(test_column_norm),
        cmocka_unit_test(test_seeds),            cmocka_unit_test(test_grad_compat),
        cmocka_unit_test(test_forward_tensor),   cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
