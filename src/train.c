/* train.c - full fine-tuning and subspace training (DID / SAID), dev
 * evaluation, the theta file. Contract: include/train.h.
 *
 * Stage: after model and fastfood. A run owns one model (params, grads,
 * activations sized for batch x max_len), one optimizer block, one batch and
 * index/prediction arrays, all allocated before the first step.
 *
 * Learning-rate schedule: linear warm-up to the peak over W steps, then
 * linear decay to 0 at the last step (HF get_linear_schedule_with_warmup).
 * AdamW: Loshchilov & Hutter 2019, bias-corrected moments, decoupled decay
 * (full FT: not on biases and LayerNorm weights, as HF's run_glue).
 * Gradient clipping: global L2 norm over everything trained, scale
 * clip / (norm + 1e-6) when below 1 (torch.nn.utils.clip_grad_norm_). */
#include "train.h"
#include "fileio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef IDIM_VERSION
#define IDIM_VERSION "0.0.0"
#endif

/* rng stream ids used by the trainer (keyed with opts->seed). */
#define STREAM_SHUFFLE 2000000u
#define STREAM_DROPOUT 3000000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (size_t)ru.ru_maxrss * 1024u;
}

const char *train_mode_name(enum train_mode m)
{
    switch (m) {
    case TRAIN_FULL: return "full";
    case TRAIN_DID: return "did";
    case TRAIN_SAID: return "said";
    }
    return "?";
}

const char *train_optim_name(enum train_optim o)
{
    return o == TRAIN_SGD ? "sgd" : "adamw";
}

void train_opts_default(struct train_opts *o, enum train_mode mode)
{
    memset(o, 0, sizeof *o);
    o->mode = mode;
    o->scope = FF_SCOPE_TENSOR;
    o->optimizer = TRAIN_ADAMW;
    o->batch = 32;
    o->warmup = 0.06;
    o->warmup_steps = -1;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->clip = 1.0;
    o->dropout = 0.1;
    o->seed = 42;
    o->proj_seed = 1234;
    o->threads = 0;
    if (mode == TRAIN_FULL) {
        o->lr = 2e-5;
        o->epochs = 3;
        o->weight_decay = 0.01;
    } else {
        /* Measured here (README, tiny SST-2 and demo runs): with AdamW every
         * coordinate of theta_d moves ~lr per step, so the weight-space step
         * grows like lr sqrt(d); 3e-2 (the published value) broke DID at
         * d >= 1000 and SAID at d = 10000 (majority class), 3e-3 matched it
         * at d <= 300 and won above. */
        o->lr = 3e-3;
        o->epochs = 0; /* auto: 20 small tasks, 3 large */
        o->weight_decay = 0.0;
    }
}

double train_lr_factor(long step, long warmup, long total)
{
    if (warmup > 0 && step < warmup)
        return (double)(step + 1) / (double)warmup;
    if (total <= warmup)
        return 1.0;
    double f = (double)(total - step) / (double)(total - warmup);
    return f < 0 ? 0 : f;
}

void train_adamw_step(float *x, const float *g, float *mom, float *vel, size_t n, double lr,
                      double b1, double b2, double eps, double wd, const uint8_t *decay,
                      long t)
{
    double bc1 = 1.0 - pow(b1, (double)t);
    double bc2 = 1.0 - pow(b2, (double)t);
    float fb1 = (float)b1, fb2 = (float)b2;
    float omb1 = (float)(1.0 - b1), omb2 = (float)(1.0 - b2); /* not 1 - 0.999f */
    float step = (float)(lr / bc1);
    float rbc2 = (float)(1.0 / sqrt(bc2));
    float feps = (float)eps;
    float fwd = (float)(lr * wd);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = fb1 * mom[i] + omb1 * gi;
        float vi = fb2 * vel[i] + omb2 * gi * gi;
        mom[i] = mi;
        vel[i] = vi;
        float xi = x[i];
        /* decoupled decay uses the weight before this update (torch AdamW) */
        if (wd != 0 && (!decay || decay[i]))
            xi -= fwd * xi;
        xi -= step * mi / (sqrtf(vi) * rbc2 + feps);
        x[i] = xi;
    }
}

/* ---------------------------------------------------------------- data */

void train_data_free(struct train_data *td)
{
    if (!td)
        return;
    encoded_free(&td->train);
    encoded_free(&td->dev);
    if (td->have_file)
        wfile_free(&td->w);
    memset(td, 0, sizeof *td);
}

static enum idim_status encode_split(struct encoded *enc, const struct task_spec *spec,
                                     const char *split, struct tokenizer *tk, int max_len,
                                     long limit, struct idim_err *err)
{
    struct dataset ds;
    memset(&ds, 0, sizeof ds);
    enum idim_status st = task_load(&ds, spec, split, err);
    if (st)
        return st;
    struct dataset lim = ds;
    if (limit > 0 && (size_t)limit < lim.n)
        lim.n = (size_t)limit;
    st = encoded_build(enc, &lim, tk, max_len, err);
    dataset_free(&ds);
    return st;
}

