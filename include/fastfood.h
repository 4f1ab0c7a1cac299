/* fastfood.h - theta = theta0 + P theta_d, and the exact adjoint P^T.
 *
 * Per tensor t with n_t entries, LL_t = 2^ceil(log2(max(n_t, d))):
 *   P_t x = first n_t entries of H G_t Pi_t H B_t pad(x) / sqrt(n_t * sum(G_t^2))
 * H: unnormalised Walsh-Hadamard (+-1), B_t random signs, Pi_t a random
 * permutation applied as a gather (y_i = z_{Pi_t(i)}), G_t ~ N(0,1); tables
 * from rng_key(proj_seed, t) (rng.h). Le, Sarlos, Smola 2013 (Fastfood);
 * Li et al. 2018; Aghajanyan et al. 2021 (per-tensor, SAID).
 * With FF_SCOPE_GLOBAL one transform spans all D parameters (Li et al.).
 *
 * Stage: after model. No allocation after fastfood_init. */
#ifndef IDIM_FASTFOOD_H
#define IDIM_FASTFOOD_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum ff_scope { FF_SCOPE_TENSOR = 1, FF_SCOPE_GLOBAL = 2 };

struct fastfood; /* opaque to callers; defined in src/fastfood.c */

#endif
