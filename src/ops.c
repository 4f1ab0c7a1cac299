/* ops.c - layer kernels of the BERT/RoBERTa encoder (see ops.h).
 *
 * Inputs/outputs: row-major float32 activations [N, C], N = B*T tokens.
 * Math follows Hugging Face's modeling_bert (Devlin et al. 2019): post-LN
 * residual blocks, GELU in its erf form, softmax attention scaled by
 * 1/sqrt(head size) with padded keys removed. Every reduction runs in a
 * fixed order, so results repeat bit for bit for a given thread count. */
#include "ops.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "cpu.h"

/* Elementwise math runs on vectors (GCC/Clang vector extensions) without
 * -ffast-math: ops_vec.h, included twice below, for 4 floats (SSE2) and for
 * 8 (AVX2, used when the processor has it); both give the same bits.
 * Reductions use VB partial sums in a fixed order, which GCC's -O2
 * vectorizer handles. */
#define VB 16

#define VW 4
#define V(name) name##4
#include "ops_vec.h"
#undef VW
#undef V

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OPS_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2")
#define VW 8
#define V(name) name##8
#include "ops_vec.h"
#undef VW
#undef V
#pragma GCC pop_options
#else
#define OPS_AVX2 0
#endif

/* 1 when the 8-float (AVX2) copies run: the processor has AVX2, unless
 * ops_set_simd(0) asked for the 4-float ones */
static int use8 = -1;

int ops_set_simd(int wide)
{
#if OPS_AVX2
    use8 = wide && cpu_simd_max() >= 1;
#else
    (void)wide;
    use8 = 0;
#endif
    return use8;
}

/* The first choice is made once (pool workers ask at the same time). */
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void simd_default(void)
{
    if (use8 < 0)
        ops_set_simd(1);
}

static inline int simd8(void)
{
    pthread_once(&simd_once, simd_default);
    return use8;
}

static void bias_gelu_row(float *g, float *f, const float *bias, int n)
{
#if OPS_AVX2
    if (simd8()) {
        bias_gelu_row8(g, f, bias, n);
        return;
    }
#endif
    bias_gelu_row4(g, f, bias, n);
}

static void gelu_grad_cols(float *d, float *db, const float *f, const float *g, int c0, int c1)
{
#if OPS_AVX2
    if (simd8()) {
        gelu_grad_cols8(d, db, f, g, c0, c1);
        return;
    }
#endif
    gelu_grad_cols4(d, db, f, g, c0, c1);
}

static void exp_row(float *x, int n)
{
#if OPS_AVX2
    if (simd8()) {
        exp_row8(x, n);
        return;
    }
#endif
    exp_row4(x, n);
}

/* correctly rounded, as sqrtf (which GCC does not vectorize without
 * -fno-math-errno) */
static inline vf4 sqrt4(vf4 x)
{
#if defined(__SSE__)
    return (vf4)_mm_sqrt_ps((__m128)x);
#else
    return (vf4){sqrtf(x[0]), sqrtf(x[1]), sqrtf(x[2]), sqrtf(x[3])};
#endif
}

/* Sum of x[0..n) with VB partial sums in a fixed order (vectorizable). */
static inline float sum_fixed(const float *x, int n)
{
    float acc[VB] = {0};
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++)
            acc[k] += x[i + k];
    float s = 0.0f;
    for (; i < n; i++)
        s += x[i];
    for (int k = 0; k < VB; k++)
        s += acc[k];
    return s;
}

/* ---- thread pool ------------------------------------------------------
 * ops_parallel(fn, arg) runs fn(arg, part, n) for part = 0..n-1, part 0 on
 * the caller, the others on n-1 workers that sleep on a condition variable
 * between calls (they never spin, so they do not steal the cores from
 * OpenBLAS's own threads). Work is split by rows, or by columns where a
 * kernel reduces over rows, so every sum runs in the same order whatever
 * the thread count: results do not depend on it. */

#define POOL_MAX 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t th[POOL_MAX];
    unsigned long start_gen[POOL_MAX]; /* gen when worker i+1 was created */
    int n_threads;  /* parts per call, including the caller */
    int n_started;  /* workers alive */
    unsigned long gen;
    int remaining;
    par_fn fn;
    void *arg;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          {0}, {0}, 1, 0, 0, 0, NULL, NULL};

