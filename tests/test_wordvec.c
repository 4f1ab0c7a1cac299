/* test_wordvec.c - the word-vector initialisation (wordvec.h) against
 * independent references:
 *  1. PPMI of a hand-made stream against scipy (scripts/
 *     make_wordvec_reference.py) and one entry worked by hand; the K most
 *     frequent rows, ties to the lower id, coverage;
 *  2. the randomized SVD of a 60 x 40 matrix against numpy's exact SVD
 *     (tests/fixtures/wordvec/svd.bin): singular values, principal angles
 *     to the exact subspace, the rank-8 residual within 0.1% of the
 *     optimum, orthonormal columns; the same bits for the same seed and for
 *     1 and 2 threads; a rank-deficient matrix gives zeros, not NaN;
 *  3. the embedding rows: centred columns, the std asked for, other rows
 *     untouched;
 *  4. clear errors: too few tokens, too few distinct tokens, bad window. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops.h"
#include "rng.h"
#include "wordvec.h"

/* scripts/make_wordvec_reference.py: PPMI of the stream below, window 2,
 * smoothing 0.75, rows/cols ids 1, 4, 2 (computed over the whole vocabulary
 * with scipy). By hand for (4, 1): n = 5 pairs, w(4) = 3 + 4 + 3 = 10,
 * w(1) = 10, sum_v w(v)^0.75 = 2 * 4^.75 + 8^.75 + 2^.75 + 2 * 10^.75 =
 * 23.343, so log(5/10) - log(10^.75 / 23.343) = 0.7302. */
static const int32_t STREAM[] = {1, 4, 2, 1, 0, 4, 3, 1, 2, 4, 5};
static const double PPMI_REF[3][3] = {
    {0, 0.73018125252974664, 0.38671329224941298},
    {0.73018125252974664, 0, 0},
    {0.4424991800779654, 0.037034071969801241, 0},
};

static void test_ppmi_reference(void **st)
{
    (void)st;
    struct wordvec_ppmi p;
    struct idim_err err = {0};
    assert_int_equal(wordvec_ppmi(&p, STREAM, 11, 7, 2, 0.75, 3, 1, &err), IDIM_OK);
    assert_int_equal(p.K, 3);
    /* counts 3, 3, 2: ids 1 and 4 tie, the lower id first */
    assert_int_equal(p.ids[0], 1);
    assert_int_equal(p.ids[1], 4);
    assert_int_equal(p.ids[2], 2);
    assert_int_equal(p.covered, 8);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double got = p.m[i * 3 + j], want = PPMI_REF[i][j];
            if (fabs(got - want) > 1e-6 * (1.0 + fabs(want)))
                fail_msg("PPMI[%d][%d] = %.9g, scipy says %.9g", i, j, got, want);
        }
    assert_true(fabs(p.m[1 * 3 + 0] - 0.7302) < 1e-4); /* the hand-worked entry */
    wordvec_ppmi_free(&p);
    /* K larger than the distinct ids: all 6 occurring ids, none for id 6 */
    assert_int_equal(wordvec_ppmi(&p, STREAM, 11, 7, 2, 0.75, 100, 1, &err), IDIM_OK);
    assert_int_equal(p.K, 6);
    assert_int_equal(p.covered, 11);
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(p.ids[i], 6);
    wordvec_ppmi_free(&p);
}

static void test_errors(void **st)
{
    (void)st;
    struct wordvec_ppmi p;
    struct idim_err err = {0};
    assert_int_equal(wordvec_ppmi(&p, STREAM, 1, 7, 2, 0.75, 3, 1, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "1 token"));
    assert_null(p.m);
    assert_int_equal(wordvec_ppmi(&p, STREAM, 0, 7, 2, 0.75, 3, 1, &err), IDIM_ERR_FORMAT);
    /* 6 distinct ids cannot give 8 dimensions */
    assert_int_equal(wordvec_ppmi(&p, STREAM, 11, 7, 2, 0.75, 100, 8, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "6 distinct tokens"));
    assert_non_null(strstr(err.msg, "at least 8"));
    assert_null(p.m);
    assert_int_equal(wordvec_ppmi(&p, STREAM, 11, 7, 0, 0.75, 3, 1, &err), IDIM_ERR_USAGE);
    float A[4] = {1, 2, 3, 4}, U[4], s[2];
    assert_int_equal(wordvec_svd(A, 2, 2, 3, 0, 1, 1, U, s, &err), IDIM_ERR_USAGE);
}

