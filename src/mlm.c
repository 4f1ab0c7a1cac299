/* mlm.c - the masked-LM head (BertOnlyMLMHead / RobertaLMHead of Hugging
 * Face's transformers): dense, GELU (erf), LayerNorm, decoder tied to the
 * word embeddings plus a bias, cross-entropy at the masked positions only.
 *
 * Inputs: the encoder's final hidden states, masked positions, labels.
 * Outputs: the loss, gradients of the head's tensors, dLoss/dhidden, and
 * the decoder's gradient into the word embeddings. Kernels from ops.c;
 * the vocabulary products are two sgemm calls against E. */
#include "mlm.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

#define MLM_INIT_STREAM 3000000u

enum { T_DW = 0, T_DB = 1, T_LNW = 2, T_LNB = 3, T_BIAS = 4 };

void mlm_free(struct mlm_head *h)
{
    free(h->params);
    free(h->grads);
    free(h->x);
    free(h->logits);
    free(h->row_loss);
    free(h->row_hit);
    free(h->dhidden);
    free(h->out_ids);
    free(h->out_col);
    free(h->tgt);
    free(h->Es);
    memset(h, 0, sizeof *h);
}

enum idim_status mlm_init(struct mlm_head *h, const struct arch_config *cfg, int max_M,
                          int max_N, struct idim_err *err)
{
    memset(h, 0, sizeof *h);
    if (max_M < 1 || max_N < 1)
        return idim_fail(err, IDIM_ERR_USAGE, "mlm: %d masked rows of %d: both must be >= 1",
                         max_M, max_N);
    h->cfg = *cfg;
    h->cfg.has_mlm_head = 1;
    h->cfg.n_labels = 0;
    h->cfg.has_pooler = 0;
    /* the head's entries of the file table, re-based to offset 0 */
    size_t nt = arch_tensors(&h->cfg, ARCH_TABLE_FILE, 0, NULL, 0);
    struct arch_tensor *tab = calloc(nt, sizeof *tab);
    if (!tab)
        return idim_fail(err, IDIM_ERR_NOMEM, "mlm: out of memory");
    arch_tensors(&h->cfg, ARCH_TABLE_FILE, 0, tab, nt);
    size_t k = 0, off = 0;
    for (size_t i = 0; i < nt; i++)
        if (tab[i].group == ARCH_G_MLM) {
            assert(k < MLM_N_TENSORS);
            h->tensors[k] = tab[i];
            h->tensors[k].offset = off;
            off += tab[i].n_elem;
            k++;
        }
    free(tab);
    assert(k == MLM_N_TENSORS);
    h->n_params = off;
    h->max_M = max_M;
    h->max_N = max_N;
    size_t C = (size_t)cfg->hidden, V = (size_t)cfg->vocab_size, M = (size_t)max_M;
    h->params = calloc(h->n_params, sizeof(float));
    h->grads = calloc(h->n_params, sizeof(float));
    /* x, f, g, xhat, y, dy, dx: [M, C] each; rstd [M] */
    h->x = calloc(7 * M * C + M, sizeof(float));
    h->logits = calloc(M * V, sizeof(float));
    h->row_loss = calloc(M, sizeof(double));
    h->row_hit = calloc(M, sizeof(int32_t));
    h->tgt = calloc(M, sizeof(int32_t));
    h->dhidden = calloc((size_t)max_N * C, sizeof(float));
    if (!h->params || !h->grads || !h->x || !h->logits || !h->row_loss || !h->row_hit ||
        !h->dhidden || !h->tgt) {
        mlm_free(h);
        return idim_fail(err, IDIM_ERR_NOMEM,
                         "mlm: out of memory for %d masked rows x %zu vocabulary logits", max_M,
                         V);
    }
    h->f = h->x + M * C;
    h->g = h->f + M * C;
    h->xhat = h->g + M * C;
    h->y = h->xhat + M * C;
    h->dy = h->y + M * C;
    h->dx = h->dy + M * C;
    h->rstd = h->dx + M * C;
    return IDIM_OK;
}

void mlm_init_random(struct mlm_head *h, uint64_t seed)
{
    struct rng r;
    rng_init(&r, rng_key(seed, MLM_INIT_STREAM));
    const struct arch_tensor *t = h->tensors;
    float *p = h->params;
    for (size_t i = 0; i < t[T_DW].n_elem; i++)
        p[t[T_DW].offset + i] = (float)(0.02 * rng_normal(&r));
    memset(p + t[T_DB].offset, 0, t[T_DB].n_elem * sizeof(float));
    for (size_t i = 0; i < t[T_LNW].n_elem; i++)
        p[t[T_LNW].offset + i] = 1.0f;
    memset(p + t[T_LNB].offset, 0, t[T_LNB].n_elem * sizeof(float));
    memset(p + t[T_BIAS].offset, 0, t[T_BIAS].n_elem * sizeof(float));
}