/* Both loaders: opens the model first (its errors come first), then takes
 * spec or, when spec is NULL, resolves task / data_dir. */
static enum idim_status data_load(struct train_data *td, const char *model_path,
                                  const struct task_spec *spec, const char *task,
                                  const char *data_dir, int max_len, long limit_train,
                                  long limit_dev, struct idim_err *err)
{
    memset(td, 0, sizeof *td);
    struct tokenizer *tk = NULL;
    enum idim_status st;
    snprintf(td->model_path, sizeof td->model_path, "%s", model_path);
    st = wfile_open(&td->w, td->model_path, err);
    if (st)
        goto fail;
    td->have_file = 1;
    td->cfg = td->w.cfg;
    memcpy(td->checksum_hex, td->w.checksum_hex, sizeof td->checksum_hex);
    int cap = td->cfg.family == ARCH_ROBERTA ? td->cfg.max_pos - td->cfg.pad_id - 1
                                             : td->cfg.max_pos;
    if (max_len <= 0) /* the default: 128 tokens, or all the model has when fewer */
        max_len = cap < 128 ? cap : 128;
    td->max_len = max_len;
    if (max_len < 3 || max_len > cap) {
        st = idim_fail(err, IDIM_ERR_USAGE, "--max-len %d is out of range for %s: 3 to %d",
                       max_len, model_path, cap);
        goto fail;
    }
    if (spec)
        td->spec = *spec;
    else if ((st = task_resolve(&td->spec, task, data_dir, err)))
        goto fail;
    st = tokenizer_new(&tk, &td->w.tok, err);
    if (st)
        goto fail;
    st = encode_split(&td->train, &td->spec, "train", tk, max_len, limit_train, err);
    if (st)
        goto fail;
    st = encode_split(&td->dev, &td->spec, "dev", tk, max_len, limit_dev, err);
    if (st)
        goto fail;
    tokenizer_free(tk);
    return IDIM_OK;
fail:
    tokenizer_free(tk);
    train_data_free(td);
    return st;
}

enum idim_status train_data_load(struct train_data *td, const char *model_path,
                                 const char *task, const char *data_dir, int max_len,
                                 long limit_train, long limit_dev, struct idim_err *err)
{
    return data_load(td, model_path, NULL, task, data_dir, max_len, limit_train, limit_dev, err);
}

enum idim_status train_data_load_spec(struct train_data *td, const char *model_path,
                                      const struct task_spec *spec, int max_len,
                                      long limit_train, long limit_dev, struct idim_err *err)
{
    return data_load(td, model_path, spec, NULL, NULL, max_len, limit_train, limit_dev, err);
}

/* ---------------------------------------------------------------- subspace */

enum idim_status subspace_init(struct subspace *s, struct model *m, enum train_mode mode,
                               size_t d, enum ff_scope scope, uint64_t proj_seed,
                               int grad_compat, int threads, struct idim_err *err)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->mode = mode;
    s->d = d;
    size_t nt = m->n_tensors;
    if (mode != TRAIN_DID && mode != TRAIN_SAID)
        return idim_fail(err, IDIM_ERR_USAGE, "subspace training needs --method did or said");
    if (d == 0)
        return idim_fail(err, IDIM_ERR_USAGE, "--d must be at least 1");
    if (mode == TRAIN_SAID && d <= nt)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--d %zu is too small for SAID: d counts the %zu per-tensor lambdas of "
                         "this model, so it must exceed %zu",
                         d, nt, nt);
    s->d_proj = mode == TRAIN_SAID ? d - nt : d;
    /* Does theta0 alias the trained parameters (random init)? Then copy. */
    int alias = 0;
    for (size_t t = 0; t < nt; t++)
        if (m->theta0[t] >= m->params && m->theta0[t] < m->params + m->n_params)
            alias = 1;
    size_t D = m->n_params;
    size_t bytes = 2 * d * sizeof(float) + D * sizeof(float) + nt * sizeof(double) +
                   nt * sizeof(float *) + (alias ? D * sizeof(float) : 0) + 64;
    char *blk = calloc(1, bytes);
    if (!blk)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory allocating %zu bytes for theta_d",
                         bytes);
    s->block = blk;
    char *p = blk;
    s->gl = (double *)(void *)p;
    p += nt * sizeof(double);
    s->theta0 = (const float **)(void *)p;
    p += nt * sizeof(float *);
    s->theta = (float *)(void *)p;
    p += d * sizeof(float);
    s->grad = (float *)(void *)p;
    p += d * sizeof(float);
    s->delta = (float *)(void *)p;
    p += D * sizeof(float);
    if (alias) {
        s->theta0_copy = (float *)(void *)p;
        memcpy(s->theta0_copy, m->params, D * sizeof(float));
        for (size_t t = 0; t < nt; t++)
            s->theta0[t] = s->theta0_copy + m->tensors[t].offset;
    } else {
        for (size_t t = 0; t < nt; t++)
            s->theta0[t] = m->theta0[t];
    }
    for (size_t i = s->d_proj; i < d; i++)
        s->theta[i] = 1.0f; /* SAID lambdas */
    size_t *n = malloc(nt * sizeof *n);
    if (!n) {
        subspace_free(s);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    }
    for (size_t t = 0; t < nt; t++)
        n[t] = m->tensors[t].n_elem;
    enum idim_status st =
        fastfood_new(&s->ff, n, nt, s->d_proj, scope, proj_seed, grad_compat, threads, err);
    free(n);
    if (st) {
        subspace_free(s);
        return st;
    }
    return IDIM_OK;
}