static void *pool_worker(void *p)
{
    int id = (int)(intptr_t)p;
    pthread_mutex_lock(&pool.mu);
    /* Calls made before this worker existed are not its own: starting from
     * 0 it ran the last one again, with a stale (dangling) argument, when
     * the thread count grew after the first call. */
    unsigned long seen = pool.start_gen[id - 1];
    for (;;) {
        while (pool.gen == seen)
            pthread_cond_wait(&pool.go, &pool.mu);
        seen = pool.gen;
        if (id >= pool.n_threads)
            continue; /* not part of this call */
        par_fn fn = pool.fn;
        void *arg = pool.arg;
        int n = pool.n_threads;
        pthread_mutex_unlock(&pool.mu);
        fn(arg, id, n);
        pthread_mutex_lock(&pool.mu);
        if (--pool.remaining == 0)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

int ops_set_threads(int n)
{
    if (n < 1)
        n = 1;
    if (n > POOL_MAX)
        n = POOL_MAX;
    pthread_mutex_lock(&pool.mu);
    while (pool.n_started < n - 1) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pool.start_gen[pool.n_started] = pool.gen;
        int rc = pthread_create(&pool.th[pool.n_started], &at, pool_worker,
                                (void *)(intptr_t)(pool.n_started + 1));
        pthread_attr_destroy(&at);
        if (rc != 0)
            break; /* fewer threads: still correct */
        pool.n_started++;
    }
    pool.n_threads = pool.n_started + 1 < n ? pool.n_started + 1 : n;
    n = pool.n_threads;
    pthread_mutex_unlock(&pool.mu);
    return n;
}

void ops_parallel(par_fn fn, void *arg)
{
    int n = pool.n_threads;
    if (n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.arg = arg;
    pool.remaining = n - 1;
    pool.gen++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    fn(arg, 0, n);
    pthread_mutex_lock(&pool.mu);
    while (pool.remaining > 0)
        pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
}

/* [*lo, *hi) = part `part` of n items split into `parts` near-equal ranges,
 * rounded to multiples of `align` (columns: keeps vectors whole). */
static void split(int n, int part, int parts, int align, int *lo, int *hi)
{
    long units = ((long)n + align - 1) / align;
    long a = units * part / parts, b = units * (part + 1) / parts;
    *lo = (int)(a * align < n ? a * align : n);
    *hi = (int)(b * align < n ? b * align : n);
}

/* column sums: out[c] += sum over rows of x[r, c], rows in order */
struct colsum_args {
    float *out;
    const float *x;
    int N, C;
};

static void colsum_part(void *p, int part, int parts)
{
    struct colsum_args *a = p;
    int c0, c1;
    split(a->C, part, parts, 16, &c0, &c1);
    for (int n = 0; n < a->N; n++) {
        const float *row = a->x + (size_t)n * a->C;
        for (int c = c0; c < c1; c++)
            a->out[c] += row[c];
    }
}

static void colsum(float *out, const float *x, int N, int C)
{
    struct colsum_args a = {out, x, N, C};
    ops_parallel(colsum_part, &a);
}

/* ---- matrix products ----------------------------------------------------
 * OpenBLAS runs on one thread (model_set_threads); our pool runs every
 * product as blocks of rows of its output, one cblas_sgemm per block, the
 * blocks split over the parts. OpenBLAS's rounding depends on a call's
 * shape, so the blocks are fixed by the shape alone (gemm_block_rows): results
 * do not depend on the thread count. OpenBLAS's own worker threads never
 * spin (sched_yield) while our element-wise passes run between the products.
 *
 * Block size: every call packs the whole of the other operand (for a
 * linear layer, the weight) again, so small blocks pay that packing once
 * per block: with 128-row blocks it was 10% of a step of preset medium
 * (perf: sgemm_itcopy + incopy), and one-thread sgemm of the layer shapes
 * ran 5-10% slower than with 512-row blocks. Blocks are therefore as large
 * as GEMM_ROWS_MAX, but a product is cut into an even number of blocks of
 * near-equal size (at least two when it has GEMM_ROWS_MIN rows or more) so
 * that two threads, this machine's count, get equal shares. */
#define GEMM_ROWS_MAX 512
#define GEMM_ROWS_MIN 256

/* Rows per block for a product with M output rows (a multiple of 16). */
static int gemm_block_rows(int M)
{
    int nb = (M + GEMM_ROWS_MAX - 1) / GEMM_ROWS_MAX;
    if (M >= GEMM_ROWS_MIN && nb % 2)
        nb++;
    int r = (M + nb - 1) / nb;
    return (r + 15) / 16 * 16;
}

/* Columns per block: all N, except that a product too short to be cut by
 * rows (one row block: M < GEMM_ROWS_MIN, e.g. the weight gradients
 * dW[C, C] and dW[C, F] of a model with C = 128, each a K = B*T reduction)
 * is cut into two column halves (multiples of 16) when N >= GEMM_COLS_MIN,
 * so that it does not run on one thread while the other waits: those
 * products were a fifth of preset tiny's step. Fixed by the shape. */
#define GEMM_COLS_MIN 128

static int gemm_block_cols(int M, int N)
{
    if (M >= GEMM_ROWS_MIN || N < GEMM_COLS_MIN)
        return N;
    return ((N + 1) / 2 + 15) / 16 * 16;
}

struct gemm_args {
    enum CBLAS_TRANSPOSE ta, tb;
    int M, N, K;
    float alpha, beta;
    const float *A, *B, *bias; /* bias [N] fills C's rows first (then beta = 1) */
    int lda, ldb, ldc;
    float *C;
};

static void gemm_part(void *p, int part, int parts)
{
    struct gemm_args *g = p;
    int rows = gemm_block_rows(g->M), cols = gemm_block_cols(g->M, g->N), b0, b1;
    int nrb = (g->M + rows - 1) / rows, ncb = (g->N + cols - 1) / cols;
    split(nrb * ncb, part, parts, 1, &b0, &b1);
    for (int blk = b0; blk < b1; blk++) {
        int rb = blk / ncb, cb = blk % ncb;
        int m0 = rb * rows, m1 = m0 + rows < g->M ? m0 + rows : g->M;
        int n0 = cb * cols, n1 = n0 + cols < g->N ? n0 + cols : g->N;
        float *c = g->C + (size_t)m0 * g->ldc + n0;
        float beta = g->beta;
        if (g->bias) {
            for (int r = m0; r < m1; r++)
                memcpy(c + (size_t)(r - m0) * g->ldc, g->bias + n0,
                       (size_t)(n1 - n0) * sizeof(float));
            beta = 1.0f;
        }
        const float *a = g->ta == CblasNoTrans ? g->A + (size_t)m0 * g->lda : g->A + m0;
        const float *b = g->tb == CblasNoTrans ? g->B + n0 : g->B + (size_t)n0 * g->ldb;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, m1 - m0, n1 - n0, g->K, g->alpha, a, g->lda, b,
                    g->ldb, beta, c, g->ldc);
    }
}

/* C[M,N] = alpha op(A) op(B) + beta C (+ bias per row), in row (or column) blocks. */
static void gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc, const float *bias)
{
    struct gemm_args g = {ta, tb, M, N, K, alpha, beta, A, B, bias, lda, ldb, ldc, C};
    ops_parallel(gemm_part, &g);
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int IC, int OC)
{
    gemm(CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, weight, IC, 0.0f, out, OC, bias);
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int IC, int OC,
                     float beta_inp)
{
    if (dinp)
        gemm(CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, weight, IC, beta_inp, dinp,
             IC, NULL);
    if (dweight)
        gemm(CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dweight, IC,
             NULL);
    if (dbias)
        colsum(dbias, dout, N, OC);
}