enum idim_status mlm_load(struct mlm_head *h, const struct wfile *w, struct idim_err *err)
{
    const char *path = w->path ? w->path : "model file";
    for (int k = 0; k < MLM_N_TENSORS; k++) {
        const struct arch_tensor *t = &h->tensors[k];
        const struct wfile_tensor *s = wfile_find(w, t->name);
        if (!s)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: holds no masked-LM head (tensor %s)",
                             path, t->name);
        if (s->n_elem != t->n_elem || s->n_dims != t->n_dims)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor %s has %zu values: expected %zu",
                             path, t->name, s->n_elem, t->n_elem);
        memcpy(h->params + t->offset, s->data, t->n_elem * sizeof(float));
    }
    return IDIM_OK;
}

enum idim_status mlm_set_vocab(struct mlm_head *h, const int32_t *ids, int K,
                               struct idim_err *err)
{
    free(h->out_ids);
    free(h->out_col);
    free(h->Es);
    h->out_ids = h->out_col = NULL;
    h->Es = h->dEs = h->bs = h->dbs = NULL;
    h->K = 0;
    if (!ids)
        return IDIM_OK;
    int V = h->cfg.vocab_size;
    size_t C = (size_t)h->cfg.hidden;
    if (K < 1 || K > V)
        return idim_fail(err, IDIM_ERR_USAGE, "mlm: %d output tokens of %d: need 1..%d", K, V,
                         V);
    h->out_ids = malloc((size_t)K * sizeof *h->out_ids);
    h->out_col = malloc((size_t)V * sizeof *h->out_col);
    h->Es = malloc(((size_t)K * (2 * C + 2)) * sizeof *h->Es);
    if (!h->out_ids || !h->out_col || !h->Es) {
        mlm_set_vocab(h, NULL, 0, err);
        return idim_fail(err, IDIM_ERR_NOMEM, "mlm: out of memory for %d output tokens", K);
    }
    h->dEs = h->Es + (size_t)K * C;
    h->bs = h->dEs + (size_t)K * C;
    h->dbs = h->bs + K;
    for (int v = 0; v < V; v++)
        h->out_col[v] = -1;
    for (int j = 0; j < K; j++) {
        if (ids[j] < 0 || ids[j] >= V || h->out_col[ids[j]] >= 0) {
            int bad = ids[j];
            mlm_set_vocab(h, NULL, 0, err);
            return idim_fail(err, IDIM_ERR_USAGE,
                             "mlm: output token %d (entry %d) is out of range or repeated", bad,
                             j);
        }
        h->out_ids[j] = ids[j];
        h->out_col[ids[j]] = j;
    }
    h->K = K;
    return IDIM_OK;
}

int mlm_keep_scored(const struct mlm_head *h, int32_t *pos, int32_t *labels, int M)
{
    if (!h->K)
        return M;
    int k = 0;
    for (int r = 0; r < M; r++)
        if (h->out_col[labels[r]] >= 0) {
            pos[k] = pos[r];
            labels[k] = labels[r];
            k++;
        }
    return k;
}

/* ---- forward ------------------------------------------------------------ */

struct row_args {
    struct mlm_head *h;
};

/* Per row: log-softmax in double over V logits, loss, argmax, and the
 * logits replaced by dLoss/dlogits = (softmax - onehot) / M. Rows are
 * independent, so the split does not change the result. */
static void softmax_rows(void *arg, int part, int parts)
{
    struct mlm_head *h = ((struct row_args *)arg)->h;
    int V = h->K ? h->K : h->cfg.vocab_size, M = h->M;
    int r0 = (int)((long)M * part / parts), r1 = (int)((long)M * (part + 1) / parts);
    for (int r = r0; r < r1; r++) {
        float *z = h->logits + (size_t)r * V;
        int best = 0;
        for (int j = 1; j < V; j++)
            if (z[j] > z[best])
                best = j;
        int y = h->tgt[r];
        float mx = z[best], zy = z[y];
        /* one expf per logit (the sum in double): exp(z - max) <= 1 */
        double s = 0.0;
        for (int j = 0; j < V; j++) {
            float e = expf(z[j] - mx);
            z[j] = e;
            s += e;
        }
        h->row_loss[r] = (double)mx + log(s) - (double)zy;
        h->row_hit[r] = best == y;
        float inv = (float)(1.0 / (s * M));
        for (int j = 0; j < V; j++)
            z[j] *= inv;
        z[y] -= 1.0f / (float)M;
    }
}