void subspace_free(struct subspace *s)
{
    if (!s)
        return;
    if (s->ff)
        fastfood_free(s->ff);
    free(s->block);
    memset(s, 0, sizeof *s);
}

void subspace_apply(struct subspace *s)
{
    struct model *m = s->m;
    fastfood_forward(s->ff, s->theta, s->delta);
    const float *lam = s->theta + s->d_proj;
    for (size_t t = 0; t < m->n_tensors; t++) {
        size_t off = m->tensors[t].offset, n = m->tensors[t].n_elem;
        const float *t0 = s->theta0[t];
        const float *dl = s->delta + off;
        float *p = m->params + off;
        if (s->mode == TRAIN_SAID) {
            float l = lam[t];
            for (size_t i = 0; i < n; i++)
                p[i] = t0[i] + l * dl[i];
        } else {
            for (size_t i = 0; i < n; i++)
                p[i] = t0[i] + dl[i];
        }
    }
}

float subspace_loss_grad(struct subspace *s, const struct batch *b, int train)
{
    struct model *m = s->m;
    subspace_apply(s);
    float loss = model_forward(m, b, train);
    model_backward(m);
    if (s->mode == TRAIN_SAID) {
        const float *lam = s->theta + s->d_proj;
        for (size_t t = 0; t < m->n_tensors; t++) {
            size_t off = m->tensors[t].offset, n = m->tensors[t].n_elem;
            double acc = 0;
            for (size_t i = 0; i < n; i++)
                acc += (double)m->grads[off + i] * (double)s->delta[off + i];
            s->grad[s->d_proj + t] = (float)acc;
        }
        if (fastfood_n_transforms(s->ff) == m->n_tensors) {
            fastfood_adjoint(s->ff, m->grads, lam, s->grad);
        } else {
            /* one global transform: weight each tensor's slice first */
            for (size_t t = 0; t < m->n_tensors; t++) {
                size_t off = m->tensors[t].offset, n = m->tensors[t].n_elem;
                for (size_t i = 0; i < n; i++)
                    m->grads[off + i] *= lam[t];
            }
            fastfood_adjoint(s->ff, m->grads, NULL, s->grad);
        }
    } else {
        fastfood_adjoint(s->ff, m->grads, NULL, s->grad);
    }
    return loss;
}

/* ---------------------------------------------------------------- runs */

