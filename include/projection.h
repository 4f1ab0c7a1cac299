/* projection.h - the map P from theta_d to a D-vector of weight updates,
 * behind one interface, so the trainer can swap the random projection for a
 * control: theta = theta0 + P theta_d.
 *
 * Kinds (docs/PROJECTION.md gives each formula and generator):
 *   PROJ_FASTFOOD  the structured Fastfood transform (fastfood.h), the default;
 *   PROJ_DENSE     a seeded Gaussian matrix with unit-norm columns (Li et al.
 *                  2018), regenerated row block by row block from the seed on
 *                  every call so it is never stored; forward and exact adjoint
 *                  through sgemv on each block. Cost O(D d) per call: for small
 *                  models only (projection_new refuses D x d above
 *                  PROJ_DENSE_MAX_ENTRIES with a message);
 *   PROJ_IDENTITY  d = D and P = I: the control that turns subspace training
 *                  into full fine-tuning with the subspace optimizer.
 * Scopes (fastfood.h): FF_SCOPE_TENSOR, one transform per tensor, each P_t
 * with unit-norm columns; FF_SCOPE_GLOBAL, one transform over all D entries.
 * For the identity both scopes are the same map.
 *
 * Stage: after model (and fastfood), before train. No allocation after
 * projection_new. One struct projection must not be used by two threads at
 * once. Same seed and thread count => identical bits. */
#ifndef IDIM_PROJECTION_H
#define IDIM_PROJECTION_H

#include <stddef.h>
#include <stdint.h>

#include "fastfood.h"
#include "status.h"

enum proj_kind { PROJ_FASTFOOD = 1, PROJ_DENSE = 2, PROJ_IDENTITY = 3 };

/* The dense projection regenerates D x d Gaussians twice per training step
 * (forward and adjoint): refused above this many entries (2^28, i.e. a few
 * seconds per call at ~10-25 ns per entry on this machine). */
#define PROJ_DENSE_MAX_ENTRIES ((size_t)1 << 28)

struct projection; /* opaque; defined in src/projection.c */

/* "fastfood", "dense", "identity"; "?" for anything else. */
const char *proj_kind_name(enum proj_kind k);

/* Parses a --projection value; returns 0 and sets *out, or -1. */
int proj_kind_parse(const char *s, enum proj_kind *out);

/* Builds projection `kind` for m tensors of sizes n[0..m) laid out back to
 * back (D = sum n), onto a d-dimensional theta_d. grad_compat (fastfood
 * only: the authors' backward, see fastfood.h) must be 0 for the other
 * kinds. PROJ_IDENTITY needs d == D. The dense kind draws its column norms
 * here (one pass over the matrix). Returns IDIM_OK, IDIM_ERR_USAGE (d == 0,
 * identity with d != D, grad_compat with dense/identity, dense too large:
 * the message gives D x d and the limit), IDIM_ERR_NOMEM. */
enum idim_status projection_new(struct projection **out, enum proj_kind kind, const size_t *n,
                                size_t m, size_t d, enum ff_scope scope, uint64_t proj_seed,
                                int grad_compat, int threads, struct idim_err *err);
void projection_free(struct projection *p);

/* The bytes projection_new would allocate for these arguments (the
 * Fastfood tables, or the dense kind's column scales and row block; 0 for
 * identity), for a command's memory total (memguard.h). */
uint64_t projection_memory_bytes(enum proj_kind kind, const size_t *n, size_t m, size_t d,
                                 enum ff_scope scope, int threads);

/* y = P x: x [d], y [D] (the updates, not added to anything). */
void projection_forward(struct projection *p, const float *x, float *y);

/* xgrad = sum_t w_t P_t^T g_t (global scope: P^T (w-weighted g)): g [D],
 * w [m] per-tensor weights or NULL for all 1, xgrad [d] overwritten. In
 * the global scope w must be NULL (the caller weights g first). */
void projection_adjoint(struct projection *p, const float *g, const float *w, float *xgrad);

/* Forward and adjoint poll *stop (NULL, the default: never) and return
 * early, the output incomplete, once it is raised: the caller drops the
 * result (Ctrl-C within a second on large models). Building the tables in
 * projection_new polls idim_interrupted and returns IDIM_ERR_INTERRUPTED. */
void projection_set_stop(struct projection *p, const volatile int *stop);

/* How P is normalised. PROJ_NORM_COLUMNS (the default, Li et al.; what
 * docs/PROJECTION.md defines): every column of every transform P_k has unit
 * norm (on average for Fastfood). PROJ_NORM_ROWS: transform k is scaled by
 * c_k = sqrt(n_k / d) (n_k its entries: n_t, or D in the global scope), so
 * its entries have variance 1/d and its rows unit norm on average. Then a
 * step of size lr in each coordinate of theta_d (AdamW) moves each weight by
 * ~lr (rms) whatever d, the tensor size and the scope: the AdamW lr means
 * what it means in full fine-tuning (`--lr-rule weight`, README). The
 * identity has c = 1 either way. Call before the first forward. */
enum proj_norm { PROJ_NORM_COLUMNS = 0, PROJ_NORM_ROWS = 1 };
void projection_set_norm(struct projection *p, enum proj_norm norm);

/* c_k of transform k (1 with PROJ_NORM_COLUMNS). */
double projection_scale(const struct projection *p, size_t k);

/* Number of transforms: m (tensor scope) or 1 (global scope; identity: 1). */
size_t projection_n_transforms(const struct projection *p);
enum proj_kind projection_kind(const struct projection *p);

/* The dense generator (docs/PROJECTION.md), exposed so tests and other
 * tools can rebuild the matrix: row i of transform k (k = tensor index, 0
 * for the global scope) before column normalisation, d float32 entries:
 *   struct rng r; rng_init(&r, rng_key(rng_key(proj_seed ^ PROJ_DENSE_SALT, k), i));
 *   row[j] = (float)rng_normal(&r), j = 0 .. d-1. */
#define PROJ_DENSE_SALT 0x64656e7365000000ull /* "dense" */
void projection_dense_row(uint64_t proj_seed, size_t k, size_t i, size_t d, float *row);

#endif
