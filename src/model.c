/* model.c - BERT/RoBERTa for sequence classification: float32 forward and
 * exact backward on CPU (Devlin et al. 2019; Liu et al. 2019), following
 * Hugging Face's BertForSequenceClassification and
 * RobertaForSequenceClassification.
 *
 * Inputs: a struct batch (ids, type ids, padding mask, labels/targets).
 * Outputs: logits, the mean loss, and dLoss/dparams for every tensor of the
 * ARCH_TABLE_MODEL table.
 *
 * Memory: params and grads are one block each ([D] floats); every
 * activation and scratch buffer is carved from one block sized for
 * max_B x max_T at model_init (struct acts). Forward and backward never
 * allocate. Kernels live in ops.c. */
#include "model.h"
#include "memguard.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* m->stop set and raised (model.h): the pass stops at its next check. */
#define STOPPED(m) ((m)->stop && *(m)->stop)

/* Created tensor t draws from rng_key(seed, ARCH_CREATED_KEY + t) (arch.h). */

/* Pointers to one layer's parameters (into params or grads). */
struct layer_w {
    float *qw, *qb, *kw, *kb, *vw, *vb, *ow, *ob, *ln1w, *ln1b;
    float *iw, *ib, *o2w, *o2b, *ln2w, *ln2b;
};

struct net_w {
    float *wte, *wpe, *wtt, *lnew, *lneb;
    struct layer_w *layer; /* [L] */
    float *pw, *pb;        /* BERT pooler; RoBERTa classifier.dense */
    float *cw, *cb;        /* BERT classifier; RoBERTa classifier.out_proj */
};

/* Saved activations of one layer for the backward pass. */
struct layer_a {
    float *inp;              /* [N, C] layer input (borrowed: previous output) */
    float *q, *k, *v, *ctx;  /* [N, C] */
    float *probs;            /* [B, NH, T, T] softmax before dropout */
    float *pdrop;            /* [B, NH, T, T] after dropout (train with dropout only) */
    uint8_t *pmask;          /* [B, NH, T, T] attention dropout keep mask */
    uint8_t *m1, *m2;        /* [N, C] hidden dropout keep masks */
    float *xhat1, *rstd1, *h1; /* [N, C], [N], [N, C] after the attention block */
    float *f, *g;            /* [N, F] pre- and post-GELU */
    float *xhat2, *rstd2, *out; /* [N, C], [N], [N, C] layer output */
};

struct acts {
    void *block;               /* the one allocation */
    struct net_w w, dw;        /* parameter / gradient views */
    int32_t *pos;              /* [N] position ids */
    float *emb_xhat, *emb_rstd; /* [N, C], [N] */
    uint8_t *emb_mask;         /* [N, C] */
    float *x0;                 /* [N, C] embeddings output (layer 0 input) */
    struct layer_a *layer;     /* [L] */
    /* heads, [B, C] each */
    float *cls, *cls_d, *pre, *pooled, *pooled_d;
    uint8_t *hmask1, *hmask2;
    float *probs_out;          /* [B, NL] softmax (classification) */
    float *dlogits;            /* [B, NL] */
    /* backward scratch */
    float *d_a, *d_b, *d_h1, *d_tmp, *d_ctx, *d_q, *d_k, *d_v; /* [N, C] */
    float *d_f;                /* [N, F] */
    float *att_scratch;        /* [B, NH, T, T] */
    float *dcls, *dpre;        /* [B, C] */
    /* what the last forward saw */
    const struct batch *b;
    int B, T, train;
    float p;                   /* dropout used */
};

void model_set_threads(int n)
{
    if (n < 1)
        n = 1;
    ops_set_threads(n);
    /* our pool splits every product (ops.c); OpenBLAS runs in the caller */
    openblas_set_num_threads(1);
}

static void point_weights(struct net_w *nw, float *base, const struct model *m)
{
    const struct arch_tensor *t = m->tensors;
    size_t i = 0;
    nw->wte = base + t[i++].offset;
    nw->wpe = base + t[i++].offset;
    nw->wtt = base + t[i++].offset;
    nw->lnew = base + t[i++].offset;
    nw->lneb = base + t[i++].offset;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        struct layer_w *w = &nw->layer[l];
        float **f[16] = {&w->qw, &w->qb, &w->kw, &w->kb, &w->vw, &w->vb, &w->ow, &w->ob,
                         &w->ln1w, &w->ln1b, &w->iw, &w->ib, &w->o2w, &w->o2b, &w->ln2w, &w->ln2b};
        for (int j = 0; j < 16; j++)
            *f[j] = base + t[i++].offset;
    }
    /* BERT: pooler.dense, classifier; RoBERTa: classifier.dense, out_proj */
    nw->pw = base + t[i++].offset;
    nw->pb = base + t[i++].offset;
    nw->cw = base + t[i++].offset;
    nw->cb = base + t[i++].offset;
    assert(i == m->n_tensors);
}

