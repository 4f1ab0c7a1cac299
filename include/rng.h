/* rng.h - the one documented random generator behind every random choice.
 *
 * Generator: xoshiro256** (Blackman & Vigna 2018), state seeded by four
 * successive outputs of splitmix64 started at the 64-bit key. Streams are
 * keyed by (seed, stream id) with rng_key(seed, id) =
 * splitmix64(seed ^ splitmix64(id + 0x9E3779B97F4A7C15)), so e.g. the
 * Fastfood tables of tensor t come from rng_init(&r, rng_key(proj_seed, t)).
 *   uniform float/double: top 24/53 bits of the output, in [0, 1);
 *   normal: Box-Muller on two doubles (u1 in (0,1]), both values used in
 *           turn, computed in double then rounded to float by the caller;
 *   below(n): Lemire's nearly-divisionless method (unbiased).
 * The exact algorithm is part of the reproducibility contract: changing it
 * changes every recorded run, so docs/FORMAT.md and README describe it. */
#ifndef IDIM_RNG_H
#define IDIM_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
    double spare;   /* second Box-Muller value */
    int has_spare;
};

uint64_t rng_splitmix64(uint64_t *state);
uint64_t rng_key(uint64_t seed, uint64_t stream);
void rng_init(struct rng *r, uint64_t key);
uint64_t rng_next(struct rng *r);
double rng_uniform(struct rng *r);      /* [0, 1), 53 bits */
float rng_uniformf(struct rng *r);      /* [0, 1), 24 bits */
double rng_normal(struct rng *r);       /* N(0, 1) */
uint64_t rng_below(struct rng *r, uint64_t n); /* uniform in [0, n), n > 0 */

#endif