static int large_task(const char *name)
{
    static const char *const big[] = {"sst2", "qnli", "qqp", "mnli"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        if (!strcmp(name, big[i]))
            return 1;
    return 0;
}

/* Scratch of one run: everything allocated before the first step. */
struct run {
    struct model m;
    int have_model;
    struct subspace s;
    struct batch b;
    int have_batch;
    size_t *idx;     /* [max(n_train, n_dev)] */
    int32_t *pred;   /* [n_dev] */
    float *score;    /* [n_dev] */
    float *opt;      /* optimizer state: 2 x trained floats */
    float *best_theta; /* [d] subspace: theta at the best epoch */
    uint8_t *decay;  /* [m] full FT: tensor gets weight decay */
};

static void run_free(struct run *r)
{
    subspace_free(&r->s);
    if (r->have_model)
        model_free(&r->m);
    if (r->have_batch)
        batch_free(&r->b);
    free(r->idx);
    free(r->pred);
    free(r->score);
    free(r->opt);
    free(r->best_theta);
    free(r->decay);
}

/* Longest batch the model is sized for: --max-len (clamped to the
 * positions the model has). Not the data's longest row, so that eval,
 * which loads only the dev split, builds exactly the same model. */
static int model_T(const struct train_data *td)
{
    int T = td->max_len;
    int cap = td->cfg.family == ARCH_ROBERTA ? td->cfg.max_pos - td->cfg.pad_id - 1
                                             : td->cfg.max_pos;
    if (T > cap)
        T = cap;
    if (T < 2)
        T = 2;
    return T;
}

/* Builds the model (from the file, or random when td has no file). */
static enum idim_status run_model(struct run *r, struct train_data *td, int B, uint64_t seed,
                                  float dropout, struct idim_err *err)
{
    enum idim_status st =
        model_init(&r->m, &td->cfg, td->spec.n_labels, B, model_T(td), err);
    if (st)
        return st;
    r->have_model = 1;
    if (td->have_file) {
        st = model_load(&r->m, &td->w, seed, err);
        if (st)
            return st;
    } else {
        model_init_random(&r->m, seed);
    }
    r->m.dropout = dropout;
    rng_init(&r->m.drop_rng, rng_key(seed, STREAM_DROPOUT));
    return IDIM_OK;
}

/* Scores the first n_dev dev examples with dropout off, in order, in
 * batches of B (the padding, hence the float sums, depend on B). For
 * subspace runs the caller has applied theta first. */
static void evaluate(struct run *r, struct train_data *td, size_t n_dev, int B,
                     struct metrics *met)
{
    struct model *m = &r->m;
    int NL = m->n_labels;
    for (size_t i = 0; i < n_dev; i++)
        r->idx[i] = i;
    for (size_t i0 = 0; i0 < n_dev; i0 += (size_t)B) {
        int n = (int)(n_dev - i0 < (size_t)B ? n_dev - i0 : (size_t)B);
        batch_fill(&r->b, &td->dev, r->idx + i0, n, td->cfg.pad_id);
        model_forward(m, &r->b, 0);
        for (int i = 0; i < n; i++) {
            const float *lg = m->logits + (size_t)i * (size_t)NL;
            if (NL == 1) {
                r->score[i0 + i] = lg[0];
                r->pred[i0 + i] = 0;
            } else {
                int best = 0;
                for (int c = 1; c < NL; c++)
                    if (lg[c] > lg[best])
                        best = c;
                r->pred[i0 + i] = best;
                r->score[i0 + i] = lg[best];
            }
        }
    }
    task_score(&td->spec, td->dev.labels, td->dev.targets, r->pred, NL == 1 ? r->score : NULL,
               n_dev, met);
}

static int no_decay(const char *name)
{
    size_t n = strlen(name);
    if (n >= 5 && !strcmp(name + n - 5, ".bias"))
        return 1;
    return strstr(name, "LayerNorm") != NULL;
}

static double l2_norm(const float *g, size_t n)
{
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (double)g[i] * (double)g[i];
    return sqrt(acc);
}

static void scale(float *g, size_t n, float c)
{
    for (size_t i = 0; i < n; i++)
        g[i] *= c;
}

/* Writes m's weights as a model file without a head: the file-table
 * tensors of td's config with n_labels = 0, looked up by name. */
static enum idim_status save_model(const struct train_data *td, const struct model *m,
                                   const char *path, struct idim_err *err)
{
    if (!td->have_file)
        return idim_fail(err, IDIM_ERR_USAGE, "--save-model needs a model file to start from");
    struct arch_config fc = td->cfg;
    fc.n_labels = 0;
    fc.has_pooler = fc.family == ARCH_BERT;
    size_t nf = arch_tensors(&fc, ARCH_TABLE_FILE, 0, NULL, 0);
    struct arch_tensor *ft = calloc(nf, sizeof *ft);
    struct wfile_src_tensor *src = calloc(nf, sizeof *src);
    enum idim_status st = IDIM_OK;
    if (!ft || !src) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory writing %s", path);
        goto out;
    }
    arch_tensors(&fc, ARCH_TABLE_FILE, 0, ft, nf);
    for (size_t i = 0; i < nf; i++) {
        size_t t = 0;
        while (t < m->n_tensors && strcmp(m->tensors[t].name, ft[i].name) != 0)
            t++;
        if (t == m->n_tensors) {
            st = idim_fail(err, IDIM_ERR_INTERNAL, "%s: the model has no tensor %s", path,
                           ft[i].name);
            goto out;
        }
        src[i] = wfile_src_from_arch(&ft[i], m->params + m->tensors[t].offset);
    }
    st = wfile_write(path, &fc, &td->w.tok, src, nf, err);
out:
    free(ft);
    free(src);
    return st;
}

enum idim_status train_run(struct train_data *td, const struct train_opts *o,
                           struct train_result *res, struct idim_err *err)
{
    struct run R;
    memset(&R, 0, sizeof R);
    memset(res, 0, sizeof *res);
    enum idim_status st = IDIM_OK;
    double t_start = now_s();
    int sub = o->mode != TRAIN_FULL;
    long step = 0;
    double t_train = 0;
    size_t seen = 0;

    res->mode = o->mode;
    res->best = NAN;
    res->final = NAN;
    res->majority = NAN;
    res->lr = o->lr;
    res->seed = o->seed;
    res->proj_seed = o->proj_seed;
    snprintf(res->task, sizeof res->task, "%s", td->spec.name);
    snprintf(res->metric, sizeof res->metric, "%s", metric_name(td->spec.metric));
    snprintf(res->model_checksum, sizeof res->model_checksum, "%s",
             td->checksum_hex[0] ? td->checksum_hex : "random");
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    res->threads = threads;

