/* fastfood.c - the Fastfood projection theta = theta0 + P theta_d and its
 * exact adjoint (Le, Sarlos, Smola 2013; Li et al. 2018; Aghajanyan et al.
 * 2021). Stage: after model. Contract and formula: include/fastfood.h;
 * generator, table layouts and measured figures: docs/PROJECTION.md.
 *
 * Per transform (one per tensor, or one over all D parameters):
 *   P x  = first n entries of H G Pi H B pad(x) * scale
 *   P^T g = first d entries of B H Pi^T G H pad(g) * scale
 *
 * Two identities keep this cheap (M = min(LL, 2^ceil(log2 d))):
 *  - pad(x) is zero beyond d <= M, and H_LL = H_{LL/M} (x) H_M, so
 *    H B pad(x) is the M-vector w = H_M B pad_M(x) repeated LL/M times.
 *    The gather z_i = (H B pad x)_{Pi(i)} is therefore w[Pi(i) mod M]: a
 *    lookup in an L1/L2-resident table instead of a random read over LL
 *    floats (measured 16 ms instead of ~200 ms for LL = 2^24).
 *  - The adjoint keeps only the first d <= M entries of H u, and
 *    (H u)_j = (H_M fold(u))_j with fold(u)_j = sum_k u_{kM+j}; so the
 *    scatter u_{Pi(i)} = G_i h_i becomes f[Pi(i) mod M] += G_i h_i.
 * Hence only Pi(i) mod M is stored (uint16 when M <= 65536), with G (float)
 * and the first d signs of B. These are exact rewritings: the result is the
 * formula above, not an approximation.
 *
 * The long FWHT runs in two memory passes: blocks of BLK floats (in L2)
 * get the short-stride stages; then column tiles (all LL/BLK rows, W
 * columns, copied into a contiguous per-thread tile to avoid power-of-two
 * set conflicts) get the long-stride stages. Every element sees the same
 * additions in the same order (stages by increasing stride), whatever the
 * blocking, the SIMD width or the thread count, so results are bitwise
 * those of the naive loop fwht_reference(). The adjoint's fold is summed in
 * double into NCH partial tables over a fixed partition of the tiles and
 * reduced in partition order: independent of the thread count too. */
#include "fastfood.h"
#include "memguard.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "rng.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FF_HAVE_AVX2 1
#else
#define FF_HAVE_AVX2 0
#endif

#define SUB_LG 12          /* L1 sub-block: 2^12 floats = 16 KiB */
#ifndef BLK_LG_MIN
#define BLK_LG_MIN 18      /* pass-1 block: at least 2^18 floats = 1 MiB (L2) */
#endif
#define ROWS_LG_MAX 11     /* pass 2 handles at most 2^11 rows per tile */
#define TILE_FLOATS (1u << 15) /* per-thread tile: rows * W <= 2^15 floats */
#ifndef TILE_TARGET
#define TILE_TARGET (1u << 13) /* aim for 32 KiB tiles (L1) */
#endif
#define NCH_MAX 8          /* fold partials: fixed partition of the tiles */
#define PAR_MIN_LG 17      /* transforms with LL >= 2^17 use every thread */
#define LL_MAX_LG 31       /* Pi stored as uint32 */

/* ---------------------------------------------------------------- kernels */

static int simd_cap = 2; /* fwht_set_simd's limit */

/* 0 scalar, 1 AVX2, 2 AVX-512F: what the CPU has, capped by fwht_set_simd */
static int simd_level(void)
{
#if FF_HAVE_AVX2
    int m = cpu_simd_max();
    return m < simd_cap ? m : simd_cap;
#else
    return 0;
#endif
}

static int use_avx2(void) { return simd_level() >= 1; }
static int use_avx512(void) { return simd_level() >= 2; }

void fwht_set_simd(int level) { simd_cap = level < 0 ? 0 : level; }

int fwht_simd_level(void) { return simd_level(); }

/* Stages h = 1, 2, 4 on each group of 8 (n a multiple of 8). */
static void k_stage8_c(float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        float *v = x + i;
        for (size_t h = 1; h < 8; h <<= 1)
            for (size_t b = 0; b < 8; b += 2 * h)
                for (size_t j = b; j < b + h; j++) {
                    float a = v[j], c = v[j + h];
                    v[j] = a + c;
                    v[j + h] = a - c;
                }
    }
}

/* One stage of stride h over n entries. */
static void k_r2_c(float *x, size_t n, size_t h)
{
    for (size_t b = 0; b < n; b += 2 * h)
        for (size_t j = b; j < b + h; j++) {
            float a = x[j], c = x[j + h];
            x[j] = a + c;
            x[j + h] = a - c;
        }
}

/* Stages h then 2h in one sweep (same additions as two radix-2 stages). */
static void k_r4_c(float *x, size_t n, size_t h)
{
    for (size_t b = 0; b < n; b += 4 * h)
        for (size_t j = b; j < b + h; j++) {
            float a = x[j], c = x[j + h], e = x[j + 2 * h], f = x[j + 3 * h];
            float s1 = a + c, d1 = a - c, s2 = e + f, d2 = e - f;
            x[j] = s1 + s2;
            x[j + h] = d1 + d2;
            x[j + 2 * h] = s1 - s2;
            x[j + 3 * h] = d1 - d2;
        }
}

#if FF_HAVE_AVX2
__attribute__((target("avx2"))) static void k_stage8_v(float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 p = _mm256_permute_ps(v, 0xB1);
        v = _mm256_blend_ps(_mm256_add_ps(v, p), _mm256_sub_ps(p, v), 0xAA);
        p = _mm256_permute_ps(v, 0x4E);
        v = _mm256_blend_ps(_mm256_add_ps(v, p), _mm256_sub_ps(p, v), 0xCC);
        p = _mm256_permute2f128_ps(v, v, 0x01);
        v = _mm256_blend_ps(_mm256_add_ps(v, p), _mm256_sub_ps(p, v), 0xF0);
        _mm256_storeu_ps(x + i, v);
    }
}

__attribute__((target("avx2"))) static void k_r2_v(float *x, size_t n, size_t h)
{
    for (size_t b = 0; b < n; b += 2 * h)
        for (size_t j = b; j < b + h; j += 8) {
            __m256 a = _mm256_loadu_ps(x + j), c = _mm256_loadu_ps(x + j + h);
            _mm256_storeu_ps(x + j, _mm256_add_ps(a, c));
            _mm256_storeu_ps(x + j + h, _mm256_sub_ps(a, c));
        }
}

