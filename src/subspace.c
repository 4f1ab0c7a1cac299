/* subspace.c - the subspace reparametrisation of a model (DID / SAID):
 * theta = theta0 + (lambda *) P theta_d and its gradient. Contract and
 * equations: include/train.h (struct subspace). */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum idim_status subspace_init(struct subspace *s, struct model *m, enum train_mode mode,
                               size_t d, enum ff_scope scope, uint64_t proj_seed,
                               int grad_compat, int threads, struct idim_err *err)
{
    return subspace_init_kind(s, m, mode, d, PROJ_FASTFOOD, PROJ_NORM_COLUMNS, scope, proj_seed,
                              grad_compat, threads, err);
}

enum idim_status subspace_init_kind(struct subspace *s, struct model *m, enum train_mode mode,
                                    size_t d, enum proj_kind kind, enum proj_norm norm,
                                    enum ff_scope scope, uint64_t proj_seed, int grad_compat,
                                    int threads, struct idim_err *err)
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
    if (kind == PROJ_IDENTITY && mode != TRAIN_DID)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--projection identity needs --method did (it is the full fine-tuning "
                         "control: SAID's lambdas would scale the weights themselves)");
    s->d_proj = mode == TRAIN_SAID ? d - nt : d;
    /* a subspace has at most as many dimensions as the space it lies in:
     * d = D is already full fine-tuning, so d90 <= D */
    if (s->d_proj > m->n_params)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--d %zu is larger than the model's %zu trainable parameters (D)%s: a "
                         "subspace cannot have more dimensions than the weights it moves; use "
                         "--d %zu or less",
                         d, m->n_params, mode == TRAIN_SAID ? " plus its lambdas" : "",
                         mode == TRAIN_SAID ? m->n_params + nt : m->n_params);
    /* identity: theta holds the weights themselves (starts at theta0), so
     * the run does what finetune does, bit for bit (README) */
    s->absolute = kind == PROJ_IDENTITY;
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
    if (s->absolute && d == D)
        for (size_t t = 0; t < nt; t++)
            memcpy(s->theta + m->tensors[t].offset, s->theta0[t],
                   m->tensors[t].n_elem * sizeof(float));
    size_t *n = malloc(nt * sizeof *n);
    if (!n) {
        subspace_free(s);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    }
    for (size_t t = 0; t < nt; t++)
        n[t] = m->tensors[t].n_elem;
    enum idim_status st = projection_new(&s->proj, kind, n, nt, s->d_proj, scope, proj_seed,
                                         grad_compat, threads, err);
    free(n);
    if (!st)
        projection_set_norm(s->proj, norm);
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
    projection_free(s->proj);
    free(s->prev);
    free(s->step_sum);
    free(s->block);
    memset(s, 0, sizeof *s);
}

void subspace_apply(struct subspace *s)
{
    struct model *m = s->m;
    if (s->absolute) {
        projection_forward(s->proj, s->theta, m->params);
        return;
    }
    projection_forward(s->proj, s->theta, s->delta);
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

enum idim_status subspace_track_steps(struct subspace *s, struct idim_err *err)
{
    size_t D = s->m->n_params;
    s->prev = malloc(D * sizeof *s->prev);
    s->step_sum = calloc(s->m->n_tensors, sizeof *s->step_sum);
    if (!s->prev || !s->step_sum)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory for --step-stats");
    s->n_steps = -1; /* the first call only records the starting weights */
    return IDIM_OK;
}

/* Adds the step from the previous call to s->step_sum (tracking on). */
static void track_step(struct subspace *s)
{
    struct model *m = s->m;
    if (s->n_steps >= 0)
        for (size_t t = 0; t < m->n_tensors; t++) {
            size_t off = m->tensors[t].offset, n = m->tensors[t].n_elem;
            double acc = 0;
            for (size_t i = 0; i < n; i++) {
                double dlt = (double)m->params[off + i] - (double)s->prev[off + i];
                acc += dlt * dlt;
            }
            s->step_sum[t] += sqrt(acc);
        }
    s->n_steps++;
    memcpy(s->prev, m->params, m->n_params * sizeof *s->prev);
}

float subspace_loss_grad(struct subspace *s, const struct batch *b, int train)
{
    struct model *m = s->m;
    subspace_apply(s);
    if (s->step_sum)
        track_step(s);
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
        if (projection_n_transforms(s->proj) == m->n_tensors) {
            if (!s->weight_grad_only)
                projection_adjoint(s->proj, m->grads, lam, s->grad);
        } else {
            /* one global transform: weight each tensor's slice first */
            for (size_t t = 0; t < m->n_tensors; t++) {
                size_t off = m->tensors[t].offset, n = m->tensors[t].n_elem;
                for (size_t i = 0; i < n; i++)
                    m->grads[off + i] *= lam[t];
            }
            if (!s->weight_grad_only)
                projection_adjoint(s->proj, m->grads, NULL, s->grad);
        }
    } else if (!s->weight_grad_only) {
        projection_adjoint(s->proj, m->grads, NULL, s->grad);
    }
    return loss;
}