/* Carves the activation block. With base == NULL only counts bytes. */
static size_t carve(struct acts *a, char *base, const struct model *m)
{
    size_t off = 0;
    size_t N = (size_t)m->max_B * m->max_T, C = (size_t)m->cfg.hidden, F = (size_t)m->cfg.ffn;
    size_t BC = (size_t)m->max_B * C, NL = (size_t)m->n_labels;
    size_t ATT = (size_t)m->max_B * m->cfg.n_heads * m->max_T * m->max_T;
#define TAKE(ptr, type, count)                                                   \
    do {                                                                         \
        off = (off + 63) & ~(size_t)63;                                          \
        if (base)                                                                \
            (ptr) = (type *)(void *)(base + off);                                \
        off += (size_t)(count) * sizeof(type);                                   \
    } while (0)
    TAKE(a->pos, int32_t, N);
    TAKE(a->emb_xhat, float, N * C);
    TAKE(a->emb_rstd, float, N);
    TAKE(a->emb_mask, uint8_t, N * C);
    TAKE(a->x0, float, N * C);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        struct layer_a dummy, *la = base ? &a->layer[l] : &dummy;
        TAKE(la->q, float, N * C);
        TAKE(la->k, float, N * C);
        TAKE(la->v, float, N * C);
        TAKE(la->ctx, float, N * C);
        TAKE(la->probs, float, ATT);
        TAKE(la->pmask, uint8_t, ATT);
        TAKE(la->pdrop, float, ATT);
        TAKE(la->m1, uint8_t, N * C);
        TAKE(la->m2, uint8_t, N * C);
        TAKE(la->xhat1, float, N * C);
        TAKE(la->rstd1, float, N);
        TAKE(la->h1, float, N * C);
        TAKE(la->f, float, N * F);
        TAKE(la->g, float, N * F);
        TAKE(la->xhat2, float, N * C);
        TAKE(la->rstd2, float, N);
        TAKE(la->out, float, N * C);
    }
    TAKE(a->cls, float, BC);
    TAKE(a->cls_d, float, BC);
    TAKE(a->pre, float, BC);
    TAKE(a->pooled, float, BC);
    TAKE(a->pooled_d, float, BC);
    TAKE(a->hmask1, uint8_t, BC);
    TAKE(a->hmask2, uint8_t, BC);
    TAKE(a->probs_out, float, (size_t)m->max_B * NL);
    TAKE(a->dlogits, float, (size_t)m->max_B * NL);
    TAKE(a->d_a, float, N * C);
    TAKE(a->d_b, float, N * C);
    TAKE(a->d_h1, float, N * C);
    TAKE(a->d_tmp, float, N * C);
    TAKE(a->d_ctx, float, N * C);
    TAKE(a->d_q, float, N * C);
    TAKE(a->d_k, float, N * C);
    TAKE(a->d_v, float, N * C);
    TAKE(a->d_f, float, N * F);
    TAKE(a->att_scratch, float, ATT);
    TAKE(a->dcls, float, BC);
    TAKE(a->dpre, float, BC);
#undef TAKE
    return off;
}

size_t model_memory_bytes(const struct arch_config *cfg, int n_labels, int max_B, int max_T)
{
    struct model m;
    struct acts a;
    memset(&m, 0, sizeof m);
    memset(&a, 0, sizeof a);
    m.cfg = *cfg;
    m.n_labels = n_labels;
    m.max_B = max_B;
    m.max_T = max_T;
    return carve(&a, NULL, &m) + 2 * arch_n_params(cfg, ARCH_TABLE_MODEL, n_labels) * sizeof(float);
}

