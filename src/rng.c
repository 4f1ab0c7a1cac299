/* rng.c - xoshiro256** keyed by splitmix64; see rng.h for the contract. */
#include "rng.h"

#include <math.h>

__extension__ typedef unsigned __int128 u128;

uint64_t rng_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rng_key(uint64_t seed, uint64_t stream)
{
    uint64_t a = stream + 0x9E3779B97F4A7C15ull;
    uint64_t h = rng_splitmix64(&a);
    uint64_t b = seed ^ h;
    return rng_splitmix64(&b);
}

void rng_init(struct rng *r, uint64_t key)
{
    uint64_t st = key;
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&st);
    r->spare = 0.0;
    r->has_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

float rng_uniformf(struct rng *r) { return (float)(rng_next(r) >> 40) * 0x1.0p-24f; }

double rng_normal(struct rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - rng_uniform(r); /* (0, 1] */
    double u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586476925 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    /* Lemire 2019, "Fast random integer generation in an interval". */
    u128 m = (u128)rng_next(r) * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = (0 - n) % n;
        while (l < t) {
            m = (u128)rng_next(r) * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}
