/* fastfood.h - theta = theta0 + P theta_d, and the exact adjoint P^T.
 *
 * Per tensor t with n_t entries, LL_t = 2^ceil(log2(max(n_t, d))):
 *   P_t x = first n_t entries of H G_t Pi_t H B_t pad(x) / sqrt(n_t * sum(G_t^2))
 * H: unnormalised Walsh-Hadamard (+-1), B_t random signs, Pi_t a random
 * permutation applied as a gather (y_i = z_{Pi_t(i)}), G_t ~ N(0,1); tables
 * from rng_key(proj_seed, t) (rng.h). Le, Sarlos, Smola 2013 (Fastfood);
 * Li et al. 2018; Aghajanyan et al. 2021 (per-tensor, SAID).
 * With FF_SCOPE_GLOBAL one transform spans all D parameters (Li et al.):
 * it is the same formula with one "tensor" of n = D entries, keyed t = 0.
 *
 * The generator (order of draws), the table dumps of `idim project` and the
 * measured costs are in docs/PROJECTION.md. Implementation: the gather and
 * the adjoint's scatter run through M = min(LL, 2^ceil(log2 d)) entry
 * tables (an exact rewriting, see src/fastfood.c), so only G (float) and
 * Pi mod M (uint16 for d <= 65536) are stored: 6 bytes per entry of LL.
 * Results are bitwise identical for any thread count and SIMD level.
 *
 * Stage: after model. No allocation after fastfood_new (except the lazy
 * buffer of fastfood_get_tables). One struct fastfood must not be used by
 * two threads at once (it owns the scratch buffers and the thread pool). */
#ifndef IDIM_FASTFOOD_H
#define IDIM_FASTFOOD_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum ff_scope { FF_SCOPE_TENSOR = 1, FF_SCOPE_GLOBAL = 2 };

struct fastfood; /* opaque; defined in src/fastfood.c */

/* Builds the projection for m tensors of sizes n[0..m) laid out back to
 * back (tensor t occupies [off_t, off_t + n_t) of a D-vector, off_0 = 0),
 * onto a d-dimensional theta_d. grad_compat != 0 makes fastfood_adjoint
 * return the authors' released backward (exact adjoint times 1/LL_t per
 * tensor) instead of the exact one. threads: worker threads for large
 * transforms (1 = none). Returns IDIM_OK, IDIM_ERR_NOMEM, IDIM_ERR_USAGE. */
enum idim_status fastfood_new(struct fastfood **out, const size_t *n, size_t m, size_t d,
                              enum ff_scope scope, uint64_t proj_seed, int grad_compat,
                              int threads, struct idim_err *err);
void fastfood_free(struct fastfood *ff);

/* The projection of tensor t alone (FF_SCOPE_TENSOR): one transform of
 * n_t entries with the tables of tensor index t, i.e. transform 0 of the
 * result equals transform t of fastfood_new(n, m, d, FF_SCOPE_TENSOR,
 * proj_seed, ...) whenever n[t] == n_t. For `idim project` (avoids drawing
 * every other tensor's tables). Same returns as fastfood_new. */
enum idim_status fastfood_new_tensor(struct fastfood **out, size_t n_t, size_t t, size_t d,
                                     uint64_t proj_seed, int threads, struct idim_err *err);

/* The bytes fastfood_new(out, n, m, d, scope, ..., threads, ...) would
 * allocate (tables and scratch), for a command's memory total (memguard.h);
 * UINT64_MAX when it does not fit in 64 bits. */
uint64_t fastfood_memory_bytes(const size_t *n, size_t m, size_t d, enum ff_scope scope,
                               int threads);

/* Forward and adjoint poll *stop (NULL: never) between transforms and
 * their tasks; once it is raised they return early with y / xgrad
 * incomplete, and the caller must drop the result (Ctrl-C). Table building
 * in fastfood_new polls idim_interrupted and then returns
 * IDIM_ERR_INTERRUPTED. */
void fastfood_set_stop(struct fastfood *ff, const volatile int *stop);

/* y[off_t + i] = (P_t x)_i for every tensor t: y is the D-vector of
 * projected updates (not added to anything). x: [d], y: [D]. */
void fastfood_forward(struct fastfood *ff, const float *x, float *y);

/* xgrad = sum_t w_t P_t^T g_t, g a D-vector laid out like y, w: [m] per
 * tensor weights (SAID's lambdas) or NULL for all 1. xgrad: [d],
 * overwritten. g is not modified. */
void fastfood_adjoint(struct fastfood *ff, const float *g, const float *w, float *xgrad);

/* The projected update of tensor t alone: out[0..n_t) = P_t x
 * (FF_SCOPE_GLOBAL: the slice of P x at tensor t). For `idim project`. */
void fastfood_forward_tensor(struct fastfood *ff, size_t t, const float *x, float *out);

/* Borrowed views of transform k's tables (k = tensor index, or 0 for the
 * global scope): LL, signs B [LL] (+1/-1), permutation Pi [LL], G [LL],
 * scale = 1/sqrt(n * sum(G^2)). The projection itself keeps only what it
 * uses (G, Pi mod M, the first d signs), so the full tables are
 * regenerated from the seed into a buffer owned by ff: valid until the
 * next call or fastfood_free. Not for the training loop (it allocates on
 * first use); on out-of-memory or k out of range *out is zeroed (LL = 0). */
struct fastfood_tables {
    size_t n, LL;
    const int8_t *B;
    const uint32_t *Pi;
    const float *G;
    double scale;
};
void fastfood_get_tables(struct fastfood *ff, size_t k, struct fastfood_tables *out);

/* Number of transforms (m for FF_SCOPE_TENSOR, 1 for global), and d. */
size_t fastfood_n_transforms(const struct fastfood *ff);
size_t fastfood_dim(const struct fastfood *ff);

/* In-place unnormalised fast Walsh-Hadamard transform of x[0..n), n a
 * power of two. Exposed for tests and benchmarks. Single-threaded,
 * cache-blocked; bitwise equal to fwht_reference (same additions in the
 * same order for every element). */
void fwht_inplace(float *x, size_t n);

/* The textbook loop (stages h = 1, 2, 4, ..., n/2, radix 2): the order of
 * additions every blocked/threaded/SIMD variant reproduces bit for bit. */
void fwht_reference(float *x, size_t n);

/* fwht_inplace on ff's thread pool (threads given at fastfood_new; used
 * from 2^17 entries up). Bitwise equal to fwht_inplace. n <= the largest
 * LL of ff's transforms. For benchmarks. */
void fastfood_fwht(struct fastfood *ff, float *x, size_t n);

/* Caps the kernels used: 0 portable scalar, 1 up to AVX2, 2 up to
 * AVX-512F (the default: the best the CPU has). Results are bitwise
 * identical at every level (tests); for tests and benchmarks. */
void fwht_set_simd(int level);

/* The level the kernels use now (0 scalar, 1 AVX2, 2 AVX-512F): the CPU's
 * best, capped by fwht_set_simd and by what was compiled in. */
int fwht_simd_level(void);

/* Bytes held by the stored tables (G, Pi mod M, first d signs), without
 * scratch. */
size_t fastfood_table_bytes(const struct fastfood *ff);

#endif