/* ---- residual + LayerNorm ---------------------------------------------- */

struct ln_args {
    float *out, *xhat, *rstd, *dr, *da, *dgamma, *dbeta;
    const float *res, *a, *dout, *gamma, *beta, *xh, *rs; /* xh, rs: backward inputs */
    const uint8_t *dmask;
    float keep_scale, eps;
    int N, C;
};

static void ln_forward_part(void *p, int part, int parts)
{
    struct ln_args *A = p;
    int C = A->C, r0, r1;
    split(A->N, part, parts, 1, &r0, &r1);
    for (int n = r0; n < r1; n++) {
        size_t o = (size_t)n * C;
        float *x = A->xhat + o;
        const float *an = A->a + o;
        if (A->dmask) {
            const uint8_t *mk = A->dmask + o;
            for (int i = 0; i < C; i++)
                x[i] = mk[i] ? an[i] * A->keep_scale : 0.0f;
        } else {
            memcpy(x, an, (size_t)C * sizeof(float));
        }
        if (A->res) {
            const float *rn = A->res + o;
            for (int i = 0; i < C; i++)
                x[i] += rn[i];
        }
        float mean = sum_fixed(x, C) / (float)C;
        float acc[VB] = {0};
        int i = 0;
        for (; i + VB <= C; i += VB)
            for (int k = 0; k < VB; k++) {
                float d = x[i + k] - mean;
                acc[k] += d * d;
            }
        float var = 0.0f;
        for (; i < C; i++) {
            float d = x[i] - mean;
            var += d * d;
        }
        for (int k = 0; k < VB; k++)
            var += acc[k];
        var /= (float)C;
        float rs = 1.0f / sqrtf(var + A->eps);
        A->rstd[n] = rs;
        float *y = A->out + o;
        for (i = 0; i < C; i++) {
            float xh = (x[i] - mean) * rs;
            x[i] = xh;
            y[i] = xh * A->gamma[i] + A->beta[i];
        }
    }
}

