/* projection.c - one interface over the projections theta = theta0 + P
 * theta_d: Fastfood (fastfood.c), dense Gaussian, identity. Contract:
 * include/projection.h; formulas and generator: docs/PROJECTION.md.
 *
 * Dense (Li et al. 2018): transform k is A_k diag(s_k), A_k an n_k x d
 * matrix of N(0,1) float32 entries, row i drawn from its own stream keyed
 * (proj_seed, k, i), and s_kj = 1 / ||A_k e_j|| (in double) so every column
 * has unit norm. Rows are keyed one by one, so the matrix does not depend on
 * the block size; blocks of R rows (R d <= 2^18 floats) are regenerated on
 * every call and multiplied with sgemv:
 *   forward  y_k = A_k (s_k . x)
 *   adjoint  xgrad = sum_k w_k s_k . (A_k^T g_k)    (sum over k in double)
 * Only s (d floats per transform) is kept between calls. */
#include "projection.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define DENSE_BLOCK_FLOATS ((size_t)1 << 18)

struct projection {
    enum proj_kind kind;
    enum ff_scope scope;
    size_t m, d, D;
    struct fastfood *ff;  /* PROJ_FASTFOOD */
    /* PROJ_DENSE */
    uint64_t seed;
    size_t nk;            /* transforms: m (tensor) or 1 (global) */
    size_t *rows;         /* [nk] rows of transform k */
    size_t *off;          /* [nk] first entry of transform k in the D-vector */
    float *colscale;      /* [nk * d] s_k */
    float *blk;           /* [R_max * d] one regenerated row block */
    float *xs;            /* [d] s_k . x, or A_k^T g_k */
    double *acc;          /* [d] adjoint sum over transforms */
    size_t rmax;
    size_t *nx;           /* [nk] entries of transform k (n_t, or D) */
    float *c;             /* [nk] per-transform scale (projection_set_norm) */
    float *wc;            /* [nk] scratch: w_k c_k */
    int scaled;           /* some c_k != 1 */
    const volatile int *stop; /* projection_set_stop */
};

#define STOPPED(p) ((p)->stop && *(p)->stop)

const char *proj_kind_name(enum proj_kind k)
{
    switch (k) {
    case PROJ_FASTFOOD: return "fastfood";
    case PROJ_DENSE: return "dense";
    case PROJ_IDENTITY: return "identity";
    }
    return "?";
}

