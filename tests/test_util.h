/* test_util.h - small helpers shared by the cmocka tests (include after
 * cmocka.h and rng.h). */
#ifndef IDIM_TEST_UTIL_H
#define IDIM_TEST_UTIL_H

/* n floats drawn N(0,1) from the stream keyed `seed` (caller frees). */
static inline float *frand(size_t n, uint64_t seed)
{
    struct rng r;
    rng_init(&r, seed);
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_normal(&r);
    return x;
}

/* <a, b> summed in double. */
static inline double ddot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

#endif