void residual_layernorm_forward(float *out, float *xhat, float *rstd, const float *res,
                                const float *a, const uint8_t *dmask, float keep_scale,
                                const float *gamma, const float *beta, float eps, int N, int C)
{
    struct ln_args A = {.out = out, .xhat = xhat, .rstd = rstd, .res = res, .a = a,
                        .dmask = dmask, .keep_scale = keep_scale, .gamma = gamma, .beta = beta,
                        .eps = eps, .N = N, .C = C};
    ops_parallel(ln_forward_part, &A);
}

static void ln_backward_rows(void *p, int part, int parts)
{
    struct ln_args *A = p;
    int C = A->C, r0, r1;
    const float *gamma = A->gamma;
    split(A->N, part, parts, 1, &r0, &r1);
    for (int n = r0; n < r1; n++) {
        size_t o = (size_t)n * C;
        const float *dy = A->dout + o, *x = A->xh + o;
        float a1[VB] = {0}, a2[VB] = {0};
        int i = 0;
        for (; i + VB <= C; i += VB)
            for (int k = 0; k < VB; k++) {
                float g = dy[i + k] * gamma[i + k];
                a1[k] += g;
                a2[k] += g * x[i + k];
            }
        float s1 = 0.0f, s2 = 0.0f;
        for (; i < C; i++) {
            float g = dy[i] * gamma[i];
            s1 += g;
            s2 += g * x[i];
        }
        for (int k = 0; k < VB; k++)
            s1 += a1[k], s2 += a2[k];
        s1 /= (float)C;
        s2 /= (float)C;
        float rs = A->rs[n];
        float *d = A->dr + o;
        for (i = 0; i < C; i++)
            d[i] = rs * (dy[i] * gamma[i] - s1 - x[i] * s2);
        if (A->da) {
            float *dan = A->da + o;
            if (A->dmask) {
                const uint8_t *mk = A->dmask + o;
                for (i = 0; i < C; i++)
                    dan[i] = mk[i] ? d[i] * A->keep_scale : 0.0f;
            } else {
                memcpy(dan, d, (size_t)C * sizeof(float));
            }
        }
    }
}

static void ln_backward_cols(void *p, int part, int parts)
{
    struct ln_args *A = p;
    int C = A->C, c0, c1;
    split(C, part, parts, 16, &c0, &c1);
    for (int n = 0; n < A->N; n++) {
        const float *dy = A->dout + (size_t)n * C, *x = A->xh + (size_t)n * C;
        for (int c = c0; c < c1; c++) {
            A->dgamma[c] += dy[c] * x[c];
            A->dbeta[c] += dy[c];
        }
    }
}

void residual_layernorm_backward(float *dr, float *da, float *dgamma, float *dbeta,
                                 const float *dout, const float *xhat, const float *rstd,
                                 const uint8_t *dmask, float keep_scale, const float *gamma,
                                 int N, int C)
{
    struct ln_args A = {.dr = dr, .da = da, .dgamma = dgamma, .dbeta = dbeta, .dout = dout,
                        .xh = xhat, .rs = rstd, .dmask = dmask, .keep_scale = keep_scale,
                        .gamma = gamma, .N = N, .C = C};
    ops_parallel(ln_backward_cols, &A);
    ops_parallel(ln_backward_rows, &A);
}

/* ---- GELU -------------------------------------------------------------- */

struct gelu_args {
    float *g, *f, *dg, *dbias;
    const float *bias, *fc, *gc;
    int N, F;
};

static void gelu_forward_part(void *p, int part, int parts)
{
    struct gelu_args *A = p;
    int F = A->F, r0, r1;
    split(A->N, part, parts, 1, &r0, &r1);
    for (int n = r0; n < r1; n++) {
        float *fr = A->f + (size_t)n * F, *gr = A->g + (size_t)n * F;
        bias_gelu_row(gr, fr, A->bias, F);
    }
}

