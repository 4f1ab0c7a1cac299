/* ops.h - layer kernels of the encoder, each a _forward/_backward pair.
 *
 * Conventions (llm.c style): outputs first, inputs next, sizes last;
 * gradient buffers start with `d`. Activations are row-major [N, C] with
 * N = B*T tokens. Linear weights are [out, in] as PyTorch stores them, so
 * y = x W^T + b. Backward kernels ACCUMULATE (+=) into weight and bias
 * gradients (the caller zeroes them once per backward) and OVERWRITE the
 * gradient of their input unless said otherwise. Matrix products go through
 * cblas_sgemm; nothing here allocates.
 *
 * Stage: used by model.c, and the optimizer passes at the end by the trainer
 * (train.c, pretrain.c). */
#ifndef IDIM_OPS_H
#define IDIM_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* Our own thread pool (see ops.c): ops_set_threads(n) sizes it (workers are
 * created once and sleep between calls) and returns the count in use;
 * ops_parallel runs fn(arg, part, n_parts) for every part, part 0 on the
 * caller, and returns when all are done. Kernels split their work so that
 * results do not depend on the thread count. */
typedef void (*par_fn)(void *arg, int part, int n_parts);
int ops_set_threads(int n);
void ops_parallel(par_fn fn, void *arg);

/* Element-wise math (GELU, its derivative, the softmax's exp) runs on
 * 8-float vectors when the processor has AVX2 and on 4-float ones
 * otherwise, with the same bits either way; ops_set_simd(0) forces the
 * 4-float code and ops_set_simd(1) restores the choice (for tests). Returns 1
 * when the 8-float code is in use. */
int ops_set_simd(int wide);

/* out[N,OC] = inp[N,IC] weight[OC,IC]^T + bias[OC] (bias may be NULL). */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int IC, int OC);

/* dinp[N,IC] = dout weight (beta_inp 0: overwrite, 1: accumulate; dinp may be
 * NULL to skip); dweight[OC,IC] += dout^T inp (NULL to skip: a tied weight
 * whose gradient is added later); dbias[OC] += colsum(dout). */
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int IC, int OC,
                     float beta_inp);

/* Post-LN sublayer end, fused: r = res + drop(a); out = LN(r) * gamma + beta.
 * Saves xhat[N,C] = (r - mean) * rstd and rstd[N] for the backward.
 * dmask[N,C] (1 keep, 0 drop) is applied with scale keep_scale when
 * dmask != NULL (train with dropout); res may be NULL (no residual). */
void residual_layernorm_forward(float *out, float *xhat, float *rstd, const float *res,
                                const float *a, const uint8_t *dmask, float keep_scale,
                                const float *gamma, const float *beta, float eps, int N, int C);

/* Backward of the above given dout[N,C]: dr[N,C] = dLoss/dr, the gradient
 * of the residual input (overwritten); da[N,C] = dr through the dropout
 * mask, the gradient of a (overwritten; NULL to skip); dgamma, dbeta[C]
 * accumulated. */
void residual_layernorm_backward(float *dr, float *da, float *dgamma, float *dbeta,
                                 const float *dout, const float *xhat, const float *rstd,
                                 const uint8_t *dmask, float keep_scale, const float *gamma,
                                 int N, int C);

/* In place: f[N,F] += bias, g[N,F] = gelu(f) (erf form). */
void bias_gelu_forward(float *g, float *f, const float *bias, int N, int F);

/* In place: dg[N,F] <- dg * gelu'(f), given f and g = gelu(f) as the
 * forward saved them; dbias[F] += colsum of the result. */
void gelu_backward(float *dg, float *dbias, const float *f, const float *g, int N, int F);

/* Multi-head self-attention core for B sequences of T tokens, NH heads of
 * size hd = C/NH, with the key padding mask mask[B,T] (0 = padding: its
 * probability is exactly 0, as HF's finfo.min bias gives; keys after a
 * sequence's last unmasked token are skipped altogether).
 * q, k, v, ctx are [B*T, C]; probs [B, NH, T, T] keeps the softmax
 * (before dropout); with pmask [B, NH, T, T] (dropout keep mask, or NULL)
 * pdrop [B, NH, T, T] receives probs * keep * keep_scale, what multiplies V.
 * Entries of probs and pdrop for skipped keys are left unwritten. */
void attention_forward(float *ctx, float *probs, float *pdrop, const float *q,
                       const float *k, const float *v, const int32_t *mask,
                       const uint8_t *pmask, float keep_scale, int B, int T, int C, int NH);

/* dq, dk, dv[B*T, C] overwritten from dctx; dqb, dkb, dvb [C] (each may be
 * NULL) += the column sums of dq, dk, dv (the Q, K, V bias gradients, summed
 * over the rows in order); probs, pdrop (NULL without dropout) and mask as
 * the forward had them; scratch [B, NH, T, T]. */
void attention_backward(float *dq, float *dk, float *dv, float *dqb, float *dkb, float *dvb,
                        float *scratch, const float *dctx, const float *q, const float *k,
                        const float *v, const float *probs, const float *pdrop,
                        const int32_t *mask, int B, int T, int C, int NH);

/* Fills keep[n] with 1 (probability 1 - p) or 0. Takes one output `seed`
 * of r; entries [65536 c, 65536 (c+1)) come from rng_key(seed, c), two per
 * rng_next (high, then low 32 bits u), kept when u >= p 2^32. Chunks are
 * filled in parallel; the result does not depend on the thread count. */
void dropout_mask(uint8_t *keep, struct rng *r, float p, size_t n);

/* x[n] *= keep * scale, in place. */
void dropout_apply(float *x, const uint8_t *keep, float scale, size_t n);

/* Optimizer passes over a flat weight vector (used by the trainer). */

/* The sum of x[i]^2 in double, summed in chunks fixed by n alone and then in
 * chunk order: the same whatever the thread count. */
double ops_sumsq(const float *x, size_t n);

/* AdamW's per-step constants, as floats: moments m = b1 m + omb1 g,
 * v = b2 v + omb2 g g; x -= wd x (where decayed, wd = lr * weight decay);
 * x -= step m / (sqrt(v) rbc2 + eps), step = lr / (1 - b1^t),
 * rbc2 = 1 / sqrt(1 - b2^t); use_wd: weight decay on (even when wd rounds
 * to 0). */
struct ops_adamw {
    float b1, b2, omb1, omb2, wd, step, rbc2, eps;
    int use_wd;
};

/* One AdamW update of x[0..n) with gradient gscale * g (g itself is not
 * changed); decay[i] == 0 exempts x[i] from wd (decay NULL: all decay). */
void ops_adamw_step(float *x, const float *g, float gscale, float *mom, float *vel,
                    const uint8_t *decay, size_t n, const struct ops_adamw *c);

/* adamw-proj's pass (train_adam_direction): the moments of G = gscale * g
 * as ops_adamw_step updates them, and dir = step m / (sqrt(v) rbc2 + eps)
 * with step = 1 / (1 - b1^t) (no lr, no decay; x untouched). On the pool
 * for large n; the same bits whatever the thread count. */
void ops_adam_direction(float *dir, const float *g, float gscale, float *mom, float *vel,
                        size_t n, const struct ops_adamw *c);

#endif