__attribute__((target("avx2"))) static void k_r4_v(float *x, size_t n, size_t h)
{
    for (size_t b = 0; b < n; b += 4 * h)
        for (size_t j = b; j < b + h; j += 8) {
            __m256 a = _mm256_loadu_ps(x + j), c = _mm256_loadu_ps(x + j + h);
            __m256 e = _mm256_loadu_ps(x + j + 2 * h), f = _mm256_loadu_ps(x + j + 3 * h);
            __m256 s1 = _mm256_add_ps(a, c), d1 = _mm256_sub_ps(a, c);
            __m256 s2 = _mm256_add_ps(e, f), d2 = _mm256_sub_ps(e, f);
            _mm256_storeu_ps(x + j, _mm256_add_ps(s1, s2));
            _mm256_storeu_ps(x + j + h, _mm256_add_ps(d1, d2));
            _mm256_storeu_ps(x + j + 2 * h, _mm256_sub_ps(s1, s2));
            _mm256_storeu_ps(x + j + 3 * h, _mm256_sub_ps(d1, d2));
        }
}
#endif

#if FF_HAVE_AVX2
/* Strides 1, 2, 4, 8 inside each 16-float register. */
__attribute__((target("avx512f"))) static void k_stage16_w(float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 p = _mm512_permute_ps(v, 0xB1);
        v = _mm512_mask_blend_ps(0xAAAA, _mm512_add_ps(v, p), _mm512_sub_ps(p, v));
        p = _mm512_permute_ps(v, 0x4E);
        v = _mm512_mask_blend_ps(0xCCCC, _mm512_add_ps(v, p), _mm512_sub_ps(p, v));
        p = _mm512_shuffle_f32x4(v, v, 0xB1); /* swap 128-bit lanes 0<->1, 2<->3 */
        v = _mm512_mask_blend_ps(0xF0F0, _mm512_add_ps(v, p), _mm512_sub_ps(p, v));
        p = _mm512_shuffle_f32x4(v, v, 0x4E); /* swap 256-bit halves */
        v = _mm512_mask_blend_ps(0xFF00, _mm512_add_ps(v, p), _mm512_sub_ps(p, v));
        _mm512_storeu_ps(x + i, v);
    }
}

__attribute__((target("avx512f"))) static void k_r2_w(float *x, size_t n, size_t h)
{
    for (size_t b = 0; b < n; b += 2 * h)
        for (size_t j = b; j < b + h; j += 16) {
            __m512 a = _mm512_loadu_ps(x + j), c = _mm512_loadu_ps(x + j + h);
            _mm512_storeu_ps(x + j, _mm512_add_ps(a, c));
            _mm512_storeu_ps(x + j + h, _mm512_sub_ps(a, c));
        }
}

__attribute__((target("avx512f"))) static void k_r4_w(float *x, size_t n, size_t h)
{
    for (size_t b = 0; b < n; b += 4 * h)
        for (size_t j = b; j < b + h; j += 16) {
            __m512 a = _mm512_loadu_ps(x + j), c = _mm512_loadu_ps(x + j + h);
            __m512 e = _mm512_loadu_ps(x + j + 2 * h), f = _mm512_loadu_ps(x + j + 3 * h);
            __m512 s1 = _mm512_add_ps(a, c), d1 = _mm512_sub_ps(a, c);
            __m512 s2 = _mm512_add_ps(e, f), d2 = _mm512_sub_ps(e, f);
            _mm512_storeu_ps(x + j, _mm512_add_ps(s1, s2));
            _mm512_storeu_ps(x + j + h, _mm512_add_ps(d1, d2));
            _mm512_storeu_ps(x + j + 2 * h, _mm512_sub_ps(s1, s2));
            _mm512_storeu_ps(x + j + 3 * h, _mm512_sub_ps(d1, d2));
        }
}
#endif

static void k_stage8(float *x, size_t n)
{
#if FF_HAVE_AVX2
    if (use_avx2()) {
        k_stage8_v(x, n);
        return;
    }
#endif
    k_stage8_c(x, n);
}

static void k_r2(float *x, size_t n, size_t h)
{
#if FF_HAVE_AVX2
    if (h >= 16 && use_avx512()) {
        k_r2_w(x, n, h);
        return;
    }
    if (h >= 8 && use_avx2()) {
        k_r2_v(x, n, h);
        return;
    }
#endif
    k_r2_c(x, n, h);
}

static void k_r4(float *x, size_t n, size_t h)
{
#if FF_HAVE_AVX2
    if (h >= 16 && use_avx512()) {
        k_r4_w(x, n, h);
        return;
    }
    if (h >= 8 && use_avx2()) {
        k_r4_v(x, n, h);
        return;
    }
#endif
    k_r4_c(x, n, h);
}

/* Stages h = h0, 2 h0, ... up to n/2 (h0 >= 8 or the whole range). */
static void stages_from(float *x, size_t n, size_t h0)
{
    size_t h = h0;
    for (; 4 * h <= n; h *= 4)
        k_r4(x, n, h);
    if (2 * h <= n)
        k_r2(x, n, h);
}

/* All stages of a contiguous array that fits in cache. */
static void fwht_local(float *x, size_t n)
{
    if (n < 8) {
        for (size_t h = 1; h < n; h <<= 1)
            k_r2_c(x, n, h);
        return;
    }
#if FF_HAVE_AVX2
    if (n >= 16 && use_avx512()) {
        k_stage16_w(x, n);
        stages_from(x, n, 16);
        return;
    }
#endif
    k_stage8(x, n);
    stages_from(x, n, 8);
}

/* In-block stages of a block of blk floats: L1 sub-blocks first. */
static void fwht_block(float *x, size_t blk)
{
    size_t sub = (size_t)1 << SUB_LG;
    if (blk <= sub) {
        fwht_local(x, blk);
        return;
    }
    for (size_t s = 0; s < blk; s += sub)
        fwht_local(x + s, sub);
    stages_from(x, blk, sub);
}

void fwht_reference(float *x, size_t n)
{
    for (size_t h = 1; h < n; h <<= 1)
        k_r2_c(x, n, h);
}

/* -------------------------------------------------------------- geometry */

struct geom {
    size_t LL, blk, rows, W, n_tiles; /* rows = LL / blk; tiles of rows x W */
};

static void geom_of(size_t LL, struct geom *g)
{
    int lg = 0;
    while (((size_t)1 << lg) < LL)
        lg++;
    /* Depends on LL only (the adjoint's fold order follows the tiles).
     * From 2^17 up keep at least 4 rows so pass 1 splits over threads. */
    int blk_lg;
    if (lg - ROWS_LG_MAX > BLK_LG_MIN)
        blk_lg = lg - ROWS_LG_MAX;
    else if (lg >= BLK_LG_MIN + 2)
        blk_lg = BLK_LG_MIN;
    else if (lg >= PAR_MIN_LG)
        blk_lg = lg - 2;
    else
        blk_lg = lg;
    g->LL = LL;
    g->blk = (size_t)1 << blk_lg;
    g->rows = LL / g->blk;
    size_t W = g->rows > 1 ? TILE_TARGET / g->rows : g->blk;
    if (W < 16)
        W = 16;
    if (W > g->blk)
        W = g->blk;
    g->W = W;
    g->n_tiles = g->blk / W;
}

