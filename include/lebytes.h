/* lebytes.h - little-endian fields of idim's binary files (the measure state
 * file and the run checkpoint): put/get of u32, u64 and f64 (its IEEE bits)
 * at a byte pointer, and FNV-1a 64, the files' checksum. Header-only. */
#ifndef IDIM_LEBYTES_H
#define IDIM_LEBYTES_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

static inline void le_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void le_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void le_putf64(unsigned char *p, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    le_put64(p, u);
}

static inline uint32_t le_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t le_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline double le_getf64(const unsigned char *p)
{
    uint64_t u = le_get64(p);
    double x;
    memcpy(&x, &u, 8);
    return x;
}

/* FNV-1a 64 of p[0..n). */
static inline uint64_t le_fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Field checks of a binary reader: each failure is IDIM_ERR_FORMAT with
 * "<where>: byte <base + off>: <field>: expected <range>, found <value>". */
struct le_check {
    const char *where; /* the file (and part) named in messages */
    size_t base;       /* offset of the part within the file */
    struct idim_err *err;
};

static inline enum idim_status le_bad(const struct le_check *k, size_t off, const char *field,
                                      const char *expected, const char *found)
{
    return idim_fail(k->err, IDIM_ERR_FORMAT, "%s: byte %zu: %s: expected %s, found %s",
                     k->where, k->base + off, field, expected, found);
}

/* v in [lo, hi]. */
static inline enum idim_status le_check_u(const struct le_check *k, size_t off,
                                          const char *field, uint64_t v, uint64_t lo,
                                          uint64_t hi)
{
    if (v >= lo && v <= hi)
        return IDIM_OK;
    char e[64], f[32];
    snprintf(e, sizeof e, "%llu to %llu", (unsigned long long)lo, (unsigned long long)hi);
    snprintf(f, sizeof f, "%llu", (unsigned long long)v);
    return le_bad(k, off, field, e, f);
}

/* x NaN (when nan_ok) or finite in [lo, hi]. */
static inline enum idim_status le_check_f(const struct le_check *k, size_t off,
                                          const char *field, double x, double lo, double hi,
                                          int nan_ok)
{
    if ((nan_ok && isnan(x)) || (isfinite(x) && x >= lo && x <= hi))
        return IDIM_OK;
    char e[80], f[32];
    snprintf(e, sizeof e, "%s%g to %g", nan_ok ? "NaN or " : "", lo, hi);
    snprintf(f, sizeof f, "%g", x);
    return le_bad(k, off, field, e, f);
}

#endif