/* a*b with overflow check into *out; returns 0 on overflow. */
static int mul_ok(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

enum idim_status model_init(struct model *m, const struct arch_config *cfg, int n_labels,
                            int max_B, int max_T, struct idim_err *err)
{
    memset(m, 0, sizeof *m);
    enum idim_status st = arch_validate(cfg, "model config", err);
    if (st != IDIM_OK)
        return st;
    if (n_labels < 1 || n_labels > 1024)
        return idim_fail(err, IDIM_ERR_USAGE, "model: %d labels: expected 1..1024", n_labels);
    int max_pos_tokens = cfg->family == ARCH_ROBERTA ? cfg->max_pos - cfg->pad_id - 1 : cfg->max_pos;
    if (max_B < 1 || max_T < 1)
        return idim_fail(err, IDIM_ERR_USAGE, "model: batch %d x %d tokens: both must be >= 1",
                         max_B, max_T);
    if (max_T > max_pos_tokens)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "model: sequence length %d exceeds the %d positions the model has",
                         max_T, max_pos_tokens);
    size_t n, big;
    if (!mul_ok((size_t)max_B, (size_t)max_T, &n) || !mul_ok(n, (size_t)cfg->ffn, &big) ||
        !mul_ok(big, 4 * (size_t)cfg->n_layers, &big) ||
        !mul_ok(n, (size_t)max_T * cfg->n_heads, &big) ||
        !mul_ok(big, 5 * (size_t)cfg->n_layers, &big))
        return idim_fail(err, IDIM_ERR_NOMEM, "model: batch %d x %d is too large", max_B, max_T);

    m->cfg = *cfg;
    m->cfg.n_labels = n_labels;
    m->n_labels = n_labels;
    m->max_B = max_B;
    m->max_T = max_T;
    m->dropout = 0.1f;
    rng_init(&m->drop_rng, rng_key(0, MODEL_DROP_STREAM));
    m->n_tensors = arch_tensors(&m->cfg, ARCH_TABLE_MODEL, n_labels, NULL, 0);
    m->n_params = arch_n_params(&m->cfg, ARCH_TABLE_MODEL, n_labels);
    struct acts *a = calloc(1, sizeof *a);
    m->priv = a;
    m->tensors = calloc(m->n_tensors, sizeof *m->tensors);
    m->theta0 = calloc(m->n_tensors, sizeof *m->theta0);
    m->tensor_created = calloc(m->n_tensors, sizeof *m->tensor_created);
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->logits = calloc((size_t)max_B * n_labels, sizeof(float));
    if (!a || !m->tensors || !m->theta0 || !m->tensor_created || !m->params || !m->grads ||
        !m->logits)
        goto nomem;
    arch_tensors(&m->cfg, ARCH_TABLE_MODEL, n_labels, m->tensors, m->n_tensors);
    a->w.layer = calloc((size_t)cfg->n_layers, sizeof(struct layer_w));
    a->dw.layer = calloc((size_t)cfg->n_layers, sizeof(struct layer_w));
    a->layer = calloc((size_t)cfg->n_layers, sizeof(struct layer_a));
    if (!a->w.layer || !a->dw.layer || !a->layer)
        goto nomem;
    point_weights(&a->w, m->params, m);
    point_weights(&a->dw, m->grads, m);
    size_t bytes = carve(a, NULL, m);
    /* params and grads are calloc'd (not yet touched): count them with the
     * activations before the block is allocated */
    char what[128];
    snprintf(what, sizeof what, "the model (%zu parameters, weights and gradients) and its "
             "activations for a %d x %d batch", m->n_params, max_B, max_T);
    enum idim_status mst = memguard_check((uint64_t)bytes + 2 * (uint64_t)m->n_params * 4, what,
                                          "lower --batch or --max-len, or raise --max-memory",
                                          err);
    if (mst) {
        model_free(m);
        return mst;
    }
    a->block = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!a->block)
        goto nomem;
    carve(a, a->block, m);
    for (size_t t = 0; t < m->n_tensors; t++)
        m->theta0[t] = m->params + m->tensors[t].offset;
    return IDIM_OK;
nomem:
    model_free(m);
    return idim_fail(err, IDIM_ERR_NOMEM,
                     "model: out of memory for %zu parameters and a %d x %d batch",
                     arch_n_params(cfg, ARCH_TABLE_MODEL, n_labels), max_B, max_T);
}

void model_free(struct model *m)
{
    struct acts *a = m->priv;
    if (a) {
        free(a->w.layer);
        free(a->dw.layer);
        free(a->layer);
        free(a->block);
        free(a);
    }
    free(m->tensors);
    free(m->theta0);
    free(m->tensor_created);
    free(m->params);
    free(m->grads);
    free(m->logits);
    free(m->created);
    memset(m, 0, sizeof *m);
}

void model_init_random(struct model *m, uint64_t seed)
{
    /* arch_init_tensor's keys: a head is "created", as model_load creates it */
    for (size_t t = 0; t < m->n_tensors; t++) {
        const struct arch_tensor *ten = &m->tensors[t];
        float *dst = m->params + ten->offset;
        arch_init_tensor(dst, ten, &m->cfg, seed,
                         ten->group == ARCH_G_HEAD ? ARCH_CREATED_KEY + t : t);
        m->theta0[t] = dst;
        m->tensor_created[t] = 1;
    }
    rng_init(&m->drop_rng, rng_key(seed, MODEL_DROP_STREAM));
}

