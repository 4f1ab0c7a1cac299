/* train_eval.c - one run's scratch (model, batch, index and prediction
 * arrays) and dev-split evaluation: after each epoch of train_run, and for
 * a saved theta file (train_eval_theta). Contract: include/train.h and
 * src/train_internal.h. */
#include "train.h"
#include "train_internal.h"
#include "theta.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double train_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_scratch_free(struct run *r)
{
    subspace_free(&r->s);
    if (r->have_model)
        model_free(&r->m);
    if (r->have_batch)
        batch_free(&r->b);
    free(r->idx);
    free(r->order_scratch);
    free(r->eval_idx);
    free(r->ckpt);
    free(r->pred);
    free(r->score);
    free(r->opt);
    free(r->best_theta);
    free(r->decay);
}

/* Longest batch the model is sized for: --max-len (clamped to the
 * positions the model has). Not the data's longest row, so that eval,
 * which loads only the dev split, builds exactly the same model. */
int train_model_T(const struct train_data *td)
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
enum idim_status train_build_model(struct run *r, struct train_data *td, int B, uint64_t seed,
                                  float dropout, struct idim_err *err)
{
    enum idim_status st =
        model_init(&r->m, &td->cfg, td->spec.n_labels, B, train_model_T(td), err);
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
void train_evaluate(struct run *r, struct train_data *td, size_t n_dev, int B,
                     struct metrics *met)
{
    struct model *m = &r->m;
    int NL = m->n_labels;
    for (size_t i = 0; i < n_dev; i++)
        r->eval_idx[i] = i;
    for (size_t i0 = 0; i0 < n_dev; i0 += (size_t)B) {
        int n = (int)(n_dev - i0 < (size_t)B ? n_dev - i0 : (size_t)B);
        batch_fill(&r->b, &td->dev, r->eval_idx + i0, n, td->cfg.pad_id);
        model_forward(m, &r->b, 0);
        if (m->stop && *m->stop) { /* Ctrl-C: no score; the caller checks the flag */
            memset(met, 0, sizeof *met);
            met->primary = met->majority_primary = NAN;
            return;
        }
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
    enum idim_status st = train_build_model(&R, td, B, tf->seed, 0.0f, err);
    if (st)
        goto done;
    if (R.m.n_tensors != tf->n_tensors) {
        st = idim_fail(err, IDIM_ERR_USAGE, "the theta file is for a model of %zu tensors, this "
                                            "one has %zu",
                       tf->n_tensors, R.m.n_tensors);
        goto done;
    }
    /* the model and the projection are held together: check their sum */
    struct train_opts mo;
    memset(&mo, 0, sizeof mo);
    mo.mode = tf->mode;
    mo.d = tf->d;
    mo.projection = tf->projection;
    mo.scope = tf->scope;
    mo.optimizer = TRAIN_SGD; /* no optimizer state */
    if ((st = train_memory_check(&R.m, td, &mo, threads, err)))
        goto done;
    st = subspace_init_kind(&R.s, &R.m, tf->mode, tf->d, tf->projection, tf->norm, tf->scope,
                            tf->proj_seed, tf->grad_compat, threads, err);
    if (st)
        goto done;
    R.m.stop = &idim_interrupted;
    projection_set_stop(R.s.proj, &idim_interrupted);
    memcpy(R.s.theta, tf->theta, tf->d * sizeof(float));
    subspace_apply(&R.s);
    st = batch_alloc(&R.b, B, train_model_T(td), err);
    if (st)
        goto done;
    R.have_batch = 1;
    R.eval_idx = malloc(n_dev * sizeof *R.eval_idx);
    R.pred = malloc(n_dev * sizeof *R.pred);
    R.score = malloc(n_dev * sizeof *R.score);
    if (!R.eval_idx || !R.pred || !R.score) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    train_evaluate(&R, td, n_dev, B, out);
    if (idim_interrupted)
        st = idim_fail(err, IDIM_ERR_INTERRUPTED, "interrupted while scoring the dev split");
done:
    train_scratch_free(&R);
    return st;
}