    int B = o->batch;
    if (B < 1)
        return idim_fail(err, IDIM_ERR_USAGE, "--batch must be at least 1");
    if (!(o->lr > 0) || !isfinite(o->lr))
        return idim_fail(err, IDIM_ERR_USAGE, "--lr must be a positive number");
    int epochs = o->epochs;
    if (epochs <= 0)
        epochs = large_task(td->spec.name) ? 3 : (sub ? 20 : 3);
    if (epochs > TRAIN_MAX_EPOCHS)
        return idim_fail(err, IDIM_ERR_USAGE, "--epochs must be at most %d", TRAIN_MAX_EPOCHS);
    size_t n_train = td->train.n, n_dev = td->dev.n;
    if (o->limit_train > 0 && (size_t)o->limit_train < n_train)
        n_train = (size_t)o->limit_train;
    if (o->limit_dev > 0 && (size_t)o->limit_dev < n_dev)
        n_dev = (size_t)o->limit_dev;
    if (n_train == 0 || n_dev == 0)
        return idim_fail(err, IDIM_ERR_FORMAT, "task %s: the %s split has no examples",
                         td->spec.name, n_train == 0 ? "train" : "dev");
    res->n_train = n_train;
    res->n_dev = n_dev;

    model_set_threads(threads);
    st = run_model(&R, td, B, o->seed, (float)o->dropout, err);
    if (st)
        goto done;
    struct model *m = &R.m;
    res->n_tensors = m->n_tensors;
    res->n_params = m->n_params;
    if (sub) {
        st = subspace_init(&R.s, m, o->mode, o->d, o->scope, o->proj_seed, o->grad_compat,
                           threads, err);
        if (st)
            goto done;
        res->d = o->d;
        res->d_proj = R.s.d_proj;
    }
    st = batch_alloc(&R.b, B, model_T(td), err);
    if (st)
        goto done;
    R.have_batch = 1;
    size_t n_idx = n_train > n_dev ? n_train : n_dev;
    size_t n_opt = sub ? o->d : m->n_params;
    R.idx = malloc(n_idx * sizeof *R.idx);
    R.pred = malloc(n_dev * sizeof *R.pred);
    R.score = malloc(n_dev * sizeof *R.score);
    R.opt = o->optimizer == TRAIN_ADAMW ? calloc(2 * n_opt, sizeof(float)) : NULL;
    R.best_theta = sub ? calloc(o->d, sizeof(float)) : NULL;
    R.decay = calloc(m->n_tensors, 1);
    if (!R.idx || !R.pred || !R.score || (o->optimizer == TRAIN_ADAMW && !R.opt) ||
        (sub && !R.best_theta) || !R.decay) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory allocating optimizer state (%zu floats)",
                       2 * n_opt);
        goto done;
    }
    for (size_t t = 0; t < m->n_tensors; t++)
        R.decay[t] = !no_decay(m->tensors[t].name);

    long spe = (long)((n_train + (size_t)B - 1) / (size_t)B);
    long total = spe * epochs;
    long warm = o->warmup_steps >= 0 ? o->warmup_steps : (long)ceil(o->warmup * (double)total);
    if (warm > total)
        warm = total;
    float *x = sub ? R.s.theta : m->params;
    float *g = sub ? R.s.grad : m->grads;
    float *mom = R.opt, *vel = R.opt ? R.opt + n_opt : NULL;

    /* majority score from the untrained model's pass is not needed:
     * task_score reports it for the labels alone. */
    struct rng shuf;
    rng_init(&shuf, rng_key(o->seed, STREAM_SHUFFLE));
    for (int ep = 1; ep <= epochs; ep++) {
        double t_ep = now_s();
        for (size_t i = 0; i < n_train; i++)
            R.idx[i] = i;
        for (size_t i = n_train - 1; i > 0; i--) {
            size_t j = (size_t)rng_below(&shuf, i + 1);
            size_t tmp = R.idx[i];
            R.idx[i] = R.idx[j];
            R.idx[j] = tmp;
        }
        double loss_sum = 0;
        long loss_n = 0;
        for (size_t i0 = 0; i0 < n_train; i0 += (size_t)B) {
            if (idim_interrupted) {
                st = idim_fail(err, IDIM_ERR_INTERRUPTED, "interrupted at epoch %d step %ld", ep,
                               step + 1);
                goto done;
            }
            int n = (int)(n_train - i0 < (size_t)B ? n_train - i0 : (size_t)B);
            batch_fill(&R.b, &td->train, R.idx + i0, n, td->cfg.pad_id);
            float loss;
            if (sub) {
                loss = subspace_loss_grad(&R.s, &R.b, 1);
            } else {
                loss = model_forward(m, &R.b, 1);
                if (isfinite(loss))
                    model_backward(m);
            }
            double gn = isfinite(loss) ? l2_norm(g, n_opt) : NAN;
            if (!isfinite(loss) || !isfinite(gn)) {
                res->diverged = 1;
                snprintf(res->diverged_msg, sizeof res->diverged_msg,
                         "%s became %s at epoch %d step %ld (lr %g)",
                         isfinite(loss) ? "the gradient norm" : "the loss",
                         isnan(isfinite(loss) ? gn : (double)loss) ? "NaN" : "infinite", ep,
                         step + 1, o->lr);
                goto finish;
            }
            if (o->clip > 0 && gn > o->clip)
                scale(g, n_opt, (float)(o->clip / (gn + 1e-6)));
            double lr = o->lr * train_lr_factor(step, warm, total);
            step++;
            if (o->optimizer == TRAIN_SGD) {
                float flr = (float)lr;
                for (size_t i = 0; i < n_opt; i++)
                    x[i] -= flr * g[i];
            } else if (sub) {
                train_adamw_step(x, g, mom, vel, n_opt, lr, o->beta1, o->beta2, o->eps,
                                 o->weight_decay, NULL, step);
            } else {
                for (size_t t = 0; t < m->n_tensors; t++) {
                    size_t off = m->tensors[t].offset, nn = m->tensors[t].n_elem;
                    train_adamw_step(x + off, g + off, mom + off, vel + off, nn, lr, o->beta1,
                                     o->beta2, o->eps, R.decay[t] ? o->weight_decay : 0.0,
                                     NULL, step);
                }
            }
            loss_sum += loss;
            loss_n++;
            seen += (size_t)n;
            if (o->progress) {
                double el = t_train + (now_s() - t_ep);
                struct train_progress p = {ep, epochs, step, total, loss,
                                           el > 0 ? (double)seen / el : 0,
                                           el / (double)step * (double)(total - step), 0};
                o->progress(&p, o->progress_user);
            }
        }
        t_train += now_s() - t_ep;
        if (o->progress) {
            struct train_progress p = {ep, epochs, step, total, loss_sum / (double)loss_n,
                                       t_train > 0 ? (double)seen / t_train : 0, 0, 1};
            o->progress(&p, o->progress_user);
        }
        struct metrics met;
        if (sub)
            subspace_apply(&R.s);
        evaluate(&R, td, n_dev, B, &met);
        res->epoch_metric[ep - 1] = met.primary;
        res->epoch_loss[ep - 1] = loss_n ? loss_sum / (double)loss_n : NAN;
        res->n_epochs = ep;
        res->final = met.primary;
        res->majority = met.majority_primary;
        if (res->best_epoch == 0 || met.primary > res->best ||
            (isnan(res->best) && !isnan(met.primary))) {
            res->best = met.primary;
            res->best_epoch = ep;
            res->best_metrics = met;
            res->majority_only = met.majority_only;
            if (sub)
                memcpy(R.best_theta, R.s.theta, o->d * sizeof(float));
        }
    }
