/* test_projection.c - the projection kinds against independent references:
 * the dense projection against the explicit matrix rebuilt here from rng.h
 * and the documented generator (docs/PROJECTION.md), the adjoint identity
 * <P x, y> = <x, P^T y>, unit column norms, seeds; the identity against
 * plain copies; Fastfood through the interface against fastfood.h itself;
 * bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "projection.h"
#include "rng.h"
#include "test_util.h"


/* The explicit matrix of transform k (rows x d, row-major, double), from
 * the generator as written in docs/PROJECTION.md, not via projection.c. */
static double *explicit_dense(uint64_t seed, size_t k, size_t rows, size_t d)
{
    double *A = calloc(rows * d, sizeof *A);
    assert_non_null(A);
    for (size_t i = 0; i < rows; i++) {
        struct rng r;
        rng_init(&r, rng_key(rng_key(seed ^ 0x64656e7365000000ull, k), i));
        for (size_t j = 0; j < d; j++)
            A[i * d + j] = (double)(float)rng_normal(&r);
    }
    for (size_t j = 0; j < d; j++) {
        double s = 0;
        for (size_t i = 0; i < rows; i++)
            s += A[i * d + j] * A[i * d + j];
        double inv = (double)(float)(1.0 / sqrt(s));
        for (size_t i = 0; i < rows; i++)
            A[i * d + j] *= inv;
    }
    return A;
}

/* Forward and adjoint of the dense kind against explicit matrices, both
 * scopes, including a tensor wider than one row block (d large enough that
 * several blocks are needed) and SAID-style adjoint weights. */
static void test_dense_explicit(void **state)
{
    (void)state;
    const size_t n[3] = {37, 5, 300};
    const size_t m = 3, D = 342;
    const size_t ds[2] = {7, 1100}; /* 1100: 2^18 / 1100 = 238 rows per block < 300 */
    for (int sc = 0; sc < 2; sc++) {
        enum ff_scope scope = sc ? FF_SCOPE_GLOBAL : FF_SCOPE_TENSOR;
        for (int di = 0; di < 2; di++) {
            size_t d = ds[di];
            struct projection *p;
            struct idim_err err;
            assert_int_equal(projection_new(&p, PROJ_DENSE, n, m, d, scope, 77, 0, 1, &err),
                             IDIM_OK);
            assert_int_equal(projection_n_transforms(p), sc ? 1 : 3);
            float *x = frand(d, 1), *g = frand(D, 2), *y = malloc(D * sizeof *y),
                  *xg = malloc(d * sizeof *xg);
            float w[3] = {0.5f, -2.0f, 1.25f};
            projection_forward(p, x, y);
            projection_adjoint(p, g, sc ? NULL : w, xg);
            double *ref_y = calloc(D, sizeof *ref_y), *ref_x = calloc(d, sizeof *ref_x);
            size_t off = 0;
            for (size_t k = 0; k < (sc ? 1u : m); k++) {
                size_t rows = sc ? D : n[k];
                double *A = explicit_dense(77, k, rows, d);
                double wk = sc ? 1.0 : (double)w[k];
                for (size_t i = 0; i < rows; i++)
                    for (size_t j = 0; j < d; j++) {
                        ref_y[off + i] += A[i * d + j] * (double)x[j];
                        ref_x[j] += wk * A[i * d + j] * (double)g[off + i];
                    }
                off += rows;
                free(A);
            }
            double worst = 0;
            for (size_t i = 0; i < D; i++) {
                double e = fabs((double)y[i] - ref_y[i]) / (1.0 + fabs(ref_y[i]));
                worst = e > worst ? e : worst;
            }
            for (size_t j = 0; j < d; j++) {
                double e = fabs((double)xg[j] - ref_x[j]) / (1.0 + fabs(ref_x[j]));
                worst = e > worst ? e : worst;
            }
            printf("dense %s d=%zu: worst relative error vs explicit %.2e\n",
                   sc ? "global" : "tensor", d, worst);
            assert_true(worst < 1e-5);
            /* adjoint identity with unit weights: <P x, g> = <x, P^T g> */
            projection_adjoint(p, g, NULL, xg);
            double a = ddot(y, g, D), b = ddot(x, xg, d);
            assert_true(fabs(a - b) <= 1e-5 * (fabs(a) + fabs(b) + 1.0));
            free(ref_y);
            free(ref_x);
            free(x);
            free(g);
            free(y);
            free(xg);
            projection_free(p);
        }
    }
}