enum idim_status model_load(struct model *m, const struct wfile *w, uint64_t seed,
                            struct idim_err *err)
{
    const char *path = w->path ? w->path : "model file";
    const struct arch_config *fc = &w->cfg, *mc = &m->cfg;
    if (fc->family != mc->family || fc->n_layers != mc->n_layers || fc->hidden != mc->hidden ||
        fc->n_heads != mc->n_heads || fc->ffn != mc->ffn || fc->vocab_size != mc->vocab_size ||
        fc->max_pos != mc->max_pos || fc->type_vocab != mc->type_vocab ||
        fc->pad_id != mc->pad_id)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: architecture (%s, %d layers, hidden %d) differs from the model "
                         "built for it (%s, %d layers, hidden %d)",
                         path, arch_family_name(fc->family), fc->n_layers, fc->hidden,
                         arch_family_name(mc->family), mc->n_layers, mc->hidden);
    if (fc->n_labels > 0 && fc->n_labels != m->n_labels)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: the file's classification head has %d output%s but the task "
                         "needs %d",
                         path, fc->n_labels, fc->n_labels == 1 ? "" : "s", m->n_labels);
    size_t n_created = 0;
    const struct wfile_tensor **src = calloc(m->n_tensors, sizeof *src);
    if (!src)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    enum idim_status st = IDIM_OK;
    for (size_t t = 0; t < m->n_tensors; t++) {
        const struct arch_tensor *ten = &m->tensors[t];
        for (size_t i = 0; i < w->n_tensors; i++)
            if (strcmp(w->tensors[i].name, ten->name) == 0) {
                src[t] = &w->tensors[i];
                break;
            }
        if (!src[t]) {
            if (ten->group != ARCH_G_POOLER && ten->group != ARCH_G_HEAD) {
                st = idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor %s is missing", path,
                               ten->name);
                goto done;
            }
            n_created += ten->n_elem;
            continue;
        }
        const struct wfile_tensor *s = src[t];
        int ok = s->n_dims == ten->n_dims && s->n_elem == ten->n_elem &&
                 s->shape[0] == ten->shape[0] && (ten->n_dims == 1 || s->shape[1] == ten->shape[1]);
        if (!ok) {
            char got[64];
            if (s->n_dims == 2)
                snprintf(got, sizeof got, "[%lld, %lld]", (long long)s->shape[0],
                         (long long)s->shape[1]);
            else if (s->n_dims == 1)
                snprintf(got, sizeof got, "[%lld]", (long long)s->shape[0]);
            else
                snprintf(got, sizeof got, "%d dimensions", s->n_dims);
            if (ten->group == ARCH_G_HEAD)
                st = idim_fail(err, IDIM_ERR_FORMAT,
                               "%s: head tensor %s has shape %s: the task needs %d labels", path,
                               ten->name, got, m->n_labels);
            else if (ten->n_dims == 2)
                st = idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor %s has shape %s: expected [%lld, %lld]",
                               path, ten->name, got, (long long)ten->shape[0],
                               (long long)ten->shape[1]);
            else
                st = idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor %s has shape %s: expected [%lld]",
                               path, ten->name, got, (long long)ten->shape[0]);
            goto done;
        }
    }
    free(m->created);
    m->created = NULL;
    if (n_created) {
        m->created = malloc(n_created * sizeof(float));
        if (!m->created) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    size_t co = 0;
    for (size_t t = 0; t < m->n_tensors; t++) {
        const struct arch_tensor *ten = &m->tensors[t];
        float *dst = m->params + ten->offset;
        if (src[t]) {
            /* in pieces of 16 MiB: from a cold file this is disk-bound, and
             * Ctrl-C must act within a second */
            for (size_t i = 0, piece = (size_t)4 << 20; i < ten->n_elem; i += piece) {
                if (idim_interrupted) {
                    st = idim_fail(err, IDIM_ERR_INTERRUPTED, "%s: interrupted while loading",
                                   path);
                    goto done;
                }
                size_t k = ten->n_elem - i < piece ? ten->n_elem - i : piece;
                memcpy(dst + i, src[t]->data + i, k * sizeof(float));
            }
            m->theta0[t] = src[t]->data;
            m->tensor_created[t] = 0;
        } else {
            float *c = m->created + co;
            co += ten->n_elem;
            arch_init_tensor(c, ten, &m->cfg, seed, ARCH_CREATED_KEY + t);
            memcpy(dst, c, ten->n_elem * sizeof(float));
            m->theta0[t] = c;
            m->tensor_created[t] = 1;
        }
    }
    rng_init(&m->drop_rng, rng_key(seed, MODEL_DROP_STREAM));
done:
    free(src);
    return st;
}