finish:
    res->steps = step;
    if (sub && o->save_theta && res->best_epoch > 0) {
        struct theta_file tf;
        memset(&tf, 0, sizeof tf);
        tf.mode = o->mode;
        tf.scope = o->scope;
        tf.grad_compat = o->grad_compat;
        tf.d = o->d;
        tf.n_tensors = m->n_tensors;
        tf.n_labels = m->n_labels;
        tf.max_len = td->max_len;
        tf.seed = o->seed;
        tf.proj_seed = o->proj_seed;
        memcpy(tf.model_checksum, res->model_checksum, sizeof tf.model_checksum);
        snprintf(tf.task, sizeof tf.task, "%s", td->spec.name);
        tf.metric = res->best;
        tf.n_dev = n_dev;
        tf.batch = B;
        tf.theta = R.best_theta;
        st = theta_save(o->save_theta, &tf, err);
    }
    if (!sub && o->save_model && !res->diverged && st == IDIM_OK)
        st = save_model(td, m, o->save_model, err);
done:
    res->seconds = now_s() - t_start;
    res->ex_per_s = t_train > 0 ? (double)seen / t_train : 0;
    res->peak_rss_bytes = peak_rss();
    run_free(&R);
    return st;
}

/* ---------------------------------------------------------------- JSON */

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    /* seeds above 2^53 do not survive a JSON double: print them as strings */
    if (v <= (1ull << 53))
        cJSON_AddNumberToObject(o, k, (double)v);
    else {
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        cJSON_AddStringToObject(o, k, buf);
    }
}