/* Every column of every transform has unit norm; another seed gives
 * another matrix, the same seed the same bits. */
static void test_dense_norms_seeds(void **state)
{
    (void)state;
    const size_t n[2] = {64, 200};
    const size_t d = 9, D = 264;
    struct projection *p, *q, *r;
    struct idim_err err;
    assert_int_equal(projection_new(&p, PROJ_DENSE, n, 2, d, FF_SCOPE_TENSOR, 5, 0, 1, &err),
                     IDIM_OK);
    assert_int_equal(projection_new(&q, PROJ_DENSE, n, 2, d, FF_SCOPE_TENSOR, 5, 0, 1, &err),
                     IDIM_OK);
    assert_int_equal(projection_new(&r, PROJ_DENSE, n, 2, d, FF_SCOPE_TENSOR, 6, 0, 1, &err),
                     IDIM_OK);
    float e[9], y[264], y2[264], y3[264];
    for (size_t j = 0; j < d; j++) {
        memset(e, 0, sizeof e);
        e[j] = 1.0f;
        projection_forward(p, e, y);
        projection_forward(q, e, y2);
        projection_forward(r, e, y3);
        assert_memory_equal(y, y2, sizeof y);
        assert_memory_not_equal(y, y3, sizeof y);
        double s0 = ddot(y, y, n[0]), s1 = ddot(y + n[0], y + n[0], n[1]);
        assert_true(fabs(s0 - 1.0) < 1e-5 && fabs(s1 - 1.0) < 1e-5);
    }
    (void)D;
    projection_free(p);
    projection_free(q);
    projection_free(r);
}

/* PROJ_NORM_ROWS scales transform k by sqrt(n_k / d): forward and adjoint
 * (with SAID weights) against the unscaled projection, and the adjoint
 * identity still holds; for every kind and both scopes. */
static void test_row_norm(void **state)
{
    (void)state;
    const size_t n[3] = {37, 5, 300};
    const size_t m = 3, D = 342, d = 11;
    const enum proj_kind kinds[2] = {PROJ_FASTFOOD, PROJ_DENSE};
    for (int ki = 0; ki < 2; ki++)
        for (int sc = 0; sc < 2; sc++) {
            enum ff_scope scope = sc ? FF_SCOPE_GLOBAL : FF_SCOPE_TENSOR;
            struct projection *p, *q;
            struct idim_err err;
            assert_int_equal(projection_new(&p, kinds[ki], n, m, d, scope, 3, 0, 1, &err), IDIM_OK);
            assert_int_equal(projection_new(&q, kinds[ki], n, m, d, scope, 3, 0, 1, &err), IDIM_OK);
            projection_set_norm(q, PROJ_NORM_ROWS);
            float *x = frand(d, 8), *g = frand(D, 9), yp[342], yq[342], ap[11], aq[11];
            float w[3] = {2.0f, 0.5f, -1.0f};
            projection_forward(p, x, yp);
            projection_forward(q, x, yq);
            size_t off = 0;
            double ref[11] = {0};
            for (size_t t = 0; t < m; t++) {
                double c = sqrt((double)(sc ? D : n[t]) / (double)d);
                assert_true(fabs(projection_scale(q, sc ? 0 : t) - c) < 1e-6 * c);
                for (size_t i = 0; i < n[t]; i++)
                    assert_true(fabs(yq[off + i] - c * yp[off + i]) <= 1e-6 * (1 + fabs(yq[off + i])));
                off += n[t];
            }
            /* adjoint: sum_k w_k c_k P_k^T g_k from the unscaled one, tensor by tensor */
            for (size_t t = 0; t < (sc ? 1u : m); t++) {
                float *gt = calloc(D, sizeof *gt);
                size_t o = 0;
                for (size_t u = 0; u < t; u++)
                    o += n[u];
                size_t len = sc ? D : n[t];
                memcpy(gt + o, g + o, len * sizeof *gt);
                projection_adjoint(p, gt, NULL, ap);
                double c = projection_scale(q, t) * (sc ? 1.0 : (double)w[t]);
                for (size_t j = 0; j < d; j++)
                    ref[j] += c * ap[j];
                free(gt);
            }
            projection_adjoint(q, g, sc ? NULL : w, aq);
            for (size_t j = 0; j < d; j++)
                assert_true(fabs(aq[j] - ref[j]) <= 1e-5 * (1 + fabs(ref[j])));
            projection_adjoint(q, g, NULL, aq);
            double a = ddot(yq, g, D), b = ddot(x, aq, d);
            assert_true(fabs(a - b) <= 1e-5 * (fabs(a) + fabs(b) + 1.0));
            free(x);
            free(g);
            projection_free(p);
            projection_free(q);
        }
}