/* Copy tile (column block c0..c0+W of every row) into t, and back; the
 * rows of the next tile are prefetched (strided rows defeat the hardware
 * prefetcher). W is a multiple of 16 floats. */
static void tile_load(float *restrict t, const float *restrict x, const struct geom *g,
                      size_t c0)
{
    size_t W = g->W, nxt = c0 + W < g->blk ? c0 + W : c0;
    for (size_t r = 0; r < g->rows; r++) {
        const float *src = x + r * g->blk + c0;
        const char *pf = (const char *)(x + r * g->blk + nxt);
        for (size_t q = 0; q < W * sizeof(float); q += 64)
            __builtin_prefetch(pf + q);
        float *dst = t + r * W;
        for (size_t c = 0; c < W; c++)
            dst[c] = src[c];
    }
}

static void tile_store(float *restrict x, const float *restrict t, const struct geom *g,
                       size_t c0)
{
    size_t W = g->W;
    for (size_t r = 0; r < g->rows; r++) {
        float *dst = x + r * g->blk + c0;
        const float *src = t + r * W;
        for (size_t c = 0; c < W; c++)
            dst[c] = src[c];
    }
}

/* The long-stride stages of a loaded tile: row strides 1..rows/2. */
static void tile_stages(float *t, const struct geom *g)
{
    stages_from(t, g->rows * g->W, g->W);
}

/* ------------------------------------------------------------- the pool */

typedef void (*task_fn)(void *ctx, size_t task, int tid);

struct pool {
    int T;
    pthread_t *th;
    int started;             /* workers actually created */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned gen;            /* job number (under mu) */
    int open;                /* workers may still join the current job (under mu) */
    int joined;              /* workers inside the current job (under mu) */
    int quit;
    task_fn fn;              /* the current job: read only by joined workers */
    void *ctx;
    size_t ntasks;
    atomic_size_t next;      /* next task to take */
    const volatile int *stop; /* when set and raised, tasks not yet taken are skipped */
};

struct worker_arg {
    struct pool *p;
    int tid;
};

/* Takes tasks until none is left. Which thread runs a task never changes
 * what it computes (tasks write disjoint outputs or per-task partials). */
