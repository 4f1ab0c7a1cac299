/* fuzz_theta.c - libFuzzer target: the theta file reader (theta_parse).
 * Half the inputs get a correct checksum, so the field checks are reached. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "theta.h"

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > ((size_t)1 << 20))
        return 0;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return 0;
    memcpy(b, data, n);
    if (n >= 16 && (n & 1)) {
        uint64_t h = fnv(b, n - 8);
        for (int i = 0; i < 8; i++)
            b[n - 8 + i] = (uint8_t)(h >> (8 * i));
    }
    struct theta_file tf;
    struct idim_err err;
    if (theta_parse(b, n, "fuzz.theta", &tf, &err) == IDIM_OK)
        theta_free(&tf);
    free(b);
    return 0;
}