int proj_kind_parse(const char *s, enum proj_kind *out)
{
    static const enum proj_kind all[] = {PROJ_FASTFOOD, PROJ_DENSE, PROJ_IDENTITY};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (s && strcmp(s, proj_kind_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

void projection_dense_row(uint64_t proj_seed, size_t k, size_t i, size_t d, float *row)
{
    struct rng r;
    rng_init(&r, rng_key(rng_key(proj_seed ^ PROJ_DENSE_SALT, (uint64_t)k), (uint64_t)i));
    for (size_t j = 0; j < d; j++)
        row[j] = (float)rng_normal(&r);
}

static size_t dense_block_rows(const struct projection *p, size_t k)
{
    size_t R = DENSE_BLOCK_FLOATS / p->d;
    if (R < 1)
        R = 1;
    return R < p->rows[k] ? R : p->rows[k];
}

/* Fills p->blk with the block of transform k starting at row r0; returns
 * its number of rows. */
static size_t dense_block(struct projection *p, size_t k, size_t r0)
{
    size_t R = dense_block_rows(p, k);
    size_t nr = p->rows[k] - r0 < R ? p->rows[k] - r0 : R;
    for (size_t r = 0; r < nr; r++)
        projection_dense_row(p->seed, k, r0 + r, p->d, p->blk + r * p->d);
    return nr;
}

static enum idim_status dense_init(struct projection *p, const size_t *n, struct idim_err *err)
{
    size_t d = p->d;
    if (p->D > PROJ_DENSE_MAX_ENTRIES / d)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--projection dense: D x d = %zu x %zu entries would be regenerated "
                         "twice per step; the limit is %zu (2^28, a few seconds per step): use "
                         "--projection fastfood, a smaller d or a smaller model",
                         p->D, d, PROJ_DENSE_MAX_ENTRIES);
    p->rows = calloc(p->nk, sizeof *p->rows);
    p->off = calloc(p->nk, sizeof *p->off);
    p->colscale = calloc(p->nk * d, sizeof *p->colscale);
    p->xs = calloc(d, sizeof *p->xs);
    p->acc = calloc(d, sizeof *p->acc);
    if (!p->rows || !p->off || !p->colscale || !p->xs || !p->acc)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory for the dense projection");
    size_t o = 0;
    for (size_t k = 0; k < p->nk; k++) {
        p->rows[k] = p->scope == FF_SCOPE_GLOBAL ? p->D : n[k];
        p->off[k] = o;
        o += p->rows[k];
        size_t R = dense_block_rows(p, k);
        if (R > p->rmax)
            p->rmax = R;
    }
    p->blk = malloc(p->rmax * d * sizeof *p->blk);
    if (!p->blk)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory for the dense projection's row block");
    /* column norms: one pass over the matrix, summed in double */
    for (size_t k = 0; k < p->nk; k++) {
        memset(p->acc, 0, d * sizeof *p->acc);
        for (size_t r0 = 0, nr; r0 < p->rows[k]; r0 += nr) {
            if (idim_interrupted)
                return idim_fail(err, IDIM_ERR_INTERRUPTED,
                                 "interrupted while building the dense projection");
            nr = dense_block(p, k, r0);
            for (size_t r = 0; r < nr; r++) {
                const float *row = p->blk + r * d;
                for (size_t j = 0; j < d; j++)
                    p->acc[j] += (double)row[j] * (double)row[j];
            }
        }
        for (size_t j = 0; j < d; j++)
            p->colscale[k * d + j] = (float)(1.0 / sqrt(p->acc[j]));
    }
    return IDIM_OK;
}

enum idim_status projection_new(struct projection **out, enum proj_kind kind, const size_t *n,
                                size_t m, size_t d, enum ff_scope scope, uint64_t proj_seed,
                                int grad_compat, int threads, struct idim_err *err)
{
    *out = NULL;
    if (d == 0)
        return idim_fail(err, IDIM_ERR_USAGE, "--d must be at least 1");
    if (kind != PROJ_FASTFOOD && kind != PROJ_DENSE && kind != PROJ_IDENTITY)
        return idim_fail(err, IDIM_ERR_USAGE, "unknown projection kind %d", (int)kind);
    if (grad_compat && kind != PROJ_FASTFOOD)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--grad-compat is the Fastfood authors' backward: it needs "
                         "--projection fastfood, not %s",
                         proj_kind_name(kind));
    size_t D = 0;
    for (size_t t = 0; t < m; t++)
        D += n[t];
    if (kind == PROJ_IDENTITY && d != D)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--projection identity maps theta_d onto the weights one to one, so d "
                         "must equal D = %zu (the number of parameters), found %zu",
                         D, d);
    struct projection *p = calloc(1, sizeof *p);
    if (!p)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    p->kind = kind;
    p->scope = scope;
    p->m = m;
    p->d = d;
    p->D = D;
    p->seed = proj_seed;
    p->nk = kind == PROJ_IDENTITY || scope == FF_SCOPE_GLOBAL ? 1 : m;
    p->nx = calloc(p->nk, sizeof *p->nx);
    p->c = calloc(p->nk, sizeof *p->c);
    p->wc = calloc(p->nk, sizeof *p->wc);
    if (!p->nx || !p->c || !p->wc) {
        projection_free(p);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < p->nk; k++) {
        p->nx[k] = p->nk == 1 ? D : n[k];
        p->c[k] = 1.0f;
    }
    enum idim_status st = IDIM_OK;
    if (kind == PROJ_FASTFOOD)
        st = fastfood_new(&p->ff, n, m, d, scope, proj_seed, grad_compat, threads, err);
    else if (kind == PROJ_DENSE)
        st = dense_init(p, n, err);
    if (st) {
        projection_free(p);
        return st;
    }
    *out = p;
    return IDIM_OK;
}

uint64_t projection_memory_bytes(enum proj_kind kind, const size_t *n, size_t m, size_t d,
                                 enum ff_scope scope, int threads)
{
    if (kind == PROJ_FASTFOOD)
        return fastfood_memory_bytes(n, m, d, scope, threads);
    if (kind != PROJ_DENSE || d == 0)
        return 0;
    /* colscale (nk x d) and one row block (DENSE_BLOCK_FLOATS, at least a
     * row), xs, acc */
    size_t nk = scope == FF_SCOPE_GLOBAL ? 1 : m;
    double b = (double)nk * d * sizeof(float) +
               (double)(d > DENSE_BLOCK_FLOATS ? d : DENSE_BLOCK_FLOATS) * sizeof(float) +
               (double)d * (sizeof(float) + sizeof(double));
    return b > 1.8e19 ? UINT64_MAX : (uint64_t)b;
}