struct svd_ref {
    float A[60 * 40];
    double s[8], U[60 * 8], resid;
};

static void load_ref(struct svd_ref *r)
{
    FILE *f = fopen("tests/fixtures/wordvec/svd.bin", "rb");
    assert_non_null(f);
    size_t ok = fread(r->A, 4, 60 * 40, f) == 60 * 40 && fread(r->s, 8, 8, f) == 8 &&
                fread(r->U, 8, 60 * 8, f) == 60 * 8 && fread(&r->resid, 8, 1, f) == 1;
    fclose(f);
    assert_true(ok);
}

/* ||A - U U^T A||_F for U [m, k] with orthonormal columns */
static double residual(const float *A, const float *U, int m, int n, int k)
{
    double tot = 0.0;
    for (int j = 0; j < n; j++) {
        double c[64] = {0};
        for (int i = 0; i < k; i++)
            for (int r = 0; r < m; r++)
                c[i] += (double)U[r * k + i] * A[r * n + j];
        for (int r = 0; r < m; r++) {
            double x = A[r * n + j];
            for (int i = 0; i < k; i++)
                x -= (double)U[r * k + i] * c[i];
            tot += x * x;
        }
    }
    return sqrt(tot);
}

static void test_svd_reference(void **st)
{
    (void)st;
    struct svd_ref *R = malloc(sizeof *R);
    load_ref(R);
    enum { M = 60, N = 40, K = 8 };
    float U[M * K], s[K], U2[M * K], s2[K];
    struct idim_err err = {0};
    ops_set_threads(1);
    assert_int_equal(wordvec_svd(R->A, M, N, K, 8, 4, 7, U, s, &err), IDIM_OK);
    for (int i = 0; i < K; i++) {
        printf("  s[%d] = %.6f (numpy %.6f)\n", i, s[i], R->s[i]);
        assert_true(fabs(s[i] - R->s[i]) <= 1e-4 * R->s[0]);
    }
    /* orthonormal columns */
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            double d = 0;
            for (int r = 0; r < M; r++)
                d += (double)U[r * K + a] * U[r * K + b];
            assert_true(fabs(d - (a == b)) < 1e-5);
        }
    /* each column against numpy's (signs free): |cos| near 1, since the
     * spectrum has gaps; and the residual at the optimum */
    for (int i = 0; i < K; i++) {
        double d = 0;
        for (int r = 0; r < M; r++)
            d += U[r * K + i] * R->U[r * K + i];
        printf("  |cos| column %d: %.8f\n", i, fabs(d));
        assert_true(fabs(d) > 0.9999);
    }
    double res = residual(R->A, U, M, N, K);
    printf("  residual %.8f, optimum %.8f\n", res, R->resid);
    assert_true(res <= R->resid * 1.001 && res >= R->resid * (1 - 1e-6));
    /* no power iterations: a worse subspace, still a valid factor */
    assert_int_equal(wordvec_svd(R->A, M, N, K, 2, 0, 7, U2, s2, &err), IDIM_OK);
    double res0 = residual(R->A, U2, M, N, K);
    printf("  residual without power iterations: %.8f\n", res0);
    assert_true(res0 >= res - 1e-6);
    /* the same bits: same seed; 2 threads */
    assert_int_equal(wordvec_svd(R->A, M, N, K, 8, 4, 7, U2, s2, &err), IDIM_OK);
    assert_memory_equal(U, U2, sizeof U);
    assert_memory_equal(s, s2, sizeof s);
    ops_set_threads(2);
    assert_int_equal(wordvec_svd(R->A, M, N, K, 8, 4, 7, U2, s2, &err), IDIM_OK);
    ops_set_threads(1);
    assert_memory_equal(U, U2, sizeof U);
    assert_memory_equal(s, s2, sizeof s);
    /* the transpose: its right factor is the left one of A^T; values agree */
    float *At = malloc(sizeof R->A), Ut[N * K], st_[K];
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++)
            At[c * M + r] = R->A[r * N + c];
    assert_int_equal(wordvec_svd(At, N, M, K, 8, 4, 7, Ut, st_, &err), IDIM_OK);
    for (int i = 0; i < K; i++)
        assert_true(fabs(st_[i] - R->s[i]) <= 1e-4 * R->s[0]);
    free(At);
    free(R);
}