/* ---- forward ---------------------------------------------------------- */

struct emb_args {
    struct model *m;
    struct acts *a;
    const struct batch *b;
    const float *d; /* backward: dLoss/d(embedding sum) [N, C] */
};

static void embed_sum_part(void *p, int part, int parts)
{
    struct emb_args *E = p;
    const struct batch *b = E->b;
    struct acts *a = E->a;
    int C = E->m->cfg.hidden;
    size_t N = (size_t)b->B * b->T, lo = N * (size_t)part / (size_t)parts,
           hi = N * (size_t)(part + 1) / (size_t)parts;
    for (size_t n = lo; n < hi; n++) {
        int id = b->ids[n], tt = b->type_ids ? b->type_ids[n] : 0;
        assert(id >= 0 && id < E->m->cfg.vocab_size && tt >= 0 && tt < E->m->cfg.type_vocab);
        const float *we = a->w.wte + (size_t)id * C, *pe = a->w.wpe + (size_t)a->pos[n] * C,
                    *te = a->w.wtt + (size_t)tt * C;
        float *x = a->d_a + n * C;
        for (int j = 0; j < C; j++)
            x[j] = we[j] + te[j] + pe[j];
    }
}

/* Scatter-add of the embedding gradient, split by columns so that every
 * row of the tables sums its tokens in token order: deterministic. Rows of
 * nn.Embedding(padding_idx) (word pad_id; RoBERTa position pad_id) get no
 * gradient, as in PyTorch. */
static void embed_grad_part(void *p, int part, int parts)
{
    struct emb_args *E = p;
    const struct batch *b = E->b;
    struct acts *a = E->a;
    int C = E->m->cfg.hidden, pad = E->m->cfg.pad_id, rob = E->m->cfg.family == ARCH_ROBERTA;
    int c0 = (int)((long)C * part / parts), c1 = (int)((long)C * (part + 1) / parts);
    for (size_t n = 0; n < (size_t)b->B * b->T; n++) {
        const float *d = E->d + n * C;
        int id = b->ids[n], tt = b->type_ids ? b->type_ids[n] : 0, pos = a->pos[n];
        float *gw = a->dw.wte + (size_t)id * C, *gp = a->dw.wpe + (size_t)pos * C,
              *gt = a->dw.wtt + (size_t)tt * C;
        if (id != pad)
            for (int j = c0; j < c1; j++)
                gw[j] += d[j];
        if (!(rob && pos == pad))
            for (int j = c0; j < c1; j++)
                gp[j] += d[j];
        for (int j = c0; j < c1; j++)
            gt[j] += d[j];
    }
}

struct zero_args {
    float *x;
    size_t n;
};

static void zero_part(void *p, int part, int parts)
{
    struct zero_args *z = p;
    size_t lo = z->n * (size_t)part / (size_t)parts, hi = z->n * (size_t)(part + 1) / (size_t)parts;
    memset(z->x + lo, 0, (hi - lo) * sizeof(float));
}

static void embeddings_forward(struct model *m, struct acts *a, const struct batch *b,
                               const uint8_t *dmask, float keep_scale)
{
    int B = b->B, T = b->T, C = m->cfg.hidden, pad = m->cfg.pad_id;
    for (int i = 0; i < B; i++) {
        int c = 0;
        for (int t = 0; t < T; t++) {
            size_t n = (size_t)i * T + t;
            if (m->cfg.family == ARCH_ROBERTA) {
                /* HF create_position_ids_from_input_ids: cumsum(mask) * mask + pad */
                int keep = b->ids[n] != pad;
                c += keep;
                a->pos[n] = keep ? c + pad : pad;
            } else {
                a->pos[n] = t;
            }
        }
    }
    /* sum of the three embeddings (HF's order: word + type, then + position) */
    struct emb_args E = {m, a, b, NULL};
    ops_parallel(embed_sum_part, &E);
    residual_layernorm_forward(a->x0, a->emb_xhat, a->emb_rstd, NULL, a->d_a, NULL, 1.0f,
                               a->w.lnew, a->w.lneb, m->cfg.ln_eps, B * T, C);
    if (dmask)
        dropout_apply(a->x0, dmask, keep_scale, (size_t)B * T * C);
}

