/* ops_vec.h - the element-wise vector math of ops.c (GELU, its
 * derivative, exp), written once for vectors of VW floats and included by
 * ops.c twice: VW 4 (SSE2, every x86-64 processor) and VW 8, compiled for
 * AVX2 and chosen at run time when the processor has it. Every lane does
 * the same float operations in the same order and nothing is contracted
 * into an FMA (ISO C mode), so both give the same bits: a result does not
 * depend on the vector width, nor on where a row's vectors fall (the tails
 * go through one padded vector).
 *
 * Before including: VW (4 or 8) and V(name), which names this width's copy
 * of each function and type (e.g. name##4). Not a header of its own. */

typedef float V(vf) __attribute__((vector_size(VW * 4)));
typedef int32_t V(vi) __attribute__((vector_size(VW * 4)));

static inline V(vf) V(load)(const float *p)
{
    V(vf) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void V(store)(float *p, V(vf) v) { memcpy(p, &v, sizeof v); }

static inline V(vf) V(set)(float x)
{
    V(vf) v;
    for (int k = 0; k < VW; k++)
        v[k] = x;
    return v;
}

/* min / max by mask blend (NaN compares false and keeps the bound) */
static inline V(vf) V(vmin)(V(vf) x, float c)
{
    V(vf) cv = V(set)(c);
    V(vi) m = x < cv;
    return (V(vf))(((V(vi))x & m) | ((V(vi))cv & ~m));
}

static inline V(vf) V(vmax)(V(vf) x, float c)
{
    V(vf) cv = V(set)(c);
    V(vi) m = x > cv;
    return (V(vf))(((V(vi))x & m) | ((V(vi))cv & ~m));
}

/* erf(x), rational approximation on [-4, 4] (Eigen's generic_fast_erf_float),
 * max abs error 4.2e-7 over float inputs; erf(+-4) rounds to +-1 in float. */
static inline V(vf) V(erf)(V(vf) x)
{
    x = V(vmax)(V(vmin)(x, 4.0f), -4.0f);
    V(vf) x2 = x * x;
    V(vf) p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    p = x * p;
    V(vf) q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return p / q;
}

/* exp(x) for x in [-87.3, 88.3] (clamped), Cephes expf polynomial after
 * rounding x / ln 2 to the nearest integer n; 2^n built from its bits.
 * Max relative error 8.3e-8 (about 1 ulp). */
static inline V(vf) V(exp)(V(vf) x)
{
    x = V(vmax)(V(vmin)(x, 88.3762626647949f), -87.3365478515625f);
    V(vf) r = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    V(vf) f = x - r * 0.693359375f;
    f = f - r * -2.12194440e-4f;
    V(vf) p = V(set)(1.9875691500e-4f);
    p = p * f + 1.3981999507e-3f;
    p = p * f + 8.3334519073e-3f;
    p = p * f + 4.1665795894e-2f;
    p = p * f + 1.6666665459e-1f;
    p = p * f + 5.0000001201e-1f;
    p = p * f * f + f + 1.0f;
    V(vi) bits = (__builtin_convertvector(r, V(vi)) + 127) << 23;
    return p * (V(vf))bits;
}

static inline V(vf) V(gelu)(V(vf) x)
{
    return 0.5f * x * (1.0f + V(erf)(x * 0.70710678118654752f));
}

/* gelu'(x) = Phi(x) + x phi(x), with Phi(x) = gelu(x) / x recovered from
 * the saved output g (saves a second erf); |x| < 1e-20 (where g / x would
 * lose bits or divide by zero) takes Phi = 1/2, exact to 1e-21. */
static inline V(vf) V(gelu_grad)(V(vf) x, V(vf) g)
{
    V(vf) ax = (V(vf))((V(vi))x & 0x7fffffff);
    V(vi) small = ax < V(set)(1e-20f);
    V(vf) safe = (V(vf))(((V(vi))x & ~small) | ((V(vi))V(set)(1.0f) & small));
    V(vf) q = g / safe;
    V(vf) cdf = (V(vf))(((V(vi))q & ~small) | ((V(vi))V(set)(0.5f) & small));
    V(vf) pdf = 0.39894228040143268f * V(exp)(-0.5f * x * x);
    return cdf + x * pdf;
}

/* f[0..n) += bias, g = gelu(f) */
static void V(bias_gelu_row)(float *g, float *f, const float *bias, int n)
{
    int i = 0;
    for (; i + VW <= n; i += VW) {
        V(vf) x = V(load)(f + i) + V(load)(bias + i);
        V(store)(f + i, x);
        V(store)(g + i, V(gelu)(x));
    }
    if (i < n) {
        float t[VW] = {0};
        for (int k = 0; i + k < n; k++)
            t[k] = f[i + k] += bias[i + k];
        V(store)(t, V(gelu)(V(load)(t)));
        memcpy(g + i, t, (size_t)(n - i) * sizeof(float));
    }
}

/* columns [c0, c1) of one row: d *= gelu'(f) (g = gelu(f)), db += d */
static void V(gelu_grad_cols)(float *d, float *db, const float *f, const float *g, int c0,
                              int c1)
{
    int i = c0;
    for (; i + VW <= c1; i += VW) {
        V(vf) x = V(load)(d + i) * V(gelu_grad)(V(load)(f + i), V(load)(g + i));
        V(store)(d + i, x);
        V(store)(db + i, V(load)(db + i) + x);
    }
    if (i < c1) {
        float t[VW] = {0}, u[VW] = {0};
        memcpy(t, f + i, (size_t)(c1 - i) * sizeof(float));
        memcpy(u, g + i, (size_t)(c1 - i) * sizeof(float));
        V(store)(t, V(gelu_grad)(V(load)(t), V(load)(u)));
        for (int k = 0; i + k < c1; k++) {
            d[i + k] *= t[k];
            db[i + k] += d[i + k];
        }
    }
}

/* x[0..n) = exp(x) in place */
static void V(exp_row)(float *x, int n)
{
    int i = 0;
    for (; i + VW <= n; i += VW)
        V(store)(x + i, V(exp)(V(load)(x + i)));
    if (i < n) {
        float t[VW] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        V(store)(t, V(exp)(V(load)(t)));
        memcpy(x + i, t, (size_t)(n - i) * sizeof(float));
    }
}