void bias_gelu_forward(float *g, float *f, const float *bias, int N, int F)
{
    struct gelu_args A = {.g = g, .f = f, .bias = bias, .N = N, .F = F};
    ops_parallel(gelu_forward_part, &A);
}

/* dg *= gelu'(f) and dbias += column sums of the result, in one pass over
 * [N, F]: split by columns so each dbias entry is summed over the rows in
 * order whatever the thread count (the separate colsum pass read all of
 * dg a second time). */
static void gelu_backward_part(void *p, int part, int parts)
{
    struct gelu_args *A = p;
    int F = A->F, c0, c1;
    split(F, part, parts, 16, &c0, &c1);
    float *db = A->dbias;
    for (int n = 0; n < A->N; n++) {
        float *d = A->dg + (size_t)n * F;
        const float *fr = A->fc + (size_t)n * F, *gr = A->gc + (size_t)n * F;
        gelu_grad_cols(d, db, fr, gr, c0, c1);
    }
}

void gelu_backward(float *dg, float *dbias, const float *f, const float *g, int N, int F)
{
    struct gelu_args A = {.dg = dg, .dbias = dbias, .fc = f, .gc = g, .N = N, .F = F};
    ops_parallel(gelu_backward_part, &A);
}

/* ---- attention ---------------------------------------------------------
 * One task per (sequence, head) on our pool: scores, softmax (and dropout)
 * and context of a head run back to back while its T x T block is in
 * cache, with single-threaded sgemm; each (sequence, head) is computed the
 * same way whatever the thread count. Keys after a sequence's last
 * unmasked token (its padding) are skipped: their probabilities are exactly
 * 0, so leaving them out of the products changes no result, and a batch
 * padded to its longest row pays for the attention of the real tokens
 * only. */

struct att_args {
    float *ctx, *P, *Pd, *dP, *dq, *dk, *dv, *dqb, *dkb, *dvb;
    const float *q, *k, *v, *dctx;
    const uint8_t *pmask;
    const int32_t *mask;
    float keep_scale, scale;
    int B, T, C, NH;
};

/* Head i of the batch: its column offset in [B*T, C] rows and the number of
 * keys up to the sequence's last unmasked one (at least 1). */
static size_t att_head(const struct att_args *A, int i, int *n_keys)
{
    int b = i / A->NH, h = i % A->NH, nk = A->T;
    if (A->mask) {
        const int32_t *mk = A->mask + (size_t)b * A->T;
        while (nk > 1 && !mk[nk - 1])
            nk--;
    }
    *n_keys = nk;
    return (size_t)b * A->T * A->C + (size_t)h * (A->C / A->NH);
}

/* Softmax over the first nk keys of each of the T rows (stride T) of a
 * head's scores S with the padding mask mk (masked keys get exactly 0, as
 * exp(finfo.min - max) in HF), then the dropout copy into Sd. */
static void softmax_rows(float *S, float *Sd, const uint8_t *pm, const int32_t *mk,
                         float keep_scale, int T, int nk)
{
    for (int r = 0; r < T; r++) {
        float *row = S + (size_t)r * T;
        float mx = -INFINITY;
        for (int j = 0; j < nk; j++)
            if (mk[j] && row[j] > mx)
                mx = row[j];
        for (int j = 0; j < nk; j++)
            row[j] -= mx;
        exp_row(row, nk);
        for (int j = 0; j < nk; j++)
            row[j] = mk[j] ? row[j] : 0.0f;
        float inv = 1.0f / sum_fixed(row, nk);
        for (int j = 0; j < nk; j++)
            row[j] *= inv;
        if (pm) {
            const uint8_t *pr = pm + (size_t)r * T;
            float *pd = Sd + (size_t)r * T;
            for (int j = 0; j < nk; j++)
                pd[j] = pr[j] ? row[j] * keep_scale : 0.0f;
        }
    }
}

static void att_forward_part(void *p, int part, int parts)
{
    struct att_args *A = p;
    int T = A->T, C = A->C, hd = C / A->NH, i0, i1, nk;
    size_t TT = (size_t)T * T;
    split(A->B * A->NH, part, parts, 1, &i0, &i1);
    for (int i = i0; i < i1; i++) {
        size_t base = att_head(A, i, &nk);
        float *S = A->P + (size_t)i * TT, *Sd = A->pmask ? A->Pd + (size_t)i * TT : NULL;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, nk, hd, A->scale, A->q + base,
                    C, A->k + base, C, 0.0f, S, T);
        softmax_rows(S, Sd, A->pmask ? A->pmask + (size_t)i * TT : NULL,
                     A->mask + (size_t)(i / A->NH) * T, A->keep_scale, T, nk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, nk, 1.0f, Sd ? Sd : S, T,
                    A->v + base, C, 0.0f, A->ctx + base, C);
    }
}