/* rank 2 (outer products), asked for 5: three zero singular values */
static void test_svd_rank_deficient(void **st)
{
    (void)st;
    enum { M = 12, N = 10, K = 5 };
    float A[M * N], U[M * K], s[K];
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++)
            A[r * N + c] = (float)((r + 1) * (c % 3 + 1)) + (float)((r % 2) * (c + 2));
    struct idim_err err = {0};
    assert_int_equal(wordvec_svd(A, M, N, K, 3, 2, 1, U, s, &err), IDIM_OK);
    for (int i = 0; i < M * K; i++)
        assert_true(isfinite(U[i]));
    assert_true(s[1] > 1e-3 * s[0]);
    for (int i = 2; i < K; i++) {
        printf("  s[%d] = %g (of %g)\n", i, s[i], s[0]);
        assert_true(s[i] < 1e-4 * s[0]);
    }
}

static void test_embed(void **st)
{
    (void)st;
    enum { V = 9, C = 3, K = 4 };
    const int32_t ids[K] = {5, 2, 7, 0};
    const float U[K * C] = {0.5f, 0.1f, -0.3f, 0.5f, -0.7f, 0.2f, 0.5f, 0.6f, 0.4f,
                            0.5f, 0.0f, -0.3f};
    const float s[C] = {4.0f, 1.0f, 0.25f};
    float wte[V * C];
    for (int i = 0; i < V * C; i++)
        wte[i] = 100.0f + (float)i;
    assert_int_equal(wordvec_embed(wte, C, ids, K, U, s, 0.02), 0);
    double ss = 0;
    for (int c = 0; c < C; c++) {
        double mean = 0;
        for (int i = 0; i < K; i++)
            mean += wte[ids[i] * C + c];
        assert_true(fabs(mean / K) < 1e-7);
    }
    for (int i = 0; i < K; i++)
        for (int c = 0; c < C; c++)
            ss += (double)wte[ids[i] * C + c] * wte[ids[i] * C + c];
    assert_true(fabs(sqrt(ss / (K * C)) - 0.02) < 1e-7);
    /* column 0 of U is constant: centred to 0 (sqrt(4) * 0.5 - 1) */
    assert_true(fabs(wte[5 * C]) < 1e-9);
    /* (row 2 of U, column 1) - mean, scaled: the ratio of two entries */
    double r = (double)wte[2 * C + 1] / wte[7 * C + 1];
    assert_true(fabs(r - (-0.7 - (-0.0)) / (0.6 - 0.0)) < 1e-5);
    const int untouched[] = {1, 3, 4, 6, 8};
    for (int j = 0; j < 5; j++)
        for (int c = 0; c < C; c++)
            assert_true(wte[untouched[j] * C + c] == 100.0f + (float)(untouched[j] * C + c));
    /* a constant factor: refused */
    const float Uc[K * C] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(wordvec_embed(wte, C, ids, K, Uc, s, 0.02), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ppmi_reference),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_svd_reference),
        cmocka_unit_test(test_svd_rank_deficient),
        cmocka_unit_test(test_embed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