static void run_tasks(struct pool *p, int tid)
{
    for (;;) {
        size_t k = atomic_fetch_add(&p->next, 1);
        if (k >= p->ntasks || (p->stop && *p->stop))
            break;
        p->fn(p->ctx, k, tid);
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct pool *p = wa->p;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        if (!p->open) /* woke too late: the caller already finished the job */
            continue;
        p->joined++;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, wa->tid);
        pthread_mutex_lock(&p->mu);
        if (--p->joined == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Runs fn(ctx, k, tid) for k in [0, ntasks), tasks taken dynamically by
 * the caller (tid 0) and whichever workers wake up in time: on a busy
 * machine the caller does not wait for a worker that is not running. */
static void pool_run(struct pool *p, size_t ntasks, task_fn fn, void *ctx, int parallel)
{
    if (!parallel || p->started == 0 || ntasks < 2) {
        for (size_t k = 0; k < ntasks && !(p->stop && *p->stop); k++)
            fn(ctx, k, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    p->open = 1;
    p->joined = 0;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    pthread_mutex_lock(&p->mu);
    p->open = 0;
    while (p->joined > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------ the struct */

struct xform {
    size_t n;          /* entries projected: n_t, or D (global) */
    size_t off;        /* first entry in the D-vector */
    size_t LL, M;      /* transform length; fold length min(LL, 2^ceil(log2 d)) */
    uint64_t key;      /* rng_key(proj_seed, t) */
    double scale;      /* 1 / sqrt(n * sum(G^2)) */
    struct geom g;
    int8_t *B;         /* [d] first d signs (B beyond d never meets a nonzero) */
    float *G;          /* [LL] */
    uint16_t *pi16;    /* [LL] Pi(i) mod M when M <= 65536, else NULL */
    uint32_t *pi32;    /* [LL] Pi(i) mod M when M > 65536, else NULL */
};

struct fastfood {
    size_t m, d, D;
    enum ff_scope scope;
    uint64_t proj_seed;
    int grad_compat;
    size_t *n, *off;       /* [m] tensor sizes and offsets */
    size_t nx;             /* transforms */
    struct xform *x;       /* [nx] */
    size_t LLmax, Mmax;
    float *buf;            /* [LLmax] the long transform */
    float *wbuf;           /* [Mmax] H_M B x, or the folded adjoint */
    double *part;          /* [NCH_MAX * Mmax] fold partials */
    double *xacc;          /* [d] adjoint accumulator */
    float **tile;          /* [T] per-thread tiles of TILE_FLOATS */
    float *tile_mem;
    void *tab_mem;         /* get_tables regeneration buffer (lazy) */
    size_t tab_cap;
    size_t table_bytes;
    struct pool pool;
    struct worker_arg *wargs;
};

size_t fastfood_n_transforms(const struct fastfood *ff) { return ff->nx; }
size_t fastfood_dim(const struct fastfood *ff) { return ff->d; }
size_t fastfood_table_bytes(const struct fastfood *ff) { return ff->table_bytes; }

static size_t pow2_at_least(size_t v)
{
    size_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

static void *alloc_big(size_t bytes)
{
    size_t a = bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    size_t sz = (bytes + a - 1) / a * a;
    void *p = aligned_alloc(a, sz ? sz : a);
    return p;
}

/* ----------------------------------------------------------- generation */

/* The documented generator (docs/PROJECTION.md), from one stream
 * rng_init(rng_key(proj_seed, t)), in this order:
 *   B_i, i = 0..LL-1:  -1 if the top bit of rng_next() is set, else +1;
 *   Pi: identity, then for i = LL-1 down to 1: j = rng_below(i + 1),
 *       swap(Pi[i], Pi[j])  (Durstenfeld's Fisher-Yates: uniform);
 *   G_i, i = 0..LL-1:  (float) rng_normal().
 * B is kept for i < nB, Pi in perm (full), G in G. Returns early, the
 * tables incomplete, once stop (may be NULL) is raised. */
static void gen_tables(uint64_t key, size_t LL, int8_t *B, size_t nB, uint32_t *perm, float *G,
                       const volatile int *stop)
{
    struct rng r;
    rng_init(&r, key);
    /* Ctrl-C: every loop polls stop each 2^20 entries and returns; ff_create
     * then drops the half-made tables */
    for (size_t i = 0; i < LL; i++) {
        uint64_t v = rng_next(&r);
        if (i < nB)
            B[i] = (v >> 63) ? -1 : 1;
        if ((i & 0xfffff) == 0xfffff && stop && *stop)
            return;
    }
    for (size_t i = 0; i < LL; i++)
        perm[i] = (uint32_t)i;
    /* Fisher-Yates with the next 32 swap targets prefetched: the draws do
     * not depend on the array, so this is the same sequence of swaps. */
    enum { AHEAD = 32 };
    uint32_t js[AHEAD];
    size_t i = LL - 1, polls = 0;
    while (i >= 1) {
        size_t k = i < AHEAD ? i : AHEAD;
        for (size_t q = 0; q < k; q++) {
            js[q] = (uint32_t)rng_below(&r, (uint64_t)(i - q) + 1);
            __builtin_prefetch(perm + js[q], 1);
        }
        for (size_t q = 0; q < k; q++) {
            size_t a = i - q, b = js[q];
            uint32_t t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
        i -= k;
        if ((++polls & 0x7fff) == 0 && stop && *stop) /* every 2^20 swaps */
            return;
    }
    for (size_t q = 0; q < LL; q++) {
        G[q] = (float)rng_normal(&r);
        if ((q & 0xfffff) == 0xfffff && stop && *stop)
            return;
    }
}

struct gen_ctx {
    struct fastfood *ff;
    uint32_t **perm;        /* [T] per-thread scratch of LLmax */
    size_t *order;          /* transforms, largest first */
    atomic_size_t next;
};

static void gen_one(struct fastfood *ff, struct xform *X, uint32_t *perm)
{
    gen_tables(X->key, X->LL, X->B, ff->d, perm, X->G, &idim_interrupted);
    size_t mask = X->M - 1;
    double s = 0.0;
    /* by pieces of 2^20 entries, polling Ctrl-C (the first touch of the
     * tables' pages is slow on a busy machine) */
    for (size_t i0 = 0; i0 < X->LL && !idim_interrupted; i0 += (size_t)1 << 20) {
        size_t i1 = X->LL - i0 < ((size_t)1 << 20) ? X->LL : i0 + ((size_t)1 << 20);
        if (X->pi16)
            for (size_t i = i0; i < i1; i++)
                X->pi16[i] = (uint16_t)(perm[i] & mask);
        else
            for (size_t i = i0; i < i1; i++)
                X->pi32[i] = (uint32_t)(perm[i] & mask);
        for (size_t i = i0; i < i1; i++)
            s += (double)X->G[i] * (double)X->G[i];
    }
    X->scale = 1.0 / sqrt((double)X->n * s);
}

static void gen_task(void *vctx, size_t task, int tid)
{
    (void)task;
    struct gen_ctx *c = vctx;
    for (;;) {
        size_t k = atomic_fetch_add(&c->next, 1);
        if (k >= c->ff->nx || idim_interrupted)
            break;
        gen_one(c->ff, &c->ff->x[c->order[k]], c->perm[tid]);
    }
}

static int cmp_ll_desc(const void *a, const void *b, void *ctx)
{
    const struct xform *x = ctx;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    if (x[ia].LL != x[ib].LL)
        return x[ia].LL > x[ib].LL ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

/* ------------------------------------------------------------- lifetime */

void fastfood_free(struct fastfood *ff)
{
    if (!ff)
        return;
    pthread_mutex_lock(&ff->pool.mu);
    ff->pool.quit = 1;
    pthread_cond_broadcast(&ff->pool.go);
    pthread_mutex_unlock(&ff->pool.mu);
    for (int i = 0; i < ff->pool.started; i++)
        pthread_join(ff->pool.th[i], NULL);
    pthread_mutex_destroy(&ff->pool.mu);
    pthread_cond_destroy(&ff->pool.go);
    pthread_cond_destroy(&ff->pool.done);
    free(ff->pool.th);
    free(ff->wargs);
    if (ff->x) {
        for (size_t k = 0; k < ff->nx; k++) {
            free(ff->x[k].B);
            free(ff->x[k].G);
            free(ff->x[k].pi16);
            free(ff->x[k].pi32);
        }
        free(ff->x);
    }
    free(ff->n);
    free(ff->off);
    free(ff->buf);
    free(ff->wbuf);
    free(ff->part);
    free(ff->xacc);
    free(ff->tile);
    free(ff->tile_mem);
    free(ff->tab_mem);
    free(ff);
}

/* The bytes fastfood_new(n, m, d, scope, threads) allocates (tables,
 * scratch, the generation buffers), as a double so that absurd sizes do
 * not wrap. */
static double ff_bytes(const size_t *n, size_t m, size_t d, enum ff_scope scope, int threads)
{
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    size_t D = 0;
    for (size_t t = 0; t < m; t++)
        D += n[t];
    size_t Md0 = pow2_at_least(d), nx = scope == FF_SCOPE_TENSOR ? m : 1;
    size_t llmax = 0, mmax = 0;
    double need = (double)d * sizeof(double);
    for (size_t k = 0; k < nx; k++) {
        size_t nk = scope == FF_SCOPE_TENSOR ? n[k] : D;
        size_t LL = pow2_at_least(nk > d ? nk : d), M = Md0 < LL ? Md0 : LL;
        need += (double)d + (double)LL * (sizeof(float) + (M <= 65536 ? 2 : 4));
        llmax = LL > llmax ? LL : llmax;
        mmax = M > mmax ? M : mmax;
    }
    return need + (double)llmax * sizeof(float) * (1 + (size_t)threads) +
           (double)mmax * (sizeof(float) + NCH_MAX * sizeof(double)) +
           (double)threads * TILE_FLOATS * sizeof(float);
}

uint64_t fastfood_memory_bytes(const size_t *n, size_t m, size_t d, enum ff_scope scope,
                               int threads)
{
    double b = ff_bytes(n, m, d, scope, threads);
    return b > 1.8e19 ? UINT64_MAX : (uint64_t)b;
}

/* fastfood_new with transform k keyed by stream key0 + k. */
/* The arguments of ff_create: at least one tensor, d and every tensor
 * within the transform limit; *D = the parameter count. */
static enum idim_status ff_check_args(const size_t *n, size_t m, size_t d, enum ff_scope scope,
                                      size_t *D_out, struct idim_err *err)
{
    if (m == 0 || d == 0)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "fastfood: need at least one tensor and d >= 1 (got %zu tensors, d = %zu)",
                         m, d);
    if (scope != FF_SCOPE_TENSOR && scope != FF_SCOPE_GLOBAL)
        return idim_fail(err, IDIM_ERR_USAGE, "fastfood: unknown scope %d", (int)scope);
    const size_t llcap = (size_t)1 << LL_MAX_LG;
    if (d > llcap)
        return idim_fail(err, IDIM_ERR_USAGE, "fastfood: d = %zu is above the limit 2^%d", d,
                         LL_MAX_LG);
    size_t D = 0;
    for (size_t t = 0; t < m; t++) {
        if (n[t] == 0)
            return idim_fail(err, IDIM_ERR_USAGE, "fastfood: tensor %zu has no entries", t);
        if (n[t] > llcap || D + n[t] > SIZE_MAX / 2)
            return idim_fail(err, IDIM_ERR_USAGE, "fastfood: tensor %zu is too large (%zu)", t,
                             n[t]);
        D += n[t];
    }
    if (scope == FF_SCOPE_GLOBAL && D > llcap)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "fastfood: %zu parameters exceed the global-scope limit 2^%d", D,
                         LL_MAX_LG);
    *D_out = D;
    return IDIM_OK;
}

/* What the tables and scratch will take (ff_bytes), checked (memguard)
 * before any of it is allocated: with d above a tensor's size every
 * transform pads to 2^ceil(log2 d) entries, so d = 10^8 over 200 tensors is
 * ~150 GiB. */
static enum idim_status ff_check_memory(const size_t *n, size_t m, size_t d, size_t D,
                                        enum ff_scope scope, int threads, struct idim_err *err)
{
    size_t nx = scope == FF_SCOPE_TENSOR ? m : 1, llmax = 0;
    for (size_t k = 0; k < nx; k++) {
        size_t nk = scope == FF_SCOPE_TENSOR ? n[k] : D;
        size_t LL = pow2_at_least(nk > d ? nk : d);
        llmax = LL > llmax ? LL : llmax;
    }
    double need = ff_bytes(n, m, d, scope, threads);
    int lg = 0;
    while (lg < 63 && ((size_t)1 << lg) < llmax)
        lg++;
    char what[160];
    snprintf(what, sizeof what,
             "the Fastfood projection for d = %zu over %zu transform%s (largest 2^%d entries)", d,
             nx, nx == 1 ? "" : "s", lg);
    return memguard_check(need > 1.8e19 ? UINT64_MAX : (uint64_t)need, what,
                          "lower --d (each transform holds max(tensor size, d) entries, rounded "
                          "up to a power of 2), or raise --max-memory",
                          err);
}

/* The transforms' geometry and table memory (ff->n, off, nx set).
 * Returns 0, FF_NOMEM or FF_TOOLARGE. */
enum { FF_NOMEM = 1, FF_TOOLARGE = 2 };
static int ff_alloc_xforms(struct fastfood *ff, uint64_t key0)
{
    size_t d = ff->d, Md = pow2_at_least(d);
    for (size_t k = 0; k < ff->nx; k++) {
        struct xform *X = &ff->x[k];
        X->n = ff->scope == FF_SCOPE_TENSOR ? ff->n[k] : ff->D;
        X->off = ff->scope == FF_SCOPE_TENSOR ? ff->off[k] : 0;
        X->LL = pow2_at_least(X->n > d ? X->n : d);
        if (X->LL > ((size_t)1 << LL_MAX_LG))
            return FF_TOOLARGE;
        X->M = Md < X->LL ? Md : X->LL;
        X->key = rng_key(ff->proj_seed, key0 + (uint64_t)k);
        geom_of(X->LL, &X->g);
        X->B = malloc(d);
        X->G = alloc_big(X->LL * sizeof(float));
        if (X->M <= 65536)
            X->pi16 = alloc_big(X->LL * sizeof(uint16_t));
        else
            X->pi32 = alloc_big(X->LL * sizeof(uint32_t));
        if (!X->B || !X->G || (!X->pi16 && !X->pi32))
            return FF_NOMEM;
        ff->table_bytes += d + X->LL * (sizeof(float) + (X->pi16 ? 2 : 4));
        if (X->LL > ff->LLmax)
            ff->LLmax = X->LL;
        if (X->M > ff->Mmax)
            ff->Mmax = X->M;
    }
    return 0;
}

/* Scratch of the transforms and one tile per thread. 0 or FF_NOMEM. */
static int ff_alloc_scratch(struct fastfood *ff, int threads)
{
    ff->buf = alloc_big(ff->LLmax * sizeof(float));
    ff->wbuf = alloc_big(ff->Mmax * sizeof(float));
    ff->part = alloc_big((size_t)NCH_MAX * ff->Mmax * sizeof(double));
    ff->xacc = malloc(ff->d * sizeof(double));
    ff->tile = malloc((size_t)threads * sizeof *ff->tile);
    ff->tile_mem = alloc_big((size_t)threads * TILE_FLOATS * sizeof(float));
    if (!ff->buf || !ff->wbuf || !ff->part || !ff->xacc || !ff->tile || !ff->tile_mem)
        return FF_NOMEM;
    for (int i = 0; i < threads; i++)
        ff->tile[i] = ff->tile_mem + (size_t)i * TILE_FLOATS;
    return 0;
}

/* The pool: threads - 1 workers; the caller is thread 0. Fewer workers
 * when pthread_create fails. 0 or FF_NOMEM. */
static int ff_start_pool(struct fastfood *ff, int threads)
{
    ff->pool.T = threads;
    if (threads <= 1)
        return 0;
    ff->pool.th = calloc((size_t)threads, sizeof(pthread_t));
    ff->wargs = calloc((size_t)threads, sizeof *ff->wargs);
    if (!ff->pool.th || !ff->wargs)
        return FF_NOMEM;
    for (int i = 1; i < threads; i++) {
        ff->wargs[i].p = &ff->pool;
        ff->wargs[i].tid = i;
        if (pthread_create(&ff->pool.th[ff->pool.started], NULL, worker_main, &ff->wargs[i]))
            break;
        ff->pool.started++;
    }
    ff->pool.T = ff->pool.started + 1;
    return 0;
}

/* Tables: transforms are independent streams, so threads may draw them
 * in any order without changing a bit. 0 or FF_NOMEM. */
static int ff_draw_tables(struct fastfood *ff)
{
    int T = ff->pool.T;
    uint32_t *pmem = alloc_big((size_t)T * ff->LLmax * sizeof(uint32_t));
    uint32_t *pp[64];
    size_t *order = malloc(ff->nx * sizeof *order);
    if (!pmem || !order) {
        free(pmem);
        free(order);
        return FF_NOMEM;
    }
    for (int i = 0; i < T; i++)
        pp[i] = pmem + (size_t)i * ff->LLmax;
    for (size_t k = 0; k < ff->nx; k++)
        order[k] = k;
    qsort_r(order, ff->nx, sizeof *order, cmp_ll_desc, ff->x);
    struct gen_ctx gc = {.ff = ff, .perm = pp, .order = order};
    atomic_init(&gc.next, 0);
    pool_run(&ff->pool, (size_t)T, gen_task, &gc, 1);
    free(order);
    free(pmem);
    return 0;
}

static enum idim_status ff_create(struct fastfood **out, const size_t *n, size_t m, size_t d,
                                  enum ff_scope scope, uint64_t proj_seed, int grad_compat,
                                  int threads, uint64_t key0, struct idim_err *err)
{
    *out = NULL;
    size_t D = 0;
    enum idim_status st = ff_check_args(n, m, d, scope, &D, err);
    if (st)
        return st;
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    if ((st = ff_check_memory(n, m, d, D, scope, threads, err)))
        return st;

    struct fastfood *ff = calloc(1, sizeof *ff);
    if (!ff)
        return idim_fail(err, IDIM_ERR_NOMEM, "fastfood: out of memory");
    pthread_mutex_init(&ff->pool.mu, NULL);
    atomic_init(&ff->pool.next, 0);
    pthread_cond_init(&ff->pool.go, NULL);
    pthread_cond_init(&ff->pool.done, NULL);
    ff->m = m;
    ff->d = d;
    ff->D = D;
    ff->scope = scope;
    ff->proj_seed = proj_seed;
    ff->grad_compat = grad_compat ? 1 : 0;
    ff->n = malloc(m * sizeof *ff->n);
    ff->off = malloc(m * sizeof *ff->off);
    ff->nx = scope == FF_SCOPE_TENSOR ? m : 1;
    ff->x = calloc(ff->nx, sizeof *ff->x);
    int fail = !ff->n || !ff->off || !ff->x ? FF_NOMEM : 0;
    for (size_t t = 0, o = 0; !fail && t < m; t++) {
        ff->n[t] = n[t];
        ff->off[t] = o;
        o += n[t];
    }
    if (!fail)
        fail = ff_alloc_xforms(ff, key0);
    if (!fail)
        fail = ff_alloc_scratch(ff, threads);
    if (!fail)
        fail = ff_start_pool(ff, threads);
    if (!fail)
        fail = ff_draw_tables(ff);
    if (!fail && idim_interrupted) { /* the draw stopped part-way */
        fastfood_free(ff);
        return idim_fail(err, IDIM_ERR_INTERRUPTED,
                         "interrupted while building the Fastfood tables (d = %zu)", d);
    }
    if (!fail) {
        *out = ff;
        return IDIM_OK;
    }
    fastfood_free(ff);
    if (fail == FF_TOOLARGE)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "fastfood: a transform would exceed 2^%d entries (d = %zu)", LL_MAX_LG,
                         d);
    return idim_fail(err, IDIM_ERR_NOMEM,
                     "fastfood: out of memory for the projection tables (d = %zu, %zu tensors)", d,
                     m);
}

enum idim_status fastfood_new(struct fastfood **out, const size_t *n, size_t m, size_t d,
                              enum ff_scope scope, uint64_t proj_seed, int grad_compat,
                              int threads, struct idim_err *err)
{
    return ff_create(out, n, m, d, scope, proj_seed, grad_compat, threads, 0, err);
}

enum idim_status fastfood_new_tensor(struct fastfood **out, size_t n_t, size_t t, size_t d,
                                     uint64_t proj_seed, int threads, struct idim_err *err)
{
    return ff_create(out, &n_t, 1, d, FF_SCOPE_TENSOR, proj_seed, 0, threads, (uint64_t)t, err);
}

/* --------------------------------------------------------------- forward */

struct fwd_ctx {
    struct fastfood *ff;
    const struct xform *X;
    float *y;          /* output for entries [lo, hi) of the transform: y[i - lo] */
    size_t lo, hi;
    float scale;
};

#if FF_HAVE_AVX2
__attribute__((target("avx512f"))) static void fill_gather16_w(const uint16_t *p, const float *G,
                                                              const float *w, float *z,
                                                              size_t len)
{
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512i ix = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + i)));
        __m512 v = _mm512_i32gather_ps(ix, w, 4);
        _mm512_storeu_ps(z + i, _mm512_mul_ps(v, _mm512_loadu_ps(G + i)));
    }
    for (; i < len; i++)
        z[i] = w[p[i]] * G[i];
}
#endif

/* z_i = w[Pi(i) mod M] * G_i for i in [i0, i0 + len). */
static void fill_gather(const struct xform *X, const float *w, float *z, size_t i0, size_t len)
{
    const float *G = X->G + i0;
#if FF_HAVE_AVX2
    if (X->pi16 && use_avx512()) {
        fill_gather16_w(X->pi16 + i0, G, w, z, len);
        return;
    }
#endif
    if (X->pi16) {
        const uint16_t *p = X->pi16 + i0;
        for (size_t i = 0; i < len; i++)
            z[i] = w[p[i]] * G[i];
    } else {
        const uint32_t *p = X->pi32 + i0;
        for (size_t i = 0; i < len; i++)
            z[i] = w[p[i]] * G[i];
    }
}

#if FF_HAVE_AVX2
__attribute__((target("avx2"))) static size_t out_stream(float *y, const float *s, float sc,
                                                        size_t n)
{
    __m256 v = _mm256_set1_ps(sc);
    for (size_t i = 0; i < n; i += 8)
        _mm256_stream_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(s + i), v));
    return n;
}
#endif

