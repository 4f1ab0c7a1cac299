/* ops.c - layer kernels of the BERT/RoBERTa encoder (see ops.h).
 *
 * Inputs/outputs: row-major float32 activations [N, C], N = B*T tokens.
 * Math follows Hugging Face's modeling_bert (Devlin et al. 2019): post-LN
 * residual blocks, GELU in its erf form, softmax attention scaled by
 * 1/sqrt(head size) with padded keys removed. Every reduction runs in a
 * fixed order, so results repeat bit for bit for a given thread count. */
#include "ops.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int IC, int OC)
{
    float beta = 0.0f;
    if (bias) {
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, weight, IC,
                beta, out, OC);
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int IC, int OC,
                     float beta_inp)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC,
                    weight, IC, beta_inp, dinp, IC);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC,
                1.0f, dweight, IC);
    if (dbias) {
        for (int n = 0; n < N; n++) {
            const float *row = dout + (size_t)n * OC;
            for (int o = 0; o < OC; o++)
                dbias[o] += row[o];
        }
    }
}

void residual_layernorm_forward(float *out, float *xhat, float *rstd, const float *res,
                                const float *a, const uint8_t *dmask, float keep_scale,
                                const float *gamma, const float *beta, float eps, int N, int C)
{
    for (int n = 0; n < N; n++) {
        size_t o = (size_t)n * C;
        float *x = xhat + o;
        const float *an = a + o;
        if (dmask) {
            const uint8_t *mk = dmask + o;
            for (int i = 0; i < C; i++)
                x[i] = mk[i] ? an[i] * keep_scale : 0.0f;
        } else {
            memcpy(x, an, (size_t)C * sizeof(float));
        }
        if (res) {
            const float *rn = res + o;
            for (int i = 0; i < C; i++)
                x[i] += rn[i];
        }
        float sum = 0.0f;
        for (int i = 0; i < C; i++)
            sum += x[i];
        float mean = sum / (float)C;
        float var = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - mean;
            var += d * d;
        }
        var /= (float)C;
        float rs = 1.0f / sqrtf(var + eps);
        rstd[n] = rs;
        float *y = out + o;
        for (int i = 0; i < C; i++) {
            float xh = (x[i] - mean) * rs;
            x[i] = xh;
            y[i] = xh * gamma[i] + beta[i];
        }
    }
}

void residual_layernorm_backward(float *dr, float *da, float *dgamma, float *dbeta,
                                 const float *dout, const float *xhat, const float *rstd,
                                 const uint8_t *dmask, float keep_scale, const float *gamma,
                                 int N, int C)
{
    for (int n = 0; n < N; n++) {
        size_t o = (size_t)n * C;
        const float *dy = dout + o, *x = xhat + o;
        float s1 = 0.0f, s2 = 0.0f;
        for (int i = 0; i < C; i++) {
            float g = dy[i] * gamma[i];
            s1 += g;
            s2 += g * x[i];
            dgamma[i] += dy[i] * x[i];
            dbeta[i] += dy[i];
        }
        s1 /= (float)C;
        s2 /= (float)C;
        float rs = rstd[n];
        float *d = dr + o;
        for (int i = 0; i < C; i++)
            d[i] = rs * (dy[i] * gamma[i] - s1 - x[i] * s2);
        if (da) {
            float *dan = da + o;
            if (dmask) {
                const uint8_t *mk = dmask + o;
                for (int i = 0; i < C; i++)
                    dan[i] = mk[i] ? d[i] * keep_scale : 0.0f;
            } else {
                memcpy(dan, d, (size_t)C * sizeof(float));
            }
        }
    }
}

void bias_gelu_forward(float *g, float *f, const float *bias, int N, int F)
{
    for (int n = 0; n < N; n++) {
        float *fr = f + (size_t)n * F, *gr = g + (size_t)n * F;
        for (int i = 0; i < F; i++) {
            float x = fr[i] + bias[i];
            fr[i] = x;
            gr[i] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
        }
    }
}