static void layer_forward(struct model *m, struct acts *a, int l, const float *inp,
                          const int32_t *mask, int B, int T, int train, float keep_scale)
{
    const struct layer_w *w = &a->w.layer[l];
    struct layer_a *la = &a->layer[l];
    int C = m->cfg.hidden, F = m->cfg.ffn, N = B * T, NH = m->cfg.n_heads;
    float eps = m->cfg.ln_eps;
    la->inp = (float *)inp;
    linear_forward(la->q, inp, w->qw, w->qb, N, C, C);
    linear_forward(la->k, inp, w->kw, w->kb, N, C, C);
    linear_forward(la->v, inp, w->vw, w->vb, N, C, C);
    if (STOPPED(m))
        return;
    size_t NC = (size_t)N * C;
    const uint8_t *pm = NULL, *m1 = NULL, *m2 = NULL;
    if (train) {
        dropout_mask(la->pmask, &m->drop_rng, m->dropout, (size_t)B * NH * T * T);
        dropout_mask(la->m1, &m->drop_rng, m->dropout, NC);
        dropout_mask(la->m2, &m->drop_rng, m->dropout, NC);
        pm = la->pmask, m1 = la->m1, m2 = la->m2;
    }
    attention_forward(la->ctx, la->probs, la->pdrop, la->q, la->k, la->v, mask, pm,
                      keep_scale, B, T, C, NH);
    linear_forward(a->d_a, la->ctx, w->ow, w->ob, N, C, C);
    residual_layernorm_forward(la->h1, la->xhat1, la->rstd1, inp, a->d_a, m1, keep_scale,
                               w->ln1w, w->ln1b, eps, N, C);
    if (STOPPED(m))
        return;
    linear_forward(la->f, la->h1, w->iw, NULL, N, C, F);
    bias_gelu_forward(la->g, la->f, w->ib, N, F);
    linear_forward(a->d_a, la->g, w->o2w, w->o2b, N, F, C);
    residual_layernorm_forward(la->out, la->xhat2, la->rstd2, la->h1, a->d_a, m2, keep_scale,
                               w->ln2w, w->ln2b, eps, N, C);
}

/* The head on hidden [B*T, C]: fills m->logits. */
static void head_forward(struct model *m, struct acts *a, const float *hidden, int B, int T,
                         int train, float keep_scale)
{
    int C = m->cfg.hidden, NL = m->n_labels;
    for (int i = 0; i < B; i++)
        memcpy(a->cls + (size_t)i * C, hidden + (size_t)i * T * C, (size_t)C * sizeof(float));
    size_t BC = (size_t)B * C;
    const float *dense_in = a->cls;
    if (m->cfg.family == ARCH_ROBERTA) {
        /* RobertaClassificationHead: dropout, dense, tanh, dropout, out_proj */
        memcpy(a->cls_d, a->cls, BC * sizeof(float));
        if (train) {
            dropout_mask(a->hmask1, &m->drop_rng, m->dropout, BC);
            dropout_apply(a->cls_d, a->hmask1, keep_scale, BC);
        }
        dense_in = a->cls_d;
    }
    /* BERT pooler / RoBERTa classifier.dense, then tanh */
    linear_forward(a->pre, dense_in, a->w.pw, a->w.pb, B, C, C);
    for (size_t i = 0; i < BC; i++)
        a->pooled[i] = tanhf(a->pre[i]);
    memcpy(a->pooled_d, a->pooled, BC * sizeof(float));
    if (train) {
        dropout_mask(a->hmask2, &m->drop_rng, m->dropout, BC);
        dropout_apply(a->pooled_d, a->hmask2, keep_scale, BC);
    }
    linear_forward(m->logits, a->pooled_d, a->w.cw, a->w.cb, B, C, NL);
}

/* Mean cross-entropy (labels < 0 are ignored, as HF's -100) or MSE, and
 * dLoss/dlogits into a->dlogits. Accumulated in double. */
static float loss_forward(struct model *m, struct acts *a, const struct batch *b)
{
    int B = b->B, NL = m->n_labels;
    double total = 0.0;
    m->loss_f64 = 0.0;
    memset(a->dlogits, 0, (size_t)B * NL * sizeof(float));
    if (NL == 1) {
        if (!b->targets)
            return 0.0f;
        for (int i = 0; i < B; i++) {
            double d = (double)m->logits[i] - (double)b->targets[i];
            total += d * d;
            a->dlogits[i] = (float)(2.0 * d / B);
        }
        m->loss_f64 = total / B;
        return (float)m->loss_f64;
    }
    if (!b->labels)
        return 0.0f;
    int count = 0;
    for (int i = 0; i < B; i++)
        count += b->labels[i] >= 0;
    for (int i = 0; i < B; i++) {
        const float *z = m->logits + (size_t)i * NL;
        float *p = a->probs_out + (size_t)i * NL;
        double mx = z[0];
        for (int j = 1; j < NL; j++)
            if (z[j] > mx)
                mx = z[j];
        double s = 0.0;
        for (int j = 0; j < NL; j++)
            s += exp((double)z[j] - mx);
        for (int j = 0; j < NL; j++)
            p[j] = (float)(exp((double)z[j] - mx) / s);
        int y = b->labels[i];
        if (y < 0)
            continue;
        assert(y < NL);
        total += mx + log(s) - (double)z[y];
        for (int j = 0; j < NL; j++) {
            double g = exp((double)z[j] - mx) / s - (j == y ? 1.0 : 0.0);
            a->dlogits[(size_t)i * NL + j] = (float)(g / count);
        }
    }
    m->loss_f64 = count ? total / count : 0.0;
    return (float)m->loss_f64;
}