static void out_range(const struct fwd_ctx *c, const float *restrict src, size_t i0, size_t len)
{
    size_t a = i0 > c->lo ? i0 : c->lo;
    size_t b = i0 + len < c->hi ? i0 + len : c->hi;
    if (a >= b)
        return;
    float *restrict y = c->y + (a - c->lo);
    const float *restrict s = src + (a - i0);
    const float sc = c->scale;
    size_t len2 = b - a, i = 0;
#if FF_HAVE_AVX2
    if (len2 >= 64 && use_avx2()) {
        /* streaming stores: y is written once and not read back here, so
         * skipping the read-for-ownership saves a quarter of the traffic */
        while (i < len2 && ((uintptr_t)(y + i) & 31))
            y[i] = s[i] * sc, i++;
        i += out_stream(y + i, s + i, sc, (len2 - i) & ~(size_t)7);
    }
#endif
    for (; i < len2; i++)
        y[i] = s[i] * sc;
}

/* Orders the streaming stores before the pool's barrier. */
static void ff_sfence(void)
{
#if FF_HAVE_AVX2
    _mm_sfence();
#endif
}

/* Pass 1 of the forward: block bk gathers and runs its in-block stages. */
static void fwd_pass1(void *vctx, size_t bk, int tid)
{
    (void)tid;
    struct fwd_ctx *c = vctx;
    const struct xform *X = c->X;
    size_t blk = X->g.blk, sub = (size_t)1 << SUB_LG;
    float *z = c->ff->buf + bk * blk;
    if (blk <= sub) {
        fill_gather(X, c->ff->wbuf, z, bk * blk, blk);
        fwht_local(z, blk);
    } else {
        for (size_t s = 0; s < blk; s += sub) {
            fill_gather(X, c->ff->wbuf, z + s, bk * blk + s, sub);
            fwht_local(z + s, sub);
        }
        stages_from(z, blk, sub);
    }
    if (X->g.rows == 1)
        out_range(c, z, bk * blk, blk);
    ff_sfence();
}