void gelu_backward(float *dg, float *dbias, const float *f, int N, int F)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    for (int n = 0; n < N; n++) {
        float *d = dg + (size_t)n * F;
        const float *fr = f + (size_t)n * F;
        for (int i = 0; i < F; i++) {
            float x = fr[i];
            float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
            float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
            float v = d[i] * (cdf + x * pdf);
            d[i] = v;
            dbias[i] += v;
        }
    }
}

void attention_forward(float *ctx, float *probs, float *scratch, const float *q,
                       const float *k, const float *v, const int32_t *mask,
                       const uint8_t *pmask, float keep_scale, int B, int T, int C, int NH)
{
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
    size_t TT = (size_t)T * T;
    for (int b = 0; b < B; b++) {
        const int32_t *mk = mask + (size_t)b * T;
        for (int h = 0; h < NH; h++) {
            size_t base = (size_t)b * T * C + (size_t)h * hd;
            float *P = probs + ((size_t)b * NH + h) * TT;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q + base, C,
                        k + base, C, 0.0f, P, T);
            for (int i = 0; i < T; i++) {
                float *row = P + (size_t)i * T;
                float mx = -INFINITY;
                for (int j = 0; j < T; j++)
                    if (mk[j] && row[j] > mx)
                        mx = row[j];
                float sum = 0.0f;
                for (int j = 0; j < T; j++) {
                    float e = mk[j] ? expf(row[j] - mx) : 0.0f;
                    row[j] = e;
                    sum += e;
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < T; j++)
                    row[j] *= inv;
            }
            const float *A = P;
            if (pmask) {
                const uint8_t *pm = pmask + ((size_t)b * NH + h) * TT;
                for (size_t i = 0; i < TT; i++)
                    scratch[i] = pm[i] ? P[i] * keep_scale : 0.0f;
                A = scratch;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, A, T,
                        v + base, C, 0.0f, ctx + base, C);
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dctx,
                        const float *q, const float *k, const float *v, const float *probs,
                        const uint8_t *pmask, float keep_scale, int B, int T, int C, int NH)
{
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
    size_t TT = (size_t)T * T;
    float *dP = scratch, *Pd = scratch + TT;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            size_t base = (size_t)b * T * C + (size_t)h * hd;
            const float *P = probs + ((size_t)b * NH + h) * TT;
            const uint8_t *pm = pmask ? pmask + ((size_t)b * NH + h) * TT : NULL;
            const float *A = P;
            if (pm) {
                for (size_t i = 0; i < TT; i++)
                    Pd[i] = pm[i] ? P[i] * keep_scale : 0.0f;
                A = Pd;
            }
            /* dV = Pd^T dctx; dPd = dctx V^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, A, T,
                        dctx + base, C, 0.0f, dv + base, C);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dctx + base, C,
                        v + base, C, 0.0f, dP, T);
            /* softmax backward (through the dropout mask): dS = P (dP - <P, dP>) */
            for (int i = 0; i < T; i++) {
                float *d = dP + (size_t)i * T;
                const float *p = P + (size_t)i * T;
                if (pm) {
                    const uint8_t *pr = pm + (size_t)i * T;
                    for (int j = 0; j < T; j++)
                        d[j] = pr[j] ? d[j] * keep_scale : 0.0f;
                }
                float dot = 0.0f;
                for (int j = 0; j < T; j++)
                    dot += p[j] * d[j];
                for (int j = 0; j < T; j++)
                    d[j] = p[j] * (d[j] - dot);
            }
            /* S = scale Q K^T: dQ = scale dS K, dK = scale dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dP, T,
                        k + base, C, 0.0f, dq + base, C);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dP, T,
                        q + base, C, 0.0f, dk + base, C);
        }
    }
}

void dropout_mask(uint8_t *keep, struct rng *r, float p, size_t n)
{
    /* keep when u >= p, u uniform in [0,1) with 24 bits: P(keep) = 1 - p */
    uint32_t thr = (uint32_t)((double)p * 16777216.0 + 0.5);
    for (size_t i = 0; i < n; i++)
        keep[i] = (uint32_t)(rng_next(r) >> 40) >= thr;
}

void dropout_apply(float *x, const uint8_t *keep, float scale, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = keep[i] ? x[i] * scale : 0.0f;
}