float model_forward(struct model *m, const struct batch *b, int train)
{
    struct acts *a = m->priv;
    assert(b->B >= 1 && b->B <= m->max_B && b->T >= 1 && b->T <= m->max_T);
    int B = b->B, T = b->T, C = m->cfg.hidden;
    float p = m->dropout;
    train = train && p > 0.0f;
    float keep_scale = train ? 1.0f / (1.0f - p) : 1.0f;
    a->b = b, a->B = B, a->T = T, a->train = train, a->p = p;
    const uint8_t *emask = NULL;
    if (train) {
        dropout_mask(a->emb_mask, &m->drop_rng, p, (size_t)B * T * C);
        emask = a->emb_mask;
    }
    embeddings_forward(m, a, b, emask, keep_scale);
    const float *h = a->x0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        layer_forward(m, a, l, h, b->mask, B, T, train, keep_scale);
        if (STOPPED(m))
            return m->loss = NAN;
        h = a->layer[l].out;
    }
    head_forward(m, a, h, B, T, train, keep_scale);
    m->loss = loss_forward(m, a, b);
    return m->loss;
}

/* ---- backward --------------------------------------------------------- */

static void head_backward(struct model *m, struct acts *a, float *dhidden, int B, int T,
                          float keep_scale)
{
    int C = m->cfg.hidden, NL = m->n_labels;
    size_t BC = (size_t)B * C;
    const uint8_t *m1 = a->train ? a->hmask1 : NULL, *m2 = a->train ? a->hmask2 : NULL;
    /* logits = pooled_d Wc^T + bc */
    linear_backward(a->dpre, a->dw.cw, a->dw.cb, a->dlogits, a->pooled_d, a->w.cw, B, C, NL,
                    0.0f);
    for (size_t i = 0; i < BC; i++) {
        float d = a->dpre[i];
        if (m2)
            d = m2[i] ? d * keep_scale : 0.0f;
        a->dpre[i] = d * (1.0f - a->pooled[i] * a->pooled[i]);
    }
    const float *dense_in = m->cfg.family == ARCH_ROBERTA ? a->cls_d : a->cls;
    linear_backward(a->dcls, a->dw.pw, a->dw.pb, a->dpre, dense_in, a->w.pw, B, C, C, 0.0f);
    if (m->cfg.family == ARCH_ROBERTA && m1)
        dropout_apply(a->dcls, m1, keep_scale, BC);
    memset(dhidden, 0, (size_t)B * T * C * sizeof(float));
    for (int i = 0; i < B; i++)
        memcpy(dhidden + (size_t)i * T * C, a->dcls + (size_t)i * C, (size_t)C * sizeof(float));
}