void attention_forward(float *ctx, float *probs, float *pdrop, const float *q,
                       const float *k, const float *v, const int32_t *mask,
                       const uint8_t *pmask, float keep_scale, int B, int T, int C, int NH)
{
    struct att_args A = {.ctx = ctx, .P = probs, .Pd = pdrop, .q = q, .k = k, .v = v,
                         .pmask = pmask, .mask = mask, .keep_scale = keep_scale,
                         .scale = 1.0f / sqrtf((float)(C / NH)), .B = B, .T = T, .C = C,
                         .NH = NH};
    ops_parallel(att_forward_part, &A);
}

/* dS = Pd (.) dPd - P (.) <Pd, dPd> row by row (first nk entries of each of
 * the T rows, stride T), where Pd = P (.) keep / (1 - p) is what multiplied
 * V: the chain rule through dropout and softmax, with no mask needed (Pd is
 * 0 where dropped). Overwrites d with dS. */
static void softmax_backward_rows(float *d, const float *P, const float *Pd, int T, int nk)
{
    for (int r = 0; r < T; r++) {
        float *dr = d + (size_t)r * T;
        const float *pr = P + (size_t)r * T, *pd = Pd + (size_t)r * T;
        float acc[VB] = {0}, dot = 0.0f;
        int j = 0;
        for (; j + VB <= nk; j += VB)
            for (int u = 0; u < VB; u++)
                acc[u] += pd[j + u] * dr[j + u];
        for (; j < nk; j++)
            dot += pd[j] * dr[j];
        for (int u = 0; u < VB; u++)
            dot += acc[u];
        for (j = 0; j < nk; j++)
            dr[j] = pd[j] * dr[j] - pr[j] * dot;
    }
}

/* rows [r0, T) of a head's hd columns of x [B*T, C] (from base) = 0 */
static void zero_head_rows(float *x, size_t base, int r0, int T, int C, int hd)
{
    for (int r = r0; r < T; r++)
        memset(x + base + (size_t)r * C, 0, (size_t)hd * sizeof(float));
}

/* db[hd] += the T rows of a head's hd columns of x [B*T, C] (from base),
 * in row order */
static void add_head_rows(float *db, const float *x, size_t base, int T, int C, int hd)
{
    for (int r = 0; r < T; r++) {
        const float *row = x + base + (size_t)r * C;
        for (int j = 0; j < hd; j++)
            db[j] += row[j];
    }
}

/* Split by head, each head's sequences in order: the bias gradients of Q,
 * K and V (column sums of dq, dk, dv) are summed while a (sequence, head)
 * block is still in cache, over the rows in the same order as a column sum
 * of the whole [B*T, C] array, whatever the thread count. */