cJSON *train_result_json(const struct train_opts *o, const struct train_result *r)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    int sub = o->mode != TRAIN_FULL;
    cJSON_AddStringToObject(j, "idim_version", IDIM_VERSION);
    cJSON_AddStringToObject(j, "task", r->task);
    cJSON_AddStringToObject(j, "metric", r->metric);
    cJSON_AddStringToObject(j, "method", train_mode_name(o->mode));
    if (sub) {
        add_num(j, "d", (double)r->d);
        add_num(j, "d_proj", (double)r->d_proj);
        cJSON_AddStringToObject(j, "scope", o->scope == FF_SCOPE_GLOBAL ? "global" : "tensor");
        cJSON_AddBoolToObject(j, "grad_compat", o->grad_compat != 0);
    }
    add_num(j, "n_tensors", (double)r->n_tensors);
    add_num(j, "n_params", (double)r->n_params);
    cJSON_AddStringToObject(j, "optimizer", train_optim_name(o->optimizer));
    add_num(j, "lr", r->lr);
    add_num(j, "epochs", (double)(r->n_epochs));
    add_num(j, "batch", o->batch);
    add_num(j, "warmup", o->warmup_steps >= 0 ? (double)o->warmup_steps : o->warmup);
    cJSON_AddStringToObject(j, "warmup_unit", o->warmup_steps >= 0 ? "steps" : "fraction");
    add_num(j, "weight_decay", o->weight_decay);
    add_num(j, "clip", o->clip);
    add_num(j, "dropout", o->dropout);
    add_u64(j, "seed", r->seed);
    if (sub)
        add_u64(j, "proj_seed", r->proj_seed);
    add_num(j, "threads", r->threads);
    add_num(j, "n_train", (double)r->n_train);
    add_num(j, "n_dev", (double)r->n_dev);
    cJSON *em = cJSON_AddArrayToObject(j, "epoch_metric");
    cJSON *el = cJSON_AddArrayToObject(j, "epoch_loss");
    for (int e = 0; e < r->n_epochs && em && el; e++) {
        cJSON_AddItemToArray(em, isfinite(r->epoch_metric[e])
                                     ? cJSON_CreateNumber(r->epoch_metric[e])
                                     : cJSON_CreateNull());
        cJSON_AddItemToArray(el, isfinite(r->epoch_loss[e]) ? cJSON_CreateNumber(r->epoch_loss[e])
                                                            : cJSON_CreateNull());
    }
    add_num(j, "best", r->best);
    add_num(j, "best_epoch", r->best_epoch);
    add_num(j, "final", r->final);
    add_num(j, "majority", r->majority);
    cJSON_AddBoolToObject(j, "majority_only", r->majority_only != 0);
    cJSON_AddBoolToObject(j, "diverged", r->diverged != 0);
    if (r->diverged)
        cJSON_AddStringToObject(j, "diverged_msg", r->diverged_msg);
    add_num(j, "steps", (double)r->steps);
    cJSON_AddStringToObject(j, "model_checksum", r->model_checksum);
    add_num(j, "seconds", r->seconds);
    add_num(j, "ex_per_s", r->ex_per_s);
    add_num(j, "peak_rss_bytes", (double)r->peak_rss_bytes);
    return j;
}

/* ---------------------------------------------------------------- theta file
 * Layout (little-endian), docs/THETA.md:
 *   0  char[8] magic "IDIMTHTA"      8  u32 version (1)
 *  12  u32 method (2 did, 3 said)    16  u32 scope (1 tensor, 2 global)
 *  20  u32 grad_compat               24  u64 d
 *  32  u64 n_tensors (m)             40  i32 n_labels     44  i32 max_len
 *  48  u64 seed                      56  u64 proj_seed
 *  64  char[16] model checksum (hex) 80  char[32] task (NUL-padded)
 * 112  f64 dev metric               120  u64 n_dev (0 = whole split)
 * 128  u32 eval batch size          132  u32 reserved (0)
 * 136  f32 theta[d] (SAID: theta_{d-m} then the m lambdas)
 * 136+4d  u64 FNV-1a 64 of every byte before it. */

#define THETA_MAGIC "IDIMTHTA"
#define THETA_VERSION 1u
#define THETA_HDR 136u

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

enum idim_status theta_save(const char *path, const struct theta_file *tf,
                            struct idim_err *err)
{
    size_t n = THETA_HDR + 4 * tf->d + 8;
    unsigned char *buf = calloc(1, n);
    if (!buf)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory writing %s", path);
    memcpy(buf, THETA_MAGIC, 8);
    put32(buf + 8, THETA_VERSION);
    put32(buf + 12, (uint32_t)tf->mode);
    put32(buf + 16, (uint32_t)tf->scope);
    put32(buf + 20, (uint32_t)tf->grad_compat);
    put64(buf + 24, tf->d);
    put64(buf + 32, tf->n_tensors);
    put32(buf + 40, (uint32_t)tf->n_labels);
    put32(buf + 44, (uint32_t)tf->max_len);
    put64(buf + 48, tf->seed);
    put64(buf + 56, tf->proj_seed);
    memcpy(buf + 64, tf->model_checksum, 16);
    memcpy(buf + 80, tf->task, strnlen(tf->task, 31));
    uint64_t mb;
    memcpy(&mb, &tf->metric, 8);
    put64(buf + 112, mb);
    put64(buf + 120, tf->n_dev);
    put32(buf + 128, (uint32_t)tf->batch);
    for (size_t i = 0; i < tf->d; i++) {
        uint32_t u;
        memcpy(&u, &tf->theta[i], 4);
        put32(buf + THETA_HDR + 4 * i, u);
    }
    put64(buf + n - 8, fnv1a(buf, n - 8));

    enum idim_status st = fileio_write_atomic(path, buf, n, err);
    free(buf);
    return st;
}

void theta_free(struct theta_file *tf)
{
    if (!tf)
        return;
    free(tf->theta);
    memset(tf, 0, sizeof *tf);
}