void projection_free(struct projection *p)
{
    if (!p)
        return;
    if (p->ff)
        fastfood_free(p->ff);
    free(p->rows);
    free(p->off);
    free(p->colscale);
    free(p->blk);
    free(p->xs);
    free(p->acc);
    free(p->nx);
    free(p->c);
    free(p->wc);
    free(p);
}

void projection_set_norm(struct projection *p, enum proj_norm norm)
{
    p->scaled = 0;
    for (size_t k = 0; k < p->nk; k++) {
        p->c[k] = norm == PROJ_NORM_ROWS && p->kind != PROJ_IDENTITY
                      ? (float)sqrt((double)p->nx[k] / (double)p->d)
                      : 1.0f;
        if (p->c[k] != 1.0f)
            p->scaled = 1;
    }
}

double projection_scale(const struct projection *p, size_t k)
{
    return k < p->nk ? (double)p->c[k] : 0.0;
}

/* y_k *= c_k for every transform (after the unscaled forward). */
static void scale_out(struct projection *p, float *y)
{
    size_t o = 0;
    for (size_t k = 0; k < p->nk; k++) {
        float c = p->c[k];
        for (size_t i = 0; i < p->nx[k]; i++)
            y[o + i] *= c;
        o += p->nx[k];
    }
}

static void forward_unscaled(struct projection *p, const float *x, float *y);

void projection_forward(struct projection *p, const float *x, float *y)
{
    forward_unscaled(p, x, y);
    if (p->scaled)
        scale_out(p, y);
}

static void forward_unscaled(struct projection *p, const float *x, float *y)
{
    size_t d = p->d;
    switch (p->kind) {
    case PROJ_FASTFOOD:
        fastfood_forward(p->ff, x, y);
        return;
    case PROJ_IDENTITY:
        memcpy(y, x, d * sizeof *y);
        return;
    case PROJ_DENSE:
        for (size_t k = 0; k < p->nk; k++) {
            const float *s = p->colscale + k * d;
            for (size_t j = 0; j < d; j++)
                p->xs[j] = s[j] * x[j];
            for (size_t r0 = 0, nr; r0 < p->rows[k] && !STOPPED(p); r0 += nr) {
                nr = dense_block(p, k, r0);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nr, (int)d, 1.0f, p->blk, (int)d,
                            p->xs, 1, 0.0f, y + p->off[k] + r0, 1);
            }
        }
        return;
    }
}

void projection_adjoint(struct projection *p, const float *g, const float *w, float *xgrad)
{
    size_t d = p->d;
    if (p->scaled) {
        /* P_k^T scaled by c_k: fold c into the per-transform weights */
        for (size_t k = 0; k < p->nk; k++)
            p->wc[k] = (w && p->nk > 1 ? w[k] : 1.0f) * p->c[k];
        if (p->nk > 1)
            w = p->wc;
    }
    switch (p->kind) {
    case PROJ_FASTFOOD:
        fastfood_adjoint(p->ff, g, w, xgrad);
        break;
    case PROJ_IDENTITY:
        /* one transform (n_transforms 1): callers weight g before, w is NULL */
        memcpy(xgrad, g, d * sizeof *xgrad);
        break;
    case PROJ_DENSE:
        memset(p->acc, 0, d * sizeof *p->acc);
        for (size_t k = 0; k < p->nk; k++) {
            memset(p->xs, 0, d * sizeof *p->xs);
            for (size_t r0 = 0, nr; r0 < p->rows[k] && !STOPPED(p); r0 += nr) {
                nr = dense_block(p, k, r0);
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)nr, (int)d, 1.0f, p->blk, (int)d,
                            g + p->off[k] + r0, 1, 1.0f, p->xs, 1);
            }
            const float *s = p->colscale + k * d;
            double wk = w ? (double)w[k] : 1.0;
            for (size_t j = 0; j < d; j++)
                p->acc[j] += wk * (double)s[j] * (double)p->xs[j];
        }
        for (size_t j = 0; j < d; j++)
            xgrad[j] = (float)p->acc[j];
        break;
    }
    if (p->scaled && p->nk == 1)
        for (size_t j = 0; j < d; j++)
            xgrad[j] *= p->c[0];
}

void projection_set_stop(struct projection *p, const volatile int *stop)
{
    p->stop = stop;
    if (p->ff)
        fastfood_set_stop(p->ff, stop);
}

size_t projection_n_transforms(const struct projection *p)
{
    if (p->kind == PROJ_FASTFOOD)
        return fastfood_n_transforms(p->ff);
    return p->nk;
}

enum proj_kind projection_kind(const struct projection *p)
{
    return p->kind;
}