/* Pass 2 of the forward: tile k runs the long stages and writes y. */
static void fwd_pass2(void *vctx, size_t k, int tid)
{
    struct fwd_ctx *c = vctx;
    const struct geom *g = &c->X->g;
    float *t = c->ff->tile[tid];
    size_t c0 = k * g->W;
    tile_load(t, c->ff->buf, g, c0);
    tile_stages(t, g);
    for (size_t r = 0; r < g->rows; r++)
        out_range(c, t + r * g->W, r * g->blk + c0, g->W);
    ff_sfence();
}

/* Generic in-place FWHT on the pool (for w when M is large). */
struct fw_ctx {
    struct fastfood *ff;
    float *x;
    struct geom g;
};

static void fw_pass1(void *vctx, size_t bk, int tid)
{
    (void)tid;
    struct fw_ctx *c = vctx;
    fwht_block(c->x + bk * c->g.blk, c->g.blk);
}

static void fw_pass2(void *vctx, size_t k, int tid)
{
    struct fw_ctx *c = vctx;
    float *t = c->ff->tile[tid];
    tile_load(t, c->x, &c->g, k * c->g.W);
    tile_stages(t, &c->g);
    tile_store(c->x, t, &c->g, k * c->g.W);
}

static void fwht_pool(struct fastfood *ff, float *x, size_t n)
{
    struct fw_ctx c = {.ff = ff, .x = x};
    geom_of(n, &c.g);
    int par = n >= ((size_t)1 << PAR_MIN_LG);
    pool_run(&ff->pool, c.g.rows, fw_pass1, &c, par);
    if (c.g.rows > 1)
        pool_run(&ff->pool, c.g.n_tiles, fw_pass2, &c, par);
}