enum idim_status theta_load(const char *path, struct theta_file *tf, struct idim_err *err)
{
    memset(tf, 0, sizeof *tf);
    FILE *f = fopen(path, "rb");
    if (!f)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    enum idim_status st = IDIM_OK;
    if (fseek(f, 0, SEEK_END) != 0) {
        st = idim_fail(err, IDIM_ERR_IO, "%s: cannot seek", path);
        goto out;
    }
    long len = ftell(f);
    rewind(f);
    if (len < (long)THETA_HDR + 8) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: not a theta file: %ld bytes, a header needs %u", path, len,
                       THETA_HDR + 8);
        goto out;
    }
    buf = malloc((size_t)len);
    if (!buf) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        st = idim_fail(err, IDIM_ERR_IO, "%s: short read", path);
        goto out;
    }
    if (memcmp(buf, THETA_MAGIC, 8) != 0) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: not a theta file (bad magic)", path);
        goto out;
    }
    if (get32(buf + 8) != THETA_VERSION) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: theta file version %u, this idim reads %u",
                       path, get32(buf + 8), THETA_VERSION);
        goto out;
    }
    uint64_t d = get64(buf + 24);
    if (d == 0 || d > ((uint64_t)len - THETA_HDR - 8) / 4 ||
        (uint64_t)len != THETA_HDR + 4 * d + 8) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: header says d = %llu but the file holds %ld bytes",
                       path, (unsigned long long)d, len);
        goto out;
    }
    if (get64(buf + (size_t)len - 8) != fnv1a(buf, (size_t)len - 8)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: checksum mismatch (file corrupt)", path);
        goto out;
    }
    tf->mode = (enum train_mode)get32(buf + 12);
    tf->scope = (enum ff_scope)get32(buf + 16);
    tf->grad_compat = (int)get32(buf + 20);
    tf->d = (size_t)d;
    tf->n_tensors = (size_t)get64(buf + 32);
    tf->n_labels = (int)get32(buf + 40);
    tf->max_len = (int)get32(buf + 44);
    tf->seed = get64(buf + 48);
    tf->proj_seed = get64(buf + 56);
    memcpy(tf->model_checksum, buf + 64, 16);
    tf->model_checksum[16] = 0;
    memcpy(tf->task, buf + 80, 31);
    tf->task[31] = 0;
    uint64_t mb = get64(buf + 112);
    memcpy(&tf->metric, &mb, 8);
    tf->n_dev = get64(buf + 120);
    tf->batch = (int)get32(buf + 128);
    if ((tf->mode != TRAIN_DID && tf->mode != TRAIN_SAID) ||
        (tf->scope != FF_SCOPE_TENSOR && tf->scope != FF_SCOPE_GLOBAL) || tf->n_labels < 1 ||
        tf->max_len < 3 || tf->batch < 1 || tf->batch > 65536) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: bad method, scope, label count, max_len or batch field",
                       path);
        goto out;
    }
    tf->theta = malloc((size_t)d * sizeof(float));
    if (!tf->theta) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (size_t i = 0; i < (size_t)d; i++) {
        uint32_t u = get32(buf + THETA_HDR + 4 * i);
        memcpy(&tf->theta[i], &u, 4);
    }
out:
    free(buf);
    fclose(f);
    if (st)
        theta_free(tf);
    return st;
}

enum idim_status train_eval_theta(struct train_data *td, const struct theta_file *tf,
                                  int threads, struct metrics *out, struct idim_err *err)
{
    const char *have = td->checksum_hex[0] ? td->checksum_hex : "random";
    if (strcmp(tf->model_checksum, have) != 0)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "the theta file was trained on the model with checksum %s, but %s has "
                         "checksum %s",
                         tf->model_checksum, td->model_path[0] ? td->model_path : "the model",
                         have);
    if (strcmp(tf->task, td->spec.name) != 0)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "the theta file was trained on task %s, not %s", tf->task,
                         td->spec.name);
    if (tf->n_labels != td->spec.n_labels)
        return idim_fail(err, IDIM_ERR_USAGE, "the theta file has %d labels, task %s has %d",
                         tf->n_labels, td->spec.name, td->spec.n_labels);
    if (threads <= 0)
        threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    model_set_threads(threads);
    struct run R;
    memset(&R, 0, sizeof R);
    int B = tf->batch;
    size_t n_dev = td->dev.n;
    if (tf->n_dev > 0 && tf->n_dev < n_dev)
        n_dev = (size_t)tf->n_dev;
    enum idim_status st = run_model(&R, td, B, tf->seed, 0.0f, err);
    if (st)
        goto done;
    if (R.m.n_tensors != tf->n_tensors) {
        st = idim_fail(err, IDIM_ERR_USAGE, "the theta file is for a model of %zu tensors, this "
                                            "one has %zu",
                       tf->n_tensors, R.m.n_tensors);
        goto done;
    }
    st = subspace_init(&R.s, &R.m, tf->mode, tf->d, tf->scope, tf->proj_seed, tf->grad_compat,
                       threads, err);
    if (st)
        goto done;
    memcpy(R.s.theta, tf->theta, tf->d * sizeof(float));
    subspace_apply(&R.s);
    st = batch_alloc(&R.b, B, model_T(td), err);
    if (st)
        goto done;
    R.have_batch = 1;
    R.idx = malloc(n_dev * sizeof *R.idx);
    R.pred = malloc(n_dev * sizeof *R.pred);
    R.score = malloc(n_dev * sizeof *R.score);
    if (!R.idx || !R.pred || !R.score) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    evaluate(&R, td, n_dev, B, out);
done:
    run_free(&R);
    return st;
}