/* dout [N, C] = dLoss/d(layer output); writes dLoss/d(layer input) into dinp. */
static void layer_backward(struct model *m, struct acts *a, int l, float *dinp,
                           const float *dout, int B, int T, float keep_scale)
{
    const struct layer_w *w = &a->w.layer[l];
    struct layer_w *dw = &a->dw.layer[l];
    struct layer_a *la = &a->layer[l];
    int C = m->cfg.hidden, F = m->cfg.ffn, N = B * T, NH = m->cfg.n_heads;
    int tr = a->train;
    /* out = LN2(h1 + drop(g W2^T + b2)) */
    residual_layernorm_backward(a->d_h1, a->d_tmp, dw->ln2w, dw->ln2b, dout, la->xhat2,
                                la->rstd2, tr ? la->m2 : NULL, keep_scale, w->ln2w, N, C);
    linear_backward(a->d_f, dw->o2w, dw->o2b, a->d_tmp, la->g, w->o2w, N, F, C, 0.0f);
    gelu_backward(a->d_f, dw->ib, la->f, la->g, N, F);
    if (STOPPED(m))
        return;
    linear_backward(a->d_h1, dw->iw, NULL, a->d_f, la->h1, w->iw, N, C, F, 1.0f);
    if (STOPPED(m))
        return;
    /* h1 = LN1(inp + drop(ctx Wo^T + bo)) */
    residual_layernorm_backward(dinp, a->d_tmp, dw->ln1w, dw->ln1b, a->d_h1, la->xhat1,
                                la->rstd1, tr ? la->m1 : NULL, keep_scale, w->ln1w, N, C);
    linear_backward(a->d_ctx, dw->ow, dw->ob, a->d_tmp, la->ctx, w->ow, N, C, C, 0.0f);
    /* the Q, K, V bias gradients are summed inside attention_backward */
    attention_backward(a->d_q, a->d_k, a->d_v, dw->qb, dw->kb, dw->vb, a->att_scratch,
                       a->d_ctx, la->q, la->k, la->v, la->probs, tr ? la->pdrop : NULL,
                       a->b->mask, B, T, C, NH);
    if (STOPPED(m))
        return;
    linear_backward(dinp, dw->qw, NULL, a->d_q, la->inp, w->qw, N, C, C, 1.0f);
    linear_backward(dinp, dw->kw, NULL, a->d_k, la->inp, w->kw, N, C, C, 1.0f);
    linear_backward(dinp, dw->vw, NULL, a->d_v, la->inp, w->vw, N, C, C, 1.0f);
}

static void embeddings_backward(struct model *m, struct acts *a, float *dx0, float keep_scale)
{
    const struct batch *b = a->b;
    int B = a->B, T = a->T, C = m->cfg.hidden;
    size_t NC = (size_t)B * T * C;
    if (a->train)
        dropout_apply(dx0, a->emb_mask, keep_scale, NC);
    residual_layernorm_backward(a->d_tmp, NULL, a->dw.lnew, a->dw.lneb, dx0, a->emb_xhat,
                                a->emb_rstd, NULL, 1.0f, a->w.lnew, B * T, C);
    struct emb_args E = {m, a, b, a->d_tmp};
    ops_parallel(embed_grad_part, &E);
}

/* Backward through the layers and embeddings from dout = a->d_a, the
 * gradient of the last layer's output (grads already zeroed). */
static void encoder_backward(struct model *m, struct acts *a, float keep_scale)
{
    int B = a->B, T = a->T;
    float *dout = a->d_a, *dinp = a->d_b;
    for (int l = m->cfg.n_layers - 1; l >= 0; l--) {
        layer_backward(m, a, l, dinp, dout, B, T, keep_scale);
        if (STOPPED(m))
            return;
        float *t = dout;
        dout = dinp;
        dinp = t;
    }
    embeddings_backward(m, a, dout, keep_scale);
}

void model_backward(struct model *m)
{
    struct acts *a = m->priv;
    assert(a->b);
    float keep_scale = a->train ? 1.0f / (1.0f - a->p) : 1.0f;
    /* in pieces of 16 MiB, polling m->stop: the first call touches the
     * gradient's pages, seconds for a base-size model on a busy machine */
    for (size_t i = 0, piece = (size_t)4 << 20; i < m->n_params; i += piece) {
        if (STOPPED(m))
            return;
        struct zero_args z = {m->grads + i, m->n_params - i < piece ? m->n_params - i : piece};
        ops_parallel(zero_part, &z);
    }
    head_backward(m, a, a->d_a, a->B, a->T, keep_scale);
    encoder_backward(m, a, keep_scale);
}

const float *model_hidden(const struct model *m)
{
    const struct acts *a = m->priv;
    return a->layer[m->cfg.n_layers - 1].out;
}

void model_backward_hidden(struct model *m, const float *dhidden)
{
    struct acts *a = m->priv;
    assert(a->b);
    float keep_scale = a->train ? 1.0f / (1.0f - a->p) : 1.0f;
    struct zero_args z = {m->grads, m->n_params};
    ops_parallel(zero_part, &z);
    memcpy(a->d_a, dhidden, (size_t)a->B * a->T * m->cfg.hidden * sizeof(float));
    encoder_backward(m, a, keep_scale);
}

double model_flops_forward(const struct model *m, int B, int T)
{
    double N = (double)B * T, C = m->cfg.hidden, F = m->cfg.ffn, L = m->cfg.n_layers;
    double layer = 2.0 * N * (4.0 * C * C + 2.0 * C * F) + 2.0 * 2.0 * B * (double)T * T * C;
    double head = 2.0 * B * (C * C + C * m->n_labels);
    return L * layer + head;
}