void fastfood_fwht(struct fastfood *ff, float *x, size_t n) { fwht_pool(ff, x, n); }

void fwht_inplace(float *x, size_t n)
{
    static _Thread_local float tile[TILE_FLOATS];
    struct geom g;
    if (n < 2)
        return;
    geom_of(n, &g);
    for (size_t b = 0; b < g.rows; b++)
        fwht_block(x + b * g.blk, g.blk);
    if (g.rows == 1)
        return;
    for (size_t k = 0; k < g.n_tiles; k++) {
        tile_load(tile, x, &g, k * g.W);
        tile_stages(tile, &g);
        tile_store(x, tile, &g, k * g.W);
    }
}

/* One transform's forward, writing entries [lo, hi) into y[0..hi-lo). */
static void xform_forward(struct fastfood *ff, const struct xform *X, const float *x, float *y,
                          size_t lo, size_t hi)
{
    float *w = ff->wbuf;
    size_t d = ff->d;
    for (size_t j = 0; j < d; j++)
        w[j] = X->B[j] < 0 ? -x[j] : x[j];
    memset(w + d, 0, (X->M - d) * sizeof(float));
    fwht_pool(ff, w, X->M);
    struct fwd_ctx c = {.ff = ff, .X = X, .y = y, .lo = lo, .hi = hi, .scale = (float)X->scale};
    int par = X->LL >= ((size_t)1 << PAR_MIN_LG);
    pool_run(&ff->pool, X->g.rows, fwd_pass1, &c, par);
    if (X->g.rows > 1)
        pool_run(&ff->pool, X->g.n_tiles, fwd_pass2, &c, par);
}

void fastfood_set_stop(struct fastfood *ff, const volatile int *stop)
{
    ff->pool.stop = stop;
}

void fastfood_forward(struct fastfood *ff, const float *x, float *y)
{
    for (size_t k = 0; k < ff->nx && !(ff->pool.stop && *ff->pool.stop); k++) {
        const struct xform *X = &ff->x[k];
        xform_forward(ff, X, x, y + X->off, 0, X->n);
    }
}

void fastfood_forward_tensor(struct fastfood *ff, size_t t, const float *x, float *out)
{
    if (t >= ff->m)
        return;
    if (ff->scope == FF_SCOPE_TENSOR)
        xform_forward(ff, &ff->x[t], x, out, 0, ff->n[t]);
    else
        xform_forward(ff, &ff->x[0], x, out, ff->off[t], ff->off[t] + ff->n[t]);
}

/* --------------------------------------------------------------- adjoint */

struct adj_ctx {
    struct fastfood *ff;
    const struct xform *X;
    const float *g;    /* D-vector */
    const float *w;    /* per-tensor weights applied on load (global scope), or NULL */
    size_t nch;        /* fold partials in use (0: direct scatter, M == LL) */
    size_t ntask;      /* pass-2 tasks: a fixed partition of the tiles */
};

/* buf[i0 .. i0+len) = weighted g of the transform's entries (0 beyond n). */
static void load_g(const struct adj_ctx *c, float *z, size_t i0, size_t len)
{
    const struct xform *X = c->X;
    const struct fastfood *ff = c->ff;
    size_t a = i0, end = i0 + len;
    size_t hi = end < X->n ? end : X->n;
    if (a < hi) {
        if (!c->w) {
            memcpy(z, c->g + X->off + a, (hi - a) * sizeof(float));
        } else {
            /* global scope: entry i belongs to the tensor holding off i */
            size_t lo_t = 0, hi_t = ff->m;
            while (hi_t - lo_t > 1) {
                size_t mid = (lo_t + hi_t) / 2;
                if (ff->off[mid] <= a)
                    lo_t = mid;
                else
                    hi_t = mid;
            }
            size_t t = lo_t;
            while (a < hi) {
                size_t te = ff->off[t] + ff->n[t];
                size_t e = te < hi ? te : hi;
                float wt = c->w[t];
                for (size_t i = a; i < e; i++)
                    z[i - i0] = c->g[i] * wt;
                a = e;
                t++;
            }
        }
    }
    if (hi < end) {
        size_t s = hi > i0 ? hi : i0;
        memset(z + (s - i0), 0, (end - s) * sizeof(float));
    }
}

/* f[Pi(i) mod M] += G_i h_i over a run of entries (double partials). */
static void fold_run(const struct xform *X, double *f, const float *h, size_t i0, size_t len)
{
    const float *G = X->G + i0;
    if (X->pi16) {
        const uint16_t *p = X->pi16 + i0;
        for (size_t i = 0; i < len; i++)
            f[p[i]] += (double)(G[i] * h[i]);
    } else {
        const uint32_t *p = X->pi32 + i0;
        for (size_t i = 0; i < len; i++)
            f[p[i]] += (double)(G[i] * h[i]);
    }
}