static void att_backward_part(void *p, int part, int parts)
{
    struct att_args *A = p;
    int T = A->T, C = A->C, hd = C / A->NH, h0, h1, nk;
    size_t TT = (size_t)T * T;
    split(A->NH, part, parts, 1, &h0, &h1);
    for (int h = h0; h < h1; h++)
        for (int b = 0; b < A->B; b++) {
            int i = b * A->NH + h;
            size_t base = att_head(A, i, &nk);
            const float *P = A->P + (size_t)i * TT, *Pd = A->Pd + (size_t)i * TT;
            float *dS = A->dP + (size_t)i * TT;
            /* dV = Pd^T dctx; dPd = dctx V^T (skipped keys: dV = 0) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, T, 1.0f, Pd, T,
                        A->dctx + base, C, 0.0f, A->dv + base, C);
            zero_head_rows(A->dv, base, nk, T, C, hd);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, nk, hd, 1.0f,
                        A->dctx + base, C, A->v + base, C, 0.0f, dS, T);
            softmax_backward_rows(dS, P, Pd, T, nk);
            /* S = scale Q K^T: dQ = scale dS K, dK = scale dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, nk, A->scale, dS, T,
                        A->k + base, C, 0.0f, A->dq + base, C);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, T, A->scale, dS, T,
                        A->q + base, C, 0.0f, A->dk + base, C);
            zero_head_rows(A->dk, base, nk, T, C, hd);
            if (A->dqb)
                add_head_rows(A->dqb + (size_t)h * hd, A->dq, base, T, C, hd);
            if (A->dkb)
                add_head_rows(A->dkb + (size_t)h * hd, A->dk, base, T, C, hd);
            if (A->dvb)
                add_head_rows(A->dvb + (size_t)h * hd, A->dv, base, T, C, hd);
        }
}

void attention_backward(float *dq, float *dk, float *dv, float *dqb, float *dkb, float *dvb,
                        float *scratch, const float *dctx, const float *q, const float *k,
                        const float *v, const float *probs, const float *pdrop,
                        const int32_t *mask, int B, int T, int C, int NH)
{
    struct att_args A = {.P = (float *)probs, .Pd = (float *)(pdrop ? pdrop : probs),
                         .dP = scratch, .dq = dq, .dk = dk, .dv = dv, .dqb = dqb, .dkb = dkb,
                         .dvb = dvb, .q = q, .k = k, .v = v, .dctx = dctx, .mask = mask,
                         .scale = 1.0f / sqrtf((float)(C / NH)), .B = B, .T = T, .C = C,
                         .NH = NH};
    ops_parallel(att_backward_part, &A);
}

/* ---- dropout ----------------------------------------------------------- */

/* Masks are drawn in chunks of DROP_CHUNK entries, chunk c from its own
 * stream rng_key(seed, c) with seed one output of the caller's generator:
 * the chunks can be filled in parallel and the mask does not depend on the
 * thread count. Two entries per output: high, then low 32 bits u; keep
 * when u >= p 2^32, so P(keep) = 1 - p. */
#define DROP_CHUNK 65536

struct mask_args {
    uint8_t *keep;
    uint64_t seed, thr;
    size_t n;
};

static void mask_part(void *p, int part, int parts)
{
    struct mask_args *A = p;
    size_t chunks = (A->n + DROP_CHUNK - 1) / DROP_CHUNK;
    size_t c0 = chunks * (size_t)part / (size_t)parts, c1 = chunks * (size_t)(part + 1) / (size_t)parts;
    for (size_t c = c0; c < c1; c++) {
        struct rng r;
        rng_init(&r, rng_key(A->seed, c));
        size_t lo = c * DROP_CHUNK, hi = lo + DROP_CHUNK < A->n ? lo + DROP_CHUNK : A->n, i = lo;
        for (; i + 2 <= hi; i += 2) {
            uint64_t x = rng_next(&r);
            A->keep[i] = (x >> 32) >= A->thr;
            A->keep[i + 1] = (x & 0xffffffffu) >= A->thr;
        }
        if (i < hi)
            A->keep[i] = (rng_next(&r) >> 32) >= A->thr;
    }
}

void dropout_mask(uint8_t *keep, struct rng *r, float p, size_t n)
{
    struct mask_args A = {keep, rng_next(r), (uint64_t)((double)p * 4294967296.0 + 0.5), n};
    ops_parallel(mask_part, &A);
}

struct drop_args {
    float *x;
    const uint8_t *keep;
    float scale;
    size_t n;
};

static void dropout_part(void *p, int part, int parts)
{
    struct drop_args *A = p;
    size_t lo = A->n * (size_t)part / (size_t)parts, hi = A->n * (size_t)(part + 1) / (size_t)parts;
    for (size_t i = lo; i < hi; i++)
        A->x[i] = A->keep[i] ? A->x[i] * A->scale : 0.0f;
}

void dropout_apply(float *x, const uint8_t *keep, float scale, size_t n)
{
    struct drop_args A = {x, keep, scale, n};
    ops_parallel(dropout_part, &A);
}

/* ---- optimizer passes over a flat weight vector --------------------------
 * Element-wise (AdamW) or reduced in chunks fixed by n alone (sum of
 * squares), so the result does not depend on the thread count. */

#define SUMSQ_CHUNKS 256
#define SUMSQ_MIN 16384 /* floats a chunk at least */
#define OPT_PAR_MIN 65536 /* below this, one thread: a pool call costs more */

static double sumsq_range(const float *x, size_t n)
{
    double acc[8] = {0}, s = 0.0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++)
        s += (double)x[i] * (double)x[i];
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return s;
}

struct sumsq_args {
    const float *x;
    size_t n, chunk;
    double *sums;
};

static void sumsq_part(void *p, int part, int parts)
{
    struct sumsq_args *A = p;
    int c0, c1;
    split((int)((A->n + A->chunk - 1) / A->chunk), part, parts, 1, &c0, &c1);
    for (int c = c0; c < c1; c++) {
        size_t lo = (size_t)c * A->chunk, hi = lo + A->chunk < A->n ? lo + A->chunk : A->n;
        A->sums[c] = sumsq_range(A->x + lo, hi - lo);
    }
}

double ops_sumsq(const float *x, size_t n)
{
    size_t chunk = (n + SUMSQ_CHUNKS - 1) / SUMSQ_CHUNKS;
    if (chunk < SUMSQ_MIN)
        chunk = SUMSQ_MIN;
    if (n <= chunk)
        return sumsq_range(x, n);
    double sums[SUMSQ_CHUNKS];
    struct sumsq_args A = {x, n, chunk, sums};
    ops_parallel(sumsq_part, &A);
    double s = 0.0;
    for (size_t c = 0; c < (n + chunk - 1) / chunk; c++)
        s += sums[c];
    return s;
}

struct adamw_args {
    float *x, *mom, *vel;
    const float *g;
    const uint8_t *decay;
    size_t n;
    float gscale;
    const struct ops_adamw *c;
    int dir_only; /* x receives the direction step m / (sqrt(v) rbc2 + eps) instead of the update */
};

/* elements [lo, hi): the vector loop and the scalar tail compute the same
 * float expression in the same order (no FMA contraction in ISO C mode),
 * so a result does not depend on where the vectors fall */
static void adamw_range(const struct adamw_args *A, size_t lo, size_t hi)
{
    const struct ops_adamw *c = A->c;
    int scaled = A->gscale != 1.0f, decay_all = c->use_wd && !A->decay;
    float *x = A->x, *mom = A->mom, *vel = A->vel;
    const float *g = A->g;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        vf4 gi = load4(g + i);
        if (scaled)
            gi = gi * A->gscale;
        vf4 mi = c->b1 * load4(mom + i) + c->omb1 * gi;
        vf4 vi = c->b2 * load4(vel + i) + c->omb2 * gi * gi;
        store4(mom + i, mi);
        store4(vel + i, vi);
        if (A->dir_only) {
            store4(x + i, c->step * mi / (sqrt4(vi) * c->rbc2 + c->eps));
            continue;
        }
        vf4 xi = load4(x + i);
        if (decay_all) {
            xi -= c->wd * xi;
        } else if (c->use_wd) {
            vi4 keep = {A->decay[i], A->decay[i + 1], A->decay[i + 2], A->decay[i + 3]};
            keep = keep != 0;
            xi = (vf4)(((vi4)(xi - c->wd * xi) & keep) | ((vi4)xi & ~keep));
        }
        xi -= c->step * mi / (sqrt4(vi) * c->rbc2 + c->eps);
        store4(x + i, xi);
    }
    for (; i < hi; i++) {
        float gi = scaled ? g[i] * A->gscale : g[i];
        float mi = c->b1 * mom[i] + c->omb1 * gi;
        float vi = c->b2 * vel[i] + c->omb2 * gi * gi;
        mom[i] = mi;
        vel[i] = vi;
        if (A->dir_only) {
            x[i] = c->step * mi / (sqrtf(vi) * c->rbc2 + c->eps);
            continue;
        }
        float xi = x[i];
        if (c->use_wd && (!A->decay || A->decay[i]))
            xi -= c->wd * xi;
        xi -= c->step * mi / (sqrtf(vi) * c->rbc2 + c->eps);
        x[i] = xi;
    }
}

static void adamw_part(void *p, int part, int parts)
{
    struct adamw_args *A = p;
    size_t units = (A->n + 15) / 16, lo = units * (size_t)part / (size_t)parts * 16,
           hi = units * (size_t)(part + 1) / (size_t)parts * 16;
    adamw_range(A, lo, hi < A->n ? hi : A->n);
}

void ops_adamw_step(float *x, const float *g, float gscale, float *mom, float *vel,
                    const uint8_t *decay, size_t n, const struct ops_adamw *c)
{
    struct adamw_args A = {x, mom, vel, g, decay, n, gscale, c, 0};
    if (n < OPT_PAR_MIN)
        adamw_range(&A, 0, n);
    else
        ops_parallel(adamw_part, &A);
}

void ops_adam_direction(float *dir, const float *g, float gscale, float *mom, float *vel,
                        size_t n, const struct ops_adamw *c)
{
    struct adamw_args A = {dir, mom, vel, g, NULL, n, gscale, c, 1};
    if (n < OPT_PAR_MIN)
        adamw_range(&A, 0, n);
    else
        ops_parallel(adamw_part, &A);
}