/* Identity: y = x and xgrad = g exactly. */
static void test_identity(void **state)
{
    (void)state;
    const size_t n[3] = {3, 10, 4};
    struct projection *p;
    struct idim_err err;
    assert_int_equal(projection_new(&p, PROJ_IDENTITY, n, 3, 17, FF_SCOPE_TENSOR, 1, 0, 1, &err),
                     IDIM_OK);
    assert_int_equal(projection_kind(p), PROJ_IDENTITY);
    float *x = frand(17, 3), y[17], xg[17];
    projection_forward(p, x, y);
    assert_memory_equal(x, y, sizeof y);
    projection_adjoint(p, x, NULL, xg);
    assert_memory_equal(x, xg, sizeof xg);
    free(x);
    projection_free(p);
}

/* PROJ_FASTFOOD through the interface is fastfood.h itself, bit for bit. */
static void test_fastfood_same(void **state)
{
    (void)state;
    const size_t n[3] = {37, 5, 300};
    const size_t d = 20, D = 342;
    struct projection *p;
    struct fastfood *ff;
    struct idim_err err;
    assert_int_equal(projection_new(&p, PROJ_FASTFOOD, n, 3, d, FF_SCOPE_TENSOR, 9, 0, 1, &err),
                     IDIM_OK);
    assert_int_equal(fastfood_new(&ff, n, 3, d, FF_SCOPE_TENSOR, 9, 0, 1, &err), IDIM_OK);
    float *x = frand(d, 4), *g = frand(D, 5);
    float y1[342], y2[342], a1[20], a2[20];
    projection_forward(p, x, y1);
    fastfood_forward(ff, x, y2);
    assert_memory_equal(y1, y2, sizeof y1);
    projection_adjoint(p, g, NULL, a1);
    fastfood_adjoint(ff, g, NULL, a2);
    assert_memory_equal(a1, a2, sizeof a1);
    free(x);
    free(g);
    fastfood_free(ff);
    projection_free(p);
}

static void test_bad_args(void **state)
{
    (void)state;
    const size_t n[2] = {10, 20};
    struct projection *p = (struct projection *)1;
    struct idim_err err;
    assert_int_equal(projection_new(&p, PROJ_IDENTITY, n, 2, 29, FF_SCOPE_TENSOR, 1, 0, 1, &err),
                     IDIM_ERR_USAGE);
    assert_null(p);
    assert_non_null(strstr(err.msg, "D = 30"));
    assert_int_equal(projection_new(&p, PROJ_DENSE, n, 2, 3, FF_SCOPE_TENSOR, 1, 1, 1, &err),
                     IDIM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "--grad-compat"));
    assert_int_equal(projection_new(&p, PROJ_DENSE, n, 2, 0, FF_SCOPE_TENSOR, 1, 0, 1, &err),
                     IDIM_ERR_USAGE);
    /* the size guard refuses before allocating anything */
    size_t big[1] = {(size_t)1 << 20};
    assert_int_equal(projection_new(&p, PROJ_DENSE, big, 1, 1000, FF_SCOPE_TENSOR, 1, 0, 1, &err),
                     IDIM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "--projection fastfood"));
    enum proj_kind k;
    assert_int_equal(proj_kind_parse("dense", &k), 0);
    assert_int_equal(k, PROJ_DENSE);
    assert_int_equal(proj_kind_parse("identity", &k), 0);
    assert_int_equal(k, PROJ_IDENTITY);
    assert_int_equal(proj_kind_parse("fastfood", &k), 0);
    assert_int_equal(k, PROJ_FASTFOOD);
    assert_int_equal(proj_kind_parse("Dense", &k), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_explicit), cmocka_unit_test(test_dense_norms_seeds),
        cmocka_unit_test(test_row_norm),       cmocka_unit_test(test_identity),       cmocka_unit_test(test_fastfood_same),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