/* M == LL: u[Pi(i)] = G_i h_i, every slot written once. */
static void scatter_run(const struct xform *X, float *u, const float *h, size_t i0, size_t len)
{
    const float *G = X->G + i0;
    if (X->pi16) {
        const uint16_t *p = X->pi16 + i0;
        for (size_t i = 0; i < len; i++)
            u[p[i]] = G[i] * h[i];
    } else {
        const uint32_t *p = X->pi32 + i0;
        for (size_t i = 0; i < len; i++)
            u[p[i]] = G[i] * h[i];
    }
}

static void adj_pass1(void *vctx, size_t bk, int tid)
{
    (void)tid;
    struct adj_ctx *c = vctx;
    const struct xform *X = c->X;
    size_t blk = X->g.blk, sub = (size_t)1 << SUB_LG;
    float *z = c->ff->buf + bk * blk;
    if (bk * blk >= X->n) { /* all padding: its transform is +0 everywhere */
        memset(z, 0, blk * sizeof(float));
        return;
    }
    if (blk <= sub) {
        load_g(c, z, bk * blk, blk);
        fwht_local(z, blk);
    } else {
        for (size_t s = 0; s < blk; s += sub) {
            load_g(c, z + s, bk * blk + s, sub);
            fwht_local(z + s, sub);
        }
        stages_from(z, blk, sub);
    }
    if (X->g.rows == 1) { /* single block: fold now, in index order */
        if (c->nch == 0)
            scatter_run(X, c->ff->wbuf, z, 0, blk);
        else {
            double *f = c->ff->part;
            memset(f, 0, X->M * sizeof(double));
            fold_run(X, f, z, 0, blk);
        }
    }
}

/* Pass 2: chunk ch of the tiles; long stages, then fold into partial ch. */
static void adj_pass2(void *vctx, size_t ch, int tid)
{
    struct adj_ctx *c = vctx;
    const struct xform *X = c->X;
    const struct geom *g = &X->g;
    float *t = c->ff->tile[tid];
    size_t nch = c->ntask;
    size_t k0 = g->n_tiles * ch / nch, k1 = g->n_tiles * (ch + 1) / nch;
    double *f = c->nch ? c->ff->part + ch * X->M : NULL;
    if (f)
        memset(f, 0, X->M * sizeof(double));
    for (size_t k = k0; k < k1; k++) {
        size_t c0 = k * g->W;
        tile_load(t, c->ff->buf, g, c0);
        /* the fold reads G and Pi along the same strided rows: fetch them
         * while the stages run */
        for (size_t r = 0; r < g->rows; r++) {
            size_t i0 = r * g->blk + c0;
            const char *pg = (const char *)(X->G + i0);
            const char *pp = X->pi16 ? (const char *)(X->pi16 + i0) : (const char *)(X->pi32 + i0);
            size_t pbytes = g->W * (X->pi16 ? 2 : 4);
            for (size_t q = 0; q < g->W * sizeof(float); q += 64)
                __builtin_prefetch(pg + q);
            for (size_t q = 0; q < pbytes; q += 64)
                __builtin_prefetch(pp + q);
        }
        tile_stages(t, g);
        for (size_t r = 0; r < g->rows; r++) {
            size_t i0 = r * g->blk + c0;
            if (f)
                fold_run(X, f, t + r * g->W, i0, g->W);
            else
                scatter_run(X, c->ff->wbuf, t + r * g->W, i0, g->W);
        }
    }
}

/* Adds coef * B_j * (H_M f)_j to xacc[j], j < d. */
static void xform_adjoint(struct fastfood *ff, const struct xform *X, const float *g,
                          const float *w, double coef)
{
    struct adj_ctx c = {.ff = ff, .X = X, .g = g, .w = w};
    const struct geom *gm = &X->g;
    int par = X->LL >= ((size_t)1 << PAR_MIN_LG);
    /* partials: 8 while they stay small (M <= 2^13: 64 KiB each), else 2 */
    size_t nch_max = (X->M <= ((size_t)1 << 13) || X->M == X->LL) ? NCH_MAX : 2;
    c.ntask = gm->rows > 1 ? (gm->n_tiles < nch_max ? gm->n_tiles : nch_max) : 1;
    c.nch = X->M == X->LL ? 0 : c.ntask;
    pool_run(&ff->pool, gm->rows, adj_pass1, &c, par);
    if (gm->rows > 1)
        pool_run(&ff->pool, c.ntask, adj_pass2, &c, par);
    float *u = ff->wbuf;
    if (c.nch) { /* reduce partials in partition order */
        const double *p = ff->part;
        for (size_t j = 0; j < X->M; j++) {
            double s = p[j];
            for (size_t q = 1; q < c.nch; q++)
                s += p[q * X->M + j];
            u[j] = (float)s;
        }
    }
    fwht_pool(ff, u, X->M);
    double *acc = ff->xacc;
    for (size_t j = 0; j < ff->d; j++)
        acc[j] += coef * (double)(X->B[j] < 0 ? -u[j] : u[j]);
}

void fastfood_adjoint(struct fastfood *ff, const float *g, const float *w, float *xgrad)
{
    double *acc = ff->xacc;
    memset(acc, 0, ff->d * sizeof(double));
    for (size_t k = 0; k < ff->nx && !(ff->pool.stop && *ff->pool.stop); k++) {
        const struct xform *X = &ff->x[k];
        double coef = X->scale;
        if (ff->scope == FF_SCOPE_TENSOR && w)
            coef *= (double)w[k];
        if (ff->grad_compat)
            coef *= 1.0 / (double)X->LL;
        xform_adjoint(ff, X, g, ff->scope == FF_SCOPE_GLOBAL ? w : NULL, coef);
    }
    for (size_t j = 0; j < ff->d; j++)
        xgrad[j] = (float)acc[j];
}

/* ---------------------------------------------------------------- tables */

void fastfood_get_tables(struct fastfood *ff, size_t k, struct fastfood_tables *out)
{
    memset(out, 0, sizeof *out);
    if (k >= ff->nx)
        return;
    const struct xform *X = &ff->x[k];
    size_t need = X->LL * (sizeof(int8_t) + sizeof(uint32_t) + sizeof(float));
    if (ff->tab_cap < need) {
        free(ff->tab_mem);
        ff->tab_mem = malloc(need);
        ff->tab_cap = ff->tab_mem ? need : 0;
        if (!ff->tab_mem)
            return;
    }
    float *G = ff->tab_mem;
    uint32_t *Pi = (uint32_t *)(G + X->LL);
    int8_t *B = (int8_t *)(Pi + X->LL);
    gen_tables(X->key, X->LL, B, X->LL, Pi, G, NULL);
    out->n = X->n;
    out->LL = X->LL;
    out->B = B;
    out->Pi = Pi;
    out->G = G;
    out->scale = X->scale;
}