float mlm_forward(struct mlm_head *h, const float *hidden, const float *wte, const int32_t *pos,
                  const int32_t *labels, int M)
{
    assert(M >= 1 && M <= h->max_M);
    int C = h->cfg.hidden, V = h->cfg.vocab_size;
    const float *p = h->params;
    const struct arch_tensor *t = h->tensors;
    h->M = M, h->pos = pos, h->labels = labels, h->wte = wte;
    for (int r = 0; r < M; r++) {
        assert(pos[r] >= 0 && pos[r] < h->max_N && labels[r] >= 0 && labels[r] < V);
        memcpy(h->x + (size_t)r * C, hidden + (size_t)pos[r] * C, (size_t)C * sizeof(float));
    }
    linear_forward(h->f, h->x, p + t[T_DW].offset, NULL, M, C, C);
    bias_gelu_forward(h->g, h->f, p + t[T_DB].offset, M, C);
    residual_layernorm_forward(h->y, h->xhat, h->rstd, NULL, h->g, NULL, 1.0f,
                               p + t[T_LNW].offset, p + t[T_LNB].offset, h->cfg.ln_eps, M, C);
    if (h->K) {
        /* the scored rows of E and the bias, gathered */
        for (int j = 0; j < h->K; j++) {
            memcpy(h->Es + (size_t)j * C, wte + (size_t)h->out_ids[j] * C,
                   (size_t)C * sizeof(float));
            h->bs[j] = p[t[T_BIAS].offset + (size_t)h->out_ids[j]];
        }
        for (int r = 0; r < M; r++) {
            h->tgt[r] = h->out_col[labels[r]];
            assert(h->tgt[r] >= 0);
        }
        linear_forward(h->logits, h->y, h->Es, h->bs, M, C, h->K);
    } else {
        memcpy(h->tgt, labels, (size_t)M * sizeof *labels);
        linear_forward(h->logits, h->y, wte, p + t[T_BIAS].offset, M, C, V);
    }
    struct row_args ra = {h};
    ops_parallel(softmax_rows, &ra);
    double total = 0.0;
    int hits = 0;
    for (int r = 0; r < M; r++) {
        total += h->row_loss[r];
        hits += h->row_hit[r];
    }
    h->loss = total / M;
    h->n_correct = hits;
    return (float)h->loss;
}

/* ---- backward ----------------------------------------------------------- */

void mlm_backward(struct mlm_head *h, int N)
{
    int C = h->cfg.hidden, V = h->cfg.vocab_size, M = h->M;
    assert(N >= 1 && N <= h->max_N);
    const float *p = h->params;
    float *dp = h->grads;
    const struct arch_tensor *t = h->tensors;
    memset(dp, 0, h->n_params * sizeof(float));
    /* logits = y E^T + bias: dy = dlogits E; dbias = colsum(dlogits). The
     * decoder's dE is left to mlm_add_decoder_grad. */
    if (h->K) {
        memset(h->dbs, 0, (size_t)h->K * sizeof(float));
        linear_backward(h->dy, NULL, h->dbs, h->logits, h->y, h->Es, M, C, h->K, 0.0f);
        for (int j = 0; j < h->K; j++)
            dp[t[T_BIAS].offset + (size_t)h->out_ids[j]] = h->dbs[j];
    } else {
        linear_backward(h->dy, NULL, dp + t[T_BIAS].offset, h->logits, h->y, h->wte, M, C, V,
                        0.0f);
    }
    /* y = LN(g): dg into dx (overwritten) */
    residual_layernorm_backward(h->dx, NULL, dp + t[T_LNW].offset, dp + t[T_LNB].offset, h->dy,
                                h->xhat, h->rstd, NULL, 1.0f, p + t[T_LNW].offset, M, C);
    gelu_backward(h->dx, dp + t[T_DB].offset, h->f, h->g, M, C);
    /* f = x Wd^T: dx -> dy (reused as dLoss/dx) */
    linear_backward(h->dy, dp + t[T_DW].offset, NULL, h->dx, h->x, p + t[T_DW].offset, M, C, C,
                    0.0f);
    memset(h->dhidden, 0, (size_t)N * C * sizeof(float));
    for (int r = 0; r < M; r++) {
        float *dst = h->dhidden + (size_t)h->pos[r] * C;
        const float *src = h->dy + (size_t)r * C;
        for (int j = 0; j < C; j++)
            dst[j] += src[j];
    }
}

void mlm_add_decoder_grad(const struct mlm_head *h, float *dwte)
{
    int C = h->cfg.hidden;
    if (!h->K) {
        linear_backward(NULL, dwte, NULL, h->logits, h->y, h->wte, h->M, C, h->cfg.vocab_size,
                        0.0f);
        return;
    }
    memset(h->dEs, 0, (size_t)h->K * C * sizeof(float));
    linear_backward(NULL, h->dEs, NULL, h->logits, h->y, h->Es, h->M, C, h->K, 0.0f);
    for (int j = 0; j < h->K; j++) {
        float *dst = dwte + (size_t)h->out_ids[j] * C;
        const float *src = h->dEs + (size_t)j * C;
        for (int c = 0; c < C; c++)
            dst[c] += src[c];
    }
}

double mlm_flops(const struct mlm_head *h, int M)
{
    double C = h->cfg.hidden, V = h->K ? h->K : h->cfg.vocab_size;
    /* forward: dense + decoder; backward: twice each */
    return 3.0 * 2.0 * M * (C * C + C * V);
}
