/* test_train.c - the trainer: gradients with respect to theta_d and the
 * SAID lambdas against central finite differences (double), step 0 equal
 * to the unprojected model bit for bit, AdamW against a hand-computed
 * update, the learning-rate schedule, determinism of short runs, the theta
 * file round trip (and eval reproducing the metric exactly), divergence.
 * Everything is built in memory: a tiny random BERT and a handmade data set. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "rng.h"
#include "theta.h"
#include "train.h"

static void tiny_cfg(struct arch_config *c)
{
    memset(c, 0, sizeof *c);
    c->family = ARCH_BERT;
    c->n_layers = 1;
    c->hidden = 8;
    c->n_heads = 2;
    c->ffn = 16;
    c->vocab_size = 30;
    c->max_pos = 16;
    c->type_vocab = 2;
    c->pad_id = 0;
    c->ln_eps = 1e-12f;
    c->act = ARCH_GELU;
    c->has_pooler = 1;
    c->n_labels = 2;
}

/* A padded batch of 4 rows (lengths 6, 3, 5, 2), fixed ids and labels. */
static void tiny_batch(struct batch *b)
{
    assert_int_equal(batch_alloc(b, 4, 6, NULL), IDIM_OK);
    static const int len[4] = {6, 3, 5, 2};
    b->B = 4;
    b->T = 6;
    struct rng r;
    rng_init(&r, 77);
    for (int i = 0; i < 4; i++) {
        for (int t = 0; t < 6; t++) {
            int k = i * 6 + t;
            int on = t < len[i];
            b->ids[k] = on ? (t == 0 ? 2 : 3 + (int)rng_below(&r, 27)) : 0;
            b->type_ids[k] = on && t >= 3 ? 1 : 0;
            b->mask[k] = on;
        }
        b->labels[i] = i & 1;
    }
    if (b->targets)
        b->targets = NULL;
}

static void make_model(struct model *m)
{
    struct arch_config c;
    tiny_cfg(&c);
    assert_int_equal(model_init(m, &c, 2, 8, 12, NULL), IDIM_OK);
    model_init_random(m, 5);
    /* larger weights than 0.02 so that gradients are not tiny */
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] *= 10.0f;
    for (size_t t = 0; t < m->n_tensors; t++)
        if (strstr(m->tensors[t].name, "LayerNorm.weight"))
            for (size_t i = 0; i < m->tensors[t].n_elem; i++)
                m->params[m->tensors[t].offset + i] = 1.0f + 0.1f * (float)(i % 3);
    m->dropout = 0.0f;
}

/* Loss at the current theta (dropout off), in double. */
static double loss_at(struct subspace *s, const struct batch *b)
{
    subspace_apply(s);
    return (double)model_forward(s->m, b, 0);
}

static void check_fd(enum train_mode mode, enum ff_scope scope)
{
    struct model m;
    make_model(&m);
    struct batch b;
    tiny_batch(&b);
    struct subspace s;
    size_t d = mode == TRAIN_SAID ? m.n_tensors + 12 : 12;
    struct idim_err err = {{0}};
    assert_int_equal(subspace_init(&s, &m, mode, d, scope, 99, 0, 1, &err), IDIM_OK);
    struct rng r;
    rng_init(&r, 3);
    for (size_t i = 0; i < s.d_proj; i++)
        s.theta[i] = (float)(0.5 * rng_normal(&r));
    for (size_t i = s.d_proj; i < d; i++)
        s.theta[i] = (float)(1.0 + 0.3 * rng_normal(&r));
    subspace_loss_grad(&s, &b, 0);
    float *an = malloc(d * sizeof *an);
    memcpy(an, s.grad, d * sizeof *an);
    double max_err = 0, max_g = 0;
    const float h = 1e-2f;
    for (size_t i = 0; i < d; i++) {
        float keep = s.theta[i];
        s.theta[i] = keep + h;
        double lp = loss_at(&s, &b);
        s.theta[i] = keep - h;
        double lm = loss_at(&s, &b);
        s.theta[i] = keep;
        double fd = (lp - lm) / (double)(2 * h);
        double e = fabs(fd - an[i]);
        if (e > max_err)
            max_err = e;
        if (fabs(an[i]) > max_g)
            max_g = fabs(an[i]);
    }
    printf("  fd %s/%s: max |fd - analytic| = %.3g, max |grad| = %.3g\n",
           train_mode_name(mode), scope == FF_SCOPE_GLOBAL ? "global" : "tensor", max_err, max_g);
    assert_true(max_g > 1e-3);
    assert_true(max_err <= 2e-3 * max_g + 1e-5);
    free(an);
    subspace_free(&s);
    batch_free(&b);
    model_free(&m);
}

static void test_fd_did_tensor(void **st) { (void)st; check_fd(TRAIN_DID, FF_SCOPE_TENSOR); }
static void test_fd_did_global(void **st) { (void)st; check_fd(TRAIN_DID, FF_SCOPE_GLOBAL); }
static void test_fd_said_tensor(void **st) { (void)st; check_fd(TRAIN_SAID, FF_SCOPE_TENSOR); }
static void test_fd_said_global(void **st) { (void)st; check_fd(TRAIN_SAID, FF_SCOPE_GLOBAL); }

/* theta_d = 0 (lambdas = 1): logits identical to the untouched model. */
static void test_step0_exact(void **st)
{
    (void)st;
    enum train_mode modes[2] = {TRAIN_DID, TRAIN_SAID};
    for (int k = 0; k < 2; k++) {
        struct model m;
        make_model(&m);
        struct batch b;
        tiny_batch(&b);
        model_forward(&m, &b, 0);
        float ref[8];
        memcpy(ref, m.logits, sizeof ref);
        float *p0 = malloc(m.n_params * sizeof *p0);
        memcpy(p0, m.params, m.n_params * sizeof *p0);
        struct subspace s;
        assert_int_equal(subspace_init(&s, &m, modes[k], m.n_tensors + 50, FF_SCOPE_TENSOR, 7,
                                       0, 1, NULL),
                         IDIM_OK);
        /* scribble over params: apply must rebuild them from theta0 */
        for (size_t i = 0; i < m.n_params; i++)
            m.params[i] = 123.0f;
        subspace_apply(&s);
        assert_memory_equal(m.params, p0, m.n_params * sizeof *p0);
        model_forward(&m, &b, 0);
        assert_memory_equal(m.logits, ref, sizeof ref);
        free(p0);
        subspace_free(&s);
        batch_free(&b);
        model_free(&m);
    }
}

static void test_said_too_small(void **st)
{
    (void)st;
    struct model m;
    make_model(&m);
    struct subspace s;
    struct idim_err err = {{0}};
    assert_int_equal(
        subspace_init(&s, &m, TRAIN_SAID, m.n_tensors, FF_SCOPE_TENSOR, 7, 0, 1, &err),
        IDIM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "lambdas"));
    model_free(&m);
}

/* AdamW over a long vector (the vector loop, its scalar tail and, from 64K
 * floats, the thread pool) with a decay mask and a clip factor: every
 * element equals the scalar formula in float evaluated here, bit for bit,
 * on 1 and 3 threads; the squared norm matches a double sum to 1e-12 and
 * does not depend on the thread count. */
static void test_adamw_long(void **st)
{
    (void)st;
    enum { N = 3 * 65536 + 7 };
    static float x[2][N], mo[2][N], ve[2][N], g[N], X[N], M[N], V[N];
    static uint8_t decay[N];
    struct rng r;
    rng_init(&r, 9);
    for (int i = 0; i < N; i++) {
        X[i] = x[0][i] = x[1][i] = (float)rng_normal(&r);
        decay[i] = (uint8_t)(rng_next(&r) & 1);
        M[i] = V[i] = mo[0][i] = mo[1][i] = ve[0][i] = ve[1][i] = 0.0f;
    }
    double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)rng_normal(&r) * (i % 5 ? 1.0f : 1e-20f);
        float gs = t == 2 ? 0.25f : 1.0f;
        for (int k = 0; k < 2; k++) {
            model_set_threads(k ? 3 : 1);
            train_adamw_step(x[k], g, gs, mo[k], ve[k], N, lr, b1, b2, eps, wd, decay, t);
        }
        float fwd = (float)(lr * wd), step = (float)(lr / (1.0 - pow(b1, t)));
        float rbc2 = (float)(1.0 / sqrt(1.0 - pow(b2, t)));
        for (int i = 0; i < N; i++) {
            float gi = gs == 1.0f ? g[i] : g[i] * gs;
            M[i] = (float)b1 * M[i] + (float)(1.0 - b1) * gi;
            V[i] = (float)b2 * V[i] + (float)(1.0 - b2) * gi * gi;
            if (decay[i])
                X[i] -= fwd * X[i];
            X[i] -= step * M[i] / (sqrtf(V[i]) * rbc2 + (float)eps);
        }
    }
    model_set_threads(1);
    assert_memory_equal(x[0], x[1], sizeof x[0]);
    assert_memory_equal(mo[0], mo[1], sizeof mo[0]);
    assert_memory_equal(ve[0], ve[1], sizeof ve[0]);
    assert_memory_equal(x[0], X, sizeof X);
    assert_memory_equal(mo[0], M, sizeof M);
    assert_memory_equal(ve[0], V, sizeof V);
    double ref = 0.0;
    for (int i = 0; i < N; i++)
        ref += (double)x[0][i] * x[0][i];
    double s1 = train_sumsq(x[0], N);
    model_set_threads(3);
    double s3 = train_sumsq(x[0], N);
    model_set_threads(1);
    printf("  sumsq %.17g, double loop %.17g\n", s1, ref);
    assert_true(s1 == s3);
    assert_true(fabs(s1 - ref) <= 1e-12 * ref);
}

/* adamw-proj's direction pass (vectorised, on the pool, clip factor applied
 * as it reads g) against the scalar loop it replaced, written out here:
 * every element bit for bit, on 1 and 3 threads, with a ragged tail. */
static void test_adam_direction_long(void **st)
{
    (void)st;
    enum { N = 2 * 65536 + 13 };
    static float dir[2][N], mo[2][N], ve[2][N], g[N], M[N], V[N], DIR[N];
    struct rng r;
    rng_init(&r, 11);
    double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)rng_normal(&r) * (i % 7 ? 1.0f : 1e-20f);
        float gs = t == 2 ? 0.3f : 1.0f;
        for (int k = 0; k < 2; k++) {
            model_set_threads(k ? 3 : 1);
            train_adam_direction(dir[k], g, gs, mo[k], ve[k], N, b1, b2, eps, t);
        }
        float rbc1 = (float)(1.0 / (1.0 - pow(b1, (double)t)));
        float rbc2 = (float)(1.0 / sqrt(1.0 - pow(b2, (double)t)));
        for (int i = 0; i < N; i++) {
            float gi = gs == 1.0f ? g[i] : g[i] * gs;
            M[i] = (float)b1 * M[i] + (float)(1.0 - b1) * gi;
            V[i] = (float)b2 * V[i] + (float)(1.0 - b2) * gi * gi;
            DIR[i] = rbc1 * M[i] / (sqrtf(V[i]) * rbc2 + (float)eps);
        }
        assert_memory_equal(dir[0], dir[1], sizeof dir[0]);
        assert_memory_equal(dir[0], DIR, sizeof DIR);
    }
    model_set_threads(1);
    assert_memory_equal(mo[0], mo[1], sizeof mo[0]);
    assert_memory_equal(ve[1], V, sizeof V);
    assert_memory_equal(mo[0], M, sizeof M);
}

/* AdamW, two steps, against the formulas written out in double. */
static void test_adamw_hand(void **st)
{
    (void)st;
    float x[3] = {1.0f, -2.0f, 0.5f};
    const float g1[3] = {0.1f, -0.2f, 0.3f}, g2[3] = {-0.05f, 0.4f, 0.3f};
    float mo[3] = {0}, ve[3] = {0};
    const uint8_t decay[3] = {1, 0, 1};
    double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    double X[3] = {1.0, -2.0, 0.5}, M[3] = {0}, V[3] = {0};
    for (int t = 1; t <= 2; t++) {
        const float *g = t == 1 ? g1 : g2;
        train_adamw_step(x, g, 1.0f, mo, ve, 3, lr, b1, b2, eps, wd, decay, t);
        for (int i = 0; i < 3; i++) {
            M[i] = b1 * M[i] + (1 - b1) * g[i];
            V[i] = b2 * V[i] + (1 - b2) * (double)g[i] * g[i];
            double mh = M[i] / (1 - pow(b1, t)), vh = V[i] / (1 - pow(b2, t));
            if (decay[i])
                X[i] -= lr * wd * X[i];
            X[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    /* step 1: x = x - lr*wd*x - lr*sign(g) */
    for (int i = 0; i < 3; i++) {
        printf("  adamw x[%d] = %.9g, expected %.9g\n", i, x[i], X[i]);
        assert_true(fabs(x[i] - X[i]) < 1e-6);
    }
    assert_true(fabs(X[1] - (-2.0 + 0.1 - 0.1 * (0.9 * 0.1 * -0.2 + 0.1 * 0.4) / 0.19 /
                                                 (sqrt((0.999 * 0.001 * 0.04 + 0.001 * 0.16) /
                                                       (1 - 0.999 * 0.999)) +
                                                  1e-8))) < 1e-7);
}

static void test_lr_schedule(void **st)
{
    (void)st;
    assert_true(fabs(train_lr_factor(0, 10, 100) - 0.1) < 1e-12);
    assert_true(fabs(train_lr_factor(4, 10, 100) - 0.5) < 1e-12);
    assert_true(fabs(train_lr_factor(9, 10, 100) - 1.0) < 1e-12);
    assert_true(fabs(train_lr_factor(10, 10, 100) - 1.0) < 1e-12);
    assert_true(fabs(train_lr_factor(55, 10, 100) - 0.5) < 1e-12);
    assert_true(fabs(train_lr_factor(99, 10, 100) - 1.0 / 90) < 1e-12);
    assert_true(fabs(train_lr_factor(0, 0, 4) - 1.0) < 1e-12);
    assert_true(fabs(train_lr_factor(3, 0, 4) - 0.25) < 1e-12);
}

/* An empty split of n rows (row offsets allocated) and its generator. */
static void split_start(struct encoded *e, size_t n, struct rng *r, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    rng_init(r, seed);
    e->n = n;
    e->off = malloc((n + 1) * sizeof *e->off);
}

/* A small learnable data set: label 1 when token 5 appears. */
static void fill_split(struct encoded *e, size_t n, uint64_t seed)
{
    struct rng r;
    split_start(e, n, &r, seed);
    e->ids = malloc(n * 10 * sizeof *e->ids);
    e->type_ids = malloc(n * 10 * sizeof *e->type_ids);
    e->labels = malloc(n * sizeof *e->labels);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        e->off[i] = k;
        int len = 3 + (int)rng_below(&r, 8);
        int lab = (int)rng_below(&r, 2);
        e->ids[k] = 2;
        e->type_ids[k++] = 0;
        for (int t = 1; t < len; t++) {
            int id = 6 + (int)rng_below(&r, 24);
            if (lab && t == 1 + (int)(i % (size_t)(len - 1)))
                id = 5;
            e->ids[k] = id;
            e->type_ids[k++] = 0;
        }
        e->labels[i] = lab;
        if (len > e->max_len)
            e->max_len = len;
    }
    e->off[n] = k;
}

static void free_split(struct encoded *e)
{
    free(e->off);
    free(e->ids);
    free(e->type_ids);
    free(e->labels);
    memset(e, 0, sizeof *e);
}

static void make_data(struct train_data *td)
{
    memset(td, 0, sizeof *td);
    tiny_cfg(&td->cfg);
    td->have_file = 0;
    snprintf(td->spec.name, sizeof td->spec.name, "toy");
    td->spec.n_labels = 2;
    td->spec.metric = METRIC_ACCURACY;
    td->max_len = 12;
    fill_split(&td->train, 40, 11);
    fill_split(&td->dev, 20, 12);
}

static void drop_data(struct train_data *td)
{
    free_split(&td->train);
    free_split(&td->dev);
    train_data_free(td);
}

static void short_opts(struct train_opts *o, enum train_mode mode)
{
    train_opts_default(o, mode);
    o->d = mode == TRAIN_SAID ? 60 : 30;
    o->epochs = 2;
    o->batch = 8;
    o->threads = 1;
    o->lr = mode == TRAIN_FULL ? 1e-3 : 3e-2;
}

/* The setup each per-method test repeats: the toy data and the short
 * options of each mode in turn; BODY checks one mode, the data is freed
 * after it. */
typedef void (*mode_body)(struct train_data *td, struct train_opts *o, enum train_mode mode);

static void for_modes(const enum train_mode *modes, int n_modes, mode_body body)
{
    for (int k = 0; k < n_modes; k++) {
        struct train_data td;
        make_data(&td);
        struct train_opts o;
        short_opts(&o, modes[k]);
        body(&td, &o, modes[k]);
        drop_data(&td);
    }
}

static void determinism_mode(struct train_data *td, struct train_opts *o, enum train_mode mode)
{
    (void)mode;
    struct train_result a, b;
    struct idim_err err = {{0}};
    assert_int_equal(train_run(td, o, &a, &err), IDIM_OK);
    assert_int_equal(train_run(td, o, &b, &err), IDIM_OK);
    assert_int_equal(a.n_epochs, 2);
    assert_int_equal(a.steps, 10);
    assert_false(a.diverged);
    assert_true(isfinite(a.epoch_loss[0]) && isfinite(a.best));
    assert_memory_equal(a.epoch_loss, b.epoch_loss, sizeof a.epoch_loss);
    assert_memory_equal(a.epoch_metric, b.epoch_metric, sizeof a.epoch_metric);
    /* a different seed changes the data order, hence the losses */
    o->seed = 43;
    assert_int_equal(train_run(td, o, &b, &err), IDIM_OK);
    assert_memory_not_equal(a.epoch_loss, b.epoch_loss, 2 * sizeof(double));
    /* JSON equal apart from timing fields */
    o->seed = 42;
    assert_int_equal(train_run(td, o, &b, &err), IDIM_OK);
    b.seconds = a.seconds;
    b.ex_per_s = a.ex_per_s;
    b.peak_rss_bytes = a.peak_rss_bytes;
    b.eval_seconds = a.eval_seconds;
    cJSON *ja = train_result_json(o, &a), *jb = train_result_json(o, &b);
    char *sa = cJSON_PrintUnformatted(ja), *sb = cJSON_PrintUnformatted(jb);
    assert_string_equal(sa, sb);
    assert_non_null(strstr(sa, "\"method\":\""));
    free(sa);
    free(sb);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
}

static void test_determinism(void **st)
{
    (void)st;
    static const enum train_mode modes[3] = {TRAIN_FULL, TRAIN_DID, TRAIN_SAID};
    for_modes(modes, 3, determinism_mode);
}

static void theta_roundtrip_mode(struct train_data *td, struct train_opts *o, enum train_mode mode)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/idim-test-theta.%ld", (long)getpid());
    o->save_theta = path;
    o->scope = mode == TRAIN_SAID ? FF_SCOPE_GLOBAL : FF_SCOPE_TENSOR;
    struct train_result r;
    struct idim_err err = {{0}};
    assert_int_equal(train_run(td, o, &r, &err), IDIM_OK);
    struct theta_file tf;
    assert_int_equal(theta_load(path, &tf, &err), IDIM_OK);
    assert_int_equal(tf.mode, mode);
    assert_int_equal(tf.scope, o->scope);
    assert_int_equal(tf.d, o->d);
    assert_int_equal(tf.seed, 42);
    assert_int_equal(tf.proj_seed, o->proj_seed);
    assert_string_equal(tf.task, "toy");
    assert_string_equal(tf.model_checksum, "random");
    assert_true(tf.metric == r.best);
    /* the trained vector moved away from its start */
    int moved = 0;
    for (size_t i = 0; i < tf.d; i++)
        moved |= tf.theta[i] != (i < r.d_proj ? 0.0f : 1.0f);
    assert_true(moved);
    struct metrics met;
    assert_int_equal(train_eval_theta(td, &tf, 1, &met, &err), IDIM_OK);
    assert_true(met.primary == r.best);
    /* another model checksum is refused, naming both */
    snprintf(td->checksum_hex, sizeof td->checksum_hex, "0123456789abcdef");
    assert_int_equal(train_eval_theta(td, &tf, 1, &met, &err), IDIM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "random"));
    assert_non_null(strstr(err.msg, "0123456789abcdef"));
    td->checksum_hex[0] = 0;
    theta_free(&tf);
    /* a flipped byte is caught by the checksum */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 140, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 140, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    assert_int_equal(theta_load(path, &tf, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
    remove(path);
}

static void test_theta_roundtrip(void **st)
{
    (void)st;
    static const enum train_mode modes[2] = {TRAIN_DID, TRAIN_SAID};
    for_modes(modes, 2, theta_roundtrip_mode);
}

static void diverged_mode(struct train_data *td, struct train_opts *o, enum train_mode mode)
{
    (void)mode;
    o->optimizer = TRAIN_SGD;
    o->clip = 0;
    o->warmup_steps = 0;
    o->lr = 1e30;
    struct train_result r;
    struct idim_err err = {{0}};
    assert_int_equal(train_run(td, o, &r, &err), IDIM_OK);
    assert_true(r.diverged);
    assert_true(strstr(r.diverged_msg, "NaN") || strstr(r.diverged_msg, "infinite"));
    assert_true(r.steps < 10);
    cJSON *j = train_result_json(o, &r);
    char *s = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(s, "\"diverged\":true"));
    free(s);
    cJSON_Delete(j);
}

static void test_diverged(void **st)
{
    (void)st;
    static const enum train_mode modes[2] = {TRAIN_FULL, TRAIN_DID};
    for_modes(modes, 2, diverged_mode);
}


/* Feeds a synthetic learning curve (metric at steps every, 2 every, ...,
 * total) through train_hopeless with the bookkeeping of the trainer (best
 * so far, best at or before step - total/3). Returns the step at which the
 * rule fires, 0 when never. */
static long replay(double (*curve)(long step, long total), long total, long every,
                   double target)
{
    double best = NAN;
    for (long s = every; s <= total; s += every) {
        double m = curve(s, total);
        if (isnan(best) || m > best)
            best = m;
        if (m > target)
            return 0; /* met */
        double before = NAN;
        for (long u = every; u <= s - total / 3; u += every)
            if (isnan(before) || curve(u, total) > before)
                before = curve(u, total);
        if (train_hopeless(s, total, best, before, target))
            return s;
    }
    return 0;
}

/* A careless rule for contrast: patience of 5 evaluations after 25%. */
static long replay_patience(double (*curve)(long step, long total), long total, long every,
                            double target)
{
    double best = NAN;
    int stale = 0;
    for (long s = every; s <= total; s += every) {
        double m = curve(s, total);
        if (m > target)
            return 0;
        if (isnan(best) || m > best) {
            best = m;
            stale = 0;
        } else if (++stale >= 5 && 4 * s >= total) {
            return s;
        }
    }
    return 0;
}

static double flat(long s, long total)
{
    (void)s, (void)total;
    return 0.5;
}

/* Flat at the majority score for 45% of the schedule, then a rise that
 * crosses the target 0.8 at about 90%. */
static double late_rise(long s, long total)
{
    double f = (double)s / (double)total;
    return f < 0.45 ? 0.5 : 0.5 + (f - 0.45) * 0.72;
}

/* Climbs slowly all the way and ends below the target: still improving, so
 * never abandoned (the rule only stops plateaus). */
static double slow_climb(long s, long total)
{
    return 0.5 + 0.25 * (double)s / (double)total;
}

/* Improves until 40%, then a plateau (with small dips) below target. */
static double plateau(long s, long total)
{
    double f = (double)s / (double)total;
    if (f <= 0.4)
        return 0.5 + 0.5 * f;
    return 0.7 - 0.01 * (double)(s % 3);
}

static double meets(long s, long total)
{
    return 0.5 + 0.5 * (double)s / (double)total;
}

/* Improves fast until 30%, then gains a little: 0.002 per 10% (the gap
 * stays far above 3 x the gain of a third). */
static double creeping(long s, long total)
{
    double f = (double)s / (double)total;
    return f <= 0.3 ? 0.5 + 0.6 * f : 0.68 + 0.02 * (f - 0.3);
}

static void test_hopeless_rule(void **st)
{
    (void)st;
    /* nothing learned: abandoned exactly at 2/3 of the schedule */
    assert_int_equal(replay(flat, 300, 10, 0.8), 200);
    /* the late rise keeps running (and the careless rule would have lost it) */
    assert_int_equal(replay(late_rise, 300, 10, 0.8), 0);
    assert_true(replay_patience(late_rise, 300, 10, 0.8) > 0);
    assert_true(late_rise(300, 300) > 0.8);
    /* still climbing at a pace that could close the gap: kept */
    assert_int_equal(replay(slow_climb, 300, 10, 0.8), 0);
    /* plateau from 40% at 0.7, target 0.8: at 2/3 the best gained 0.033
     * over the last third, the gap 0.1 >= 3 x 0.033: abandoned */
    assert_int_equal(replay(plateau, 300, 10, 0.8), 200);
    assert_int_equal(replay(creeping, 300, 10, 0.8), 200);
    assert_int_equal(replay(meets, 300, 10, 0.8), 0);
    /* no target, no rule; a best above the target is never hopeless */
    assert_false(train_hopeless(299, 300, 0.5, 0.5, NAN));
    assert_false(train_hopeless(299, 300, 0.81, 0.5, 0.8));
    /* nothing valid after 2/3: abandoned; valid only lately: kept */
    assert_true(train_hopeless(200, 300, NAN, NAN, 0.8));
    assert_false(train_hopeless(200, 300, 0.5, NAN, 0.8));
    /* equal to the target is not above it */
    assert_true(train_hopeless(299, 300, 0.8, 0.8, 0.8));
    /* the bounds: 2/3 done; gap exactly 3 x the gain */
    assert_false(train_hopeless(199, 300, 0.5, 0.5, 0.8));
    assert_true(train_hopeless(200, 300, 0.5, 0.4, 0.8));
    assert_false(train_hopeless(200, 300, 0.5, 0.39, 0.8));
}

/* Extra dev evaluations do not change training (same losses, same epoch
 * scores); a run stops at the first evaluation above its target, and with
 * early_stop = 0 the full run records that step and ends identical. */
static void early_stop_run_mode(struct train_data *td, struct train_opts *o, enum train_mode mode)
{
    (void)mode;
    o->epochs = 3; /* 5 steps per epoch, 15 in all */
    struct train_result *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    struct idim_err err = {{0}};
    assert_int_equal(train_run(td, o, a, &err), IDIM_OK);
    assert_int_equal(a->n_evals, 3);
    assert_int_equal(a->outcome, TRAIN_COMPLETED);
    o->eval_every = 2;
    assert_int_equal(train_run(td, o, b, &err), IDIM_OK);
    assert_int_equal(b->n_evals, 3 + 6); /* 2,4,6,8,12,14 (10 is an epoch end) */
    assert_memory_equal(a->epoch_loss, b->epoch_loss, 3 * sizeof(double));
    assert_memory_equal(a->epoch_metric, b->epoch_metric, 3 * sizeof(double));
    assert_true(b->best >= a->best);

    /* a target the run reaches at some evaluation: the first one above */
    double target = NAN;
    long first = 0;
    for (int e = 0; e < b->n_evals && !first; e++)
        if (b->eval_metric[e] > b->majority - 1e-9 && b->eval_step[e] > 2) {
            target = b->eval_metric[e] - 1e-6;
            first = b->eval_step[e];
        }
    assert_true(first > 0);
    o->target = target;
    o->early_stop = 1;
    struct train_result *c = calloc(1, sizeof *c), *f = calloc(1, sizeof *f);
    assert_int_equal(train_run(td, o, c, &err), IDIM_OK);
    o->early_stop = 0;
    assert_int_equal(train_run(td, o, f, &err), IDIM_OK);
    assert_int_equal(f->outcome, TRAIN_COMPLETED);
    assert_int_equal(f->steps, 15);
    if (c->outcome == TRAIN_MET) {
        assert_true(c->steps <= first);
        assert_int_equal(c->met_step, c->steps);
        assert_int_equal(f->met_step, c->met_step);
        assert_true(c->best > target);
        assert_true(f->best >= c->best);
        /* the stopped run is a prefix of the full one */
        assert_memory_equal(c->eval_metric, f->eval_metric, (size_t)c->n_evals * sizeof(double));
    } else {
        /* only majority-class scores reached it: never met */
        assert_int_equal(f->met_step, 0);
    }
    cJSON *j = train_result_json(o, c);
    char *js = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(js, "\"outcome\":\""));
    assert_non_null(strstr(js, "\"evals\":[["));
    free(js);
    cJSON_Delete(j);
    free(a);
    free(b);
    free(c);
    free(f);
}

static void test_early_stop_run(void **st)
{
    (void)st;
    static const enum train_mode modes[2] = {TRAIN_DID, TRAIN_SAID};
    for_modes(modes, 2, early_stop_run_mode);
}


/* Checkpoint capture: keeps the k-th checkpoint handed out (k < 0: the
 * last); plays Ctrl-C during call stop_at (0: never), so the step that
 * follows that checkpoint is cut short. */
struct ck_grab {
    int calls, want;
    unsigned char *buf;
    size_t len;
    int stop_at;
};

static enum idim_status grab_ckpt(void *user, const unsigned char *ck, size_t len,
                                  struct idim_err *err)
{
    (void)err;
    struct ck_grab *g = user;
    if (++g->calls == g->want || g->want < 0) {
        free(g->buf);
        g->buf = malloc(len);
        memcpy(g->buf, ck, len);
        g->len = len;
    }
    if (g->calls == g->stop_at)
        idim_interrupted = 1;
    return IDIM_OK;
}

/* train_opts.progress that plays Ctrl-C after step *user. */
static void interrupt_at(const struct train_progress *p, void *user)
{
    if (!p->evaluating && p->step == *(long *)user)
        idim_interrupted = 1;
}

/* The toy data and the runs the checkpoint tests interrupt: 3 epochs of 5
 * steps, dev scored every 2 steps and after each epoch, dropout on. */
#define R_ TRAIN_BATCHING_RANDOM
struct ckpt_case {
    enum train_mode mode;
    enum train_optim opt;
    enum train_batching batching; /* RANDOM unless given */
};

static void ckpt_setup(struct train_data *td, struct train_opts *o, const struct ckpt_case *c)
{
    make_data(td);
    short_opts(o, c->mode);
    o->optimizer = c->opt;
    o->batching = c->batching;
    o->epochs = 3;
    o->eval_every = 2;
    o->dropout = 0.1;
}

/* Resumes o's run from g's checkpoint into r: it must end as the
 * uninterrupted run `full`, curves, evaluations and best score bit for bit. */
static void resume_equals(struct train_data *td, struct train_opts *o, const struct ck_grab *g,
                          struct train_result *r, const struct train_result *full)
{
    struct idim_err err = {{0}};
    o->resume = g->buf;
    o->resume_len = g->len;
    assert_int_equal(train_run(td, o, r, &err), IDIM_OK);
    o->resume = NULL;
    assert_int_equal(r->steps, full->steps);
    assert_int_equal(r->n_evals, full->n_evals);
    assert_memory_equal(r->epoch_metric, full->epoch_metric, sizeof r->epoch_metric);
    assert_memory_equal(r->epoch_loss, full->epoch_loss, sizeof r->epoch_loss);
    assert_memory_equal(r->eval_metric, full->eval_metric, sizeof r->eval_metric);
    assert_memory_equal(r->eval_step, full->eval_step, sizeof r->eval_step);
    assert_memory_equal(&r->best, &full->best, sizeof r->best);
    assert_int_equal(r->best_step, full->best_step);
}

/* A run resumed from a checkpoint taken at any step (also at an epoch
 * boundary, also after a mid-epoch evaluation) ends bit-identical to the
 * uninterrupted run, for every method and optimizer: subspace runs with
 * adamw (the old convention), with adamw-proj (the default: per-weight
 * moments, SAID's lambda moments), with sgd, and full fine-tuning (the
 * baseline), and with bucket batching (the order replays from the
 * checkpoint's shuffle generator); corrupt checkpoint fields are refused with their byte offset;
 * another run's checkpoint is refused. */
static void test_checkpoint_resume(void **st)
{
    (void)st;
    static const struct ckpt_case cases[] = {
        {TRAIN_DID, TRAIN_ADAMW, R_},      {TRAIN_SAID, TRAIN_ADAMW, R_},
        {TRAIN_DID, TRAIN_ADAMW_PROJ, R_}, {TRAIN_SAID, TRAIN_ADAMW_PROJ, R_},
        {TRAIN_DID, TRAIN_SGD, R_},        {TRAIN_FULL, TRAIN_ADAMW, R_},
        {TRAIN_DID, TRAIN_ADAMW_PROJ, TRAIN_BATCHING_BUCKET}};
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        struct train_data td;
        struct train_opts o;
        ckpt_setup(&td, &o, &cases[k]);
        struct train_result *full = calloc(1, sizeof *full), *r = calloc(1, sizeof *r);
        struct idim_err err = {{0}};
        assert_int_equal(train_run(&td, &o, full, &err), IDIM_OK);
        for (int at = 1; at <= 14; at += (k ? 3 : 1)) {
            struct ck_grab g = {0, at, NULL, 0, 0};
            o.ckpt_every_s = 1e-12; /* every step */
            o.ckpt_fn = grab_ckpt;
            o.ckpt_user = &g;
            assert_int_equal(train_run(&td, &o, r, &err), IDIM_OK);
            assert_non_null(g.buf);
            struct train_ckpt_id id;
            assert_int_equal(train_ckpt_parse(g.buf, g.len, "ck", 0, &id, &err), IDIM_OK);
            assert_int_equal(id.step, at - 1);
            o.ckpt_fn = NULL;
            resume_equals(&td, &o, &g, r, full);
            /* what each run keeps: the trained vector and its optimizer state */
            size_t D = full->n_params, nt = full->n_tensors;
            size_t n_theta = cases[k].mode == TRAIN_FULL ? D : o.d;
            assert_int_equal(id.n_theta, n_theta);
            assert_int_equal(id.n_mom, cases[k].opt == TRAIN_ADAMW_PROJ ? D
                                       : cases[k].opt == TRAIN_SGD     ? 0
                                                                       : n_theta);
            assert_int_equal(id.n_aux, cases[k].opt == TRAIN_ADAMW_PROJ &&
                                               cases[k].mode == TRAIN_SAID
                                           ? nt
                                           : 0);
            assert_int_equal(id.d, cases[k].mode == TRAIN_FULL ? 0 : o.d);
            if (at == 7 && k == 3) {
                /* the vector lengths of version 2: each refused when wrong */
                static const size_t offs[] = {13176, 13184, 13192, 13200};
                unsigned char *bad = malloc(g.len);
                for (size_t i = 0; i < 4; i++) {
                    memcpy(bad, g.buf, g.len);
                    bad[offs[i]] ^= 0x01;
                    assert_int_equal(train_ckpt_parse(bad, g.len, "ck", 0, NULL, &err),
                                     IDIM_ERR_FORMAT);
                    char at_s[32];
                    snprintf(at_s, sizeof at_s, "byte %zu", offs[i]);
                    if (!strstr(err.msg, at_s) && !strstr(err.msg, "byte 13176")) {
                        print_error("length at %zu: %s\n", offs[i], err.msg);
                        fail();
                    }
                }
                /* a negative second moment of a weight */
                memcpy(bad, g.buf, g.len);
                float neg = -1.0f;
                memcpy(bad + 13208 + 4 * (o.d + D), &neg, 4);
                assert_int_equal(train_ckpt_parse(bad, g.len, "ck", 0, NULL, &err),
                                 IDIM_ERR_FORMAT);
                assert_non_null(strstr(err.msg, "second moment"));
                free(bad);
                /* an adamw checkpoint does not resume an adamw-proj run */
                o.optimizer = TRAIN_ADAMW;
                o.resume = g.buf;
                o.resume_len = g.len;
                assert_int_equal(train_run(&td, &o, r, &err), IDIM_ERR_USAGE);
                assert_non_null(strstr(err.msg, "another run"));
                o.resume = NULL;
                o.optimizer = cases[k].opt;
            }
            if (at == 7 && k == 0) {
                /* corrupt fields: each refused, naming its byte */
                static const size_t offs[] = {8, 12, 16, 20, 40, 48, 64, 72, 76, 80, 120,
                                              176, 184, 240, 376, 4472, 12664};
                unsigned char *bad = malloc(g.len);
                for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
                    memcpy(bad, g.buf, g.len);
                    if (offs[i] == 80)
                        memset(bad + 80, 0, 32); /* all-zero generator */
                    else if (offs[i] == 176 || offs[i] == 240 || offs[i] == 48) {
                        double x = offs[i] == 240 ? 8.0 : -1.0; /* forged metric, bad sums */
                        memcpy(bad + offs[i], &x, 8);
                    } else
                        bad[offs[i] + (offs[i] == 12664 ? 300 : 0) +
                            (offs[i] == 20 || offs[i] == 72) + 7 * (offs[i] == 376)] ^= 0x40;
                    if (train_ckpt_parse(bad, g.len, "ck", 100, NULL, &err) != IDIM_ERR_FORMAT) {
                        print_error("offset %zu accepted\n", offs[i]);
                        fail();
                    }
                    char at_s[32];
                    snprintf(at_s, sizeof at_s, "byte %zu", 100 + offs[i] +
                                                                (offs[i] == 12664 ? 300 : 0));
                    if (!strstr(err.msg, at_s) && offs[i] != 40) {
                        print_error("offset %zu: %s\n", offs[i], err.msg);
                        fail();
                    }
                }
                memcpy(bad, g.buf, g.len);
                float nanv = NAN;
                memcpy(bad + g.len - 4, &nanv, 4); /* a NaN in best theta */
                assert_int_equal(train_ckpt_parse(bad, g.len, "ck", 0, NULL, &err),
                                 IDIM_ERR_FORMAT);
                assert_non_null(strstr(err.msg, "best theta"));
                assert_int_equal(train_ckpt_parse(bad, g.len - 1, "ck", 0, NULL, &err),
                                 IDIM_ERR_FORMAT);
                free(bad);
                /* another run (lr) refuses the checkpoint */
                o.lr *= 2;
                o.resume = g.buf;
                o.resume_len = g.len;
                assert_int_equal(train_run(&td, &o, r, &err), IDIM_ERR_USAGE);
                o.resume = NULL;
                o.lr /= 2;
            }
            free(g.buf);
        }
        /* Ctrl-C during the step after checkpoint `at` (steps at-1 and at:
         * also in the first step of an epoch): the step is dropped and the
         * same boundary is checkpointed again, its dropout generator as
         * before the step; resuming from it ends as the full run */
        for (int at = 3; at <= 7; at += 2) {
            struct ck_grab g = {0, -1, NULL, 0, at};
            o.ckpt_every_s = 1e-12;
            o.ckpt_fn = grab_ckpt;
            o.ckpt_user = &g;
            assert_int_equal(train_run(&td, &o, r, &err), IDIM_ERR_INTERRUPTED);
            idim_interrupted = 0;
            assert_int_equal(g.calls, at + 1);
            struct train_ckpt_id id;
            assert_int_equal(train_ckpt_parse(g.buf, g.len, "ck", 0, &id, &err), IDIM_OK);
            assert_int_equal(id.step, at - 1);
            o.ckpt_fn = NULL;
            resume_equals(&td, &o, &g, r, full);
            free(g.buf);
        }
        if (k == 2) {
            /* by steps: every 4 optimizer steps (steps 4, 8, 12 of 15) */
            struct ck_grab g = {0, 3, NULL, 0, 0};
            o.ckpt_every_s = 0;
            o.ckpt_every_steps = 4;
            o.ckpt_fn = grab_ckpt;
            o.ckpt_user = &g;
            assert_int_equal(train_run(&td, &o, r, &err), IDIM_OK);
            assert_int_equal(g.calls, 3);
            assert_int_equal(r->n_ckpts, 3);
            struct train_ckpt_id id;
            assert_int_equal(train_ckpt_parse(g.buf, g.len, "ck", 0, &id, &err), IDIM_OK);
            assert_int_equal(id.step, 12);
            free(g.buf);
            /* by time, with an interval far beyond the run: none */
            g = (struct ck_grab){0, 1, NULL, 0, 0};
            o.ckpt_every_steps = 0;
            o.ckpt_every_s = 1e6;
            assert_int_equal(train_run(&td, &o, r, &err), IDIM_OK);
            assert_int_equal(g.calls, 0);
            /* a checkpoint above ckpt_max_bytes: the run is not checkpointed */
            o.ckpt_every_s = 1e-12;
            o.ckpt_max_bytes = 1000;
            assert_int_equal(train_run(&td, &o, r, &err), IDIM_OK);
            assert_int_equal(g.calls, 0);
            assert_true(r->ckpt_skipped_bytes > 1000);
            o.ckpt_max_bytes = 0;
            /* Ctrl-C after each step, with checkpoints every 4 steps:
             * between two steps it checkpoints that step at once; when it
             * cuts short the evaluation that follows the step (not scored),
             * nothing new is saved and the last periodic checkpoint stands.
             * Either way resuming ends as the uninterrupted run. */
            o.ckpt_every_s = 0;
            o.ckpt_every_steps = 4;
            o.progress = interrupt_at;
            for (long at = 1; at < full->steps; at++) {
                int evaluated = 0;
                for (int e = 0; e < full->n_evals; e++)
                    evaluated |= full->eval_step[e] == at;
                /* the periodic checkpoint of step 4k is taken before step
                 * 4k + 1, after the evaluation that may follow step 4k */
                long want = evaluated ? (at - 1) / 4 * 4 : at;
                g = (struct ck_grab){0, -1, NULL, 0, 0};
                o.progress_user = &at;
                assert_int_equal(train_run(&td, &o, r, &err), IDIM_ERR_INTERRUPTED);
                idim_interrupted = 0;
                assert_int_equal(g.calls, (at - 1) / 4 + !evaluated);
                if (!want)
                    continue;
                assert_int_equal(train_ckpt_parse(g.buf, g.len, "ck", 0, &id, &err), IDIM_OK);
                assert_int_equal(id.step, want);
                o.progress = NULL;
                resume_equals(&td, &o, &g, r, full);
                o.progress = interrupt_at;
                free(g.buf);
            }
            o.progress = NULL;
            o.ckpt_fn = NULL;
            o.ckpt_every_steps = 0;
        }
        free(full);
        free(r);
        drop_data(&td);
    }
}

/* n rows of which a fifth are long (60..119 tokens), the rest short
 * (3..22): only off and max_len are filled (the order reads lengths only). */
static void skewed_split(struct encoded *e, size_t n, uint64_t seed)
{
    struct rng r;
    split_start(e, n, &r, seed);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        e->off[i] = k;
        int len = rng_below(&r, 5) == 0 ? 60 + (int)rng_below(&r, 60) : 3 + (int)rng_below(&r, 20);
        k += (size_t)len;
        e->max_len = len > e->max_len ? len : e->max_len;
    }
    e->off[n] = k;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Fewer rows than a batch, one batch, one batch and one row, and no rows: the
 * order is still a permutation under both rules, and the padding counts every
 * token (train_order and train_padding once crashed for n < B, where the
 * bucket rule had no full batch to shuffle). */
static void test_batching_small(void **st)
{
    (void)st;
    enum { B = 8 };
    static const size_t ns[] = {0, 1, B - 1, B, B + 1};
    for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
        size_t n = ns[t];
        struct train_data td;
        memset(&td, 0, sizeof td);
        skewed_split(&td.train, n, 11 + t);
        const struct encoded *e = &td.train;
        size_t *scratch = malloc((train_order_scratch(n, B, e) + 1) * sizeof *scratch);
        size_t *idx = malloc((n + 1) * sizeof *idx), *seen = calloc(n + 1, sizeof *seen);
        for (int m = 0; m < 2; m++) {
            struct rng g;
            rng_init(&g, 5);
            train_order(idx, n, B, m ? TRAIN_BATCHING_BUCKET : TRAIN_BATCHING_RANDOM, e, &g,
                        scratch);
            memset(seen, 0, (n + 1) * sizeof *seen);
            for (size_t i = 0; i < n; i++)
                seen[idx[i]]++;
            for (size_t i = 0; i < n; i++)
                assert_int_equal(seen[i], 1);
            struct train_opts o;
            train_opts_default(&o, TRAIN_DID);
            o.batch = B;
            o.batching = m ? TRAIN_BATCHING_BUCKET : TRAIN_BATCHING_RANDOM;
            uint64_t tok = 1, slots = 1;
            struct idim_err err = {{0}};
            if (n) {
                assert_int_equal(train_padding(&td, &o, 1, &tok, &slots, &err), IDIM_OK);
                assert_int_equal(tok, e->off[n]);
                assert_true(slots >= tok);
            }
        }
        free(scratch);
        free(idx);
        free(seen);
        free(td.train.off);
    }
}

/* --batching: each epoch's order is a permutation (every example once) for
 * both rules; bucket's last n % B examples are random's; its full batches
 * hold rows sorted by length; the padding train_padding counts is, for one
 * chunk, exactly the sorted lengths' (an independent qsort), and far below
 * random's on a skewed length distribution (several chunks); same seed, same
 * order. A bucket run differs from a random one and repeats bit for bit. */
static void test_batching(void **st)
{
    (void)st;
    enum { B = 8 };
    struct train_data td;
    memset(&td, 0, sizeof td);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: 1003 rows (3 chunks, 3 left over); pass 1: one chunk */
        size_t n = pass ? (size_t)TRAIN_BUCKET_CHUNK * B : 1003;
        skewed_split(&td.train, n, 7 + (uint64_t)pass);
        const struct encoded *e = &td.train;
        size_t *idx[2], *scratch = malloc(train_order_scratch(n, B, e) * sizeof *scratch);
        size_t *seen = malloc(n * sizeof *seen), *len = malloc(n * sizeof *len);
        struct rng g[2];
        for (int m = 0; m < 2; m++) {
            idx[m] = malloc(n * sizeof *idx[m]);
            rng_init(&g[m], 99);
        }
        for (int ep = 0; ep < 3; ep++) {
            for (int m = 0; m < 2; m++) {
                train_order(idx[m], n, B, m ? TRAIN_BATCHING_BUCKET : TRAIN_BATCHING_RANDOM, e,
                            &g[m], scratch);
                memset(seen, 0, n * sizeof *seen);
                for (size_t i = 0; i < n; i++)
                    seen[idx[m][i]]++;
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(seen[i], 1);
            }
            size_t full = n / B * B;
            if (ep == 0) /* the same shuffle: the same rows left over */
                assert_memory_equal(idx[0] + full, idx[1] + full, (n - full) * sizeof(size_t));
            for (size_t i = 0; i < full; i++)
                if (i % B)
                    assert_true(e->off[idx[1][i] + 1] - e->off[idx[1][i]] >=
                                e->off[idx[1][i - 1] + 1] - e->off[idx[1][i - 1]]);
        }
        /* the counted padding */
        struct train_opts o;
        train_opts_default(&o, TRAIN_DID);
        o.batch = B;
        uint64_t tok[2], slots[2], real = e->off[n];
        for (int m = 0; m < 2; m++) {
            o.batching = m ? TRAIN_BATCHING_BUCKET : TRAIN_BATCHING_RANDOM;
            struct idim_err err = {{0}};
            assert_int_equal(train_padding(&td, &o, 2, &tok[m], &slots[m], &err), IDIM_OK);
            assert_int_equal(tok[m], 2 * real);
        }
        if (pass) {
            for (size_t i = 0; i < n; i++)
                len[i] = e->off[i + 1] - e->off[i];
            qsort(len, n, sizeof *len, cmp_size);
            uint64_t want = 0;
            for (size_t i = B - 1; i < n; i += B)
                want += B * len[i];
            assert_int_equal(slots[1], 2 * want);
        } else {
            assert_true(4 * (slots[1] - tok[1]) < slots[0] - tok[0]);
        }
        /* the same seed gives the same order */
        struct rng g2;
        rng_init(&g2, 99);
        size_t *again = malloc(n * sizeof *again);
        train_order(again, n, B, TRAIN_BATCHING_BUCKET, e, &g2, scratch);
        rng_init(&g[1], 99);
        train_order(idx[1], n, B, TRAIN_BATCHING_BUCKET, e, &g[1], scratch);
        assert_memory_equal(again, idx[1], n * sizeof *again);
        free(again);
        for (int m = 0; m < 2; m++)
            free(idx[m]);
        free(scratch);
        free(seen);
        free(len);
        free(td.train.off);
        memset(&td.train, 0, sizeof td.train);
    }
    /* training: bucket draws other batches than random, and repeats */
    struct train_opts o;
    struct ckpt_case c = {TRAIN_DID, TRAIN_ADAMW_PROJ, TRAIN_BATCHING_RANDOM};
    ckpt_setup(&td, &o, &c);
    struct train_result *r[3];
    struct idim_err err = {{0}};
    for (int i = 0; i < 3; i++) {
        r[i] = calloc(1, sizeof *r[i]);
        o.batching = i ? TRAIN_BATCHING_BUCKET : TRAIN_BATCHING_RANDOM;
        assert_int_equal(train_run(&td, &o, r[i], &err), IDIM_OK);
    }
    assert_true(memcmp(r[0]->epoch_loss, r[1]->epoch_loss, sizeof r[0]->epoch_loss) != 0);
    assert_memory_equal(r[1]->epoch_loss, r[2]->epoch_loss, sizeof r[1]->epoch_loss);
    assert_memory_equal(r[1]->eval_metric, r[2]->eval_metric, sizeof r[1]->eval_metric);
    for (int i = 0; i < 3; i++)
        free(r[i]);
    drop_data(&td);
}

static void on_alarm(int sig)
{
    (void)sig;
    idim_interrupted = 1;
}

/* Ctrl-C at 40 moments spread over a run, from a timer signal, so that it
 * also lands inside the forward and backward passes, the projection and the
 * optimizer update (which must not stop part-way: a checkpoint would save a
 * half step); only Ctrl-C checkpoints (the interval is far away). Wherever
 * it lands, resuming from the checkpoint it left ends as the uninterrupted
 * run, bit for bit. Which code each moment hits depends on the machine, so
 * this test cannot fail when the code is right, and fails on most runs when
 * a part of the step can be cut short unnoticed. */
static void test_interrupt_anywhere(void **st)
{
    (void)st;
    static const struct ckpt_case cases[] = {
        {TRAIN_DID, TRAIN_ADAMW_PROJ, R_},
        {TRAIN_SAID, TRAIN_ADAMW_PROJ, R_},
        {TRAIN_FULL, TRAIN_ADAMW, R_}};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    for (int k = 0; k < 3; k++) {
        struct train_data td;
        struct train_opts o;
        ckpt_setup(&td, &o, &cases[k]);
        struct train_result *full = calloc(1, sizeof *full), *r = calloc(1, sizeof *r);
        struct idim_err err = {{0}};
        double dur = 1e9;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(train_run(&td, &o, full, &err), IDIM_OK);
            dur = full->seconds < dur ? full->seconds : dur;
        }
        for (int i = 0; i < 40; i++) {
            struct ck_grab g = {0, -1, NULL, 0, 0};
            o.ckpt_every_s = 1e6;
            o.ckpt_fn = grab_ckpt;
            o.ckpt_user = &g;
            long us = (long)(dur * 1e6 * (i + 0.5) / 40) + 1;
            struct itimerval it = {{0, 0}, {us / 1000000, us % 1000000}}, off = {{0, 0}, {0, 0}};
            assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
            enum idim_status rs = train_run(&td, &o, r, &err);
            setitimer(ITIMER_REAL, &off, NULL);
            idim_interrupted = 0;
            o.ckpt_fn = NULL;
            assert_true(rs == IDIM_OK || rs == IDIM_ERR_INTERRUPTED);
            if (rs == IDIM_ERR_INTERRUPTED && g.buf)
                resume_equals(&td, &o, &g, r, full);
            free(g.buf);
        }
        free(full);
        free(r);
        drop_data(&td);
    }
    sigaction(SIGALRM, &old, NULL);
}

/* The memory estimate counts the mapped model file (its size) and the
 * tokenized splits (offsets, ids, type ids and labels of both), so it
 * grows by exactly those bytes when they are there (issue 12). */
static uint64_t parts_sum(const struct memguard_part *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i].bytes;
    return s;
}

static void test_memory_parts(void **state)
{
    (void)state;
    struct model m;
    make_model(&m);
    struct train_data td, empty;
    make_data(&td);
    memset(&empty, 0, sizeof empty);
    empty.cfg = td.cfg;
    struct train_opts o;
    short_opts(&o, TRAIN_DID);
    struct memguard_part a[TRAIN_MEM_PARTS], b[TRAIN_MEM_PARTS];
    char wa[96], wb[96];
    assert_int_equal(train_memory_parts(&m, &empty, &o, 1, a, wa, sizeof wa), TRAIN_MEM_PARTS);
    assert_int_equal(train_memory_parts(&m, &td, &o, 1, b, wb, sizeof wb), TRAIN_MEM_PARTS);
    /* 40 + 20 rows of the toy splits: offsets n + 1, labels n, two ids a token */
    size_t want = 0;
    const struct encoded *sp[2] = {&td.train, &td.dev};
    for (int k = 0; k < 2; k++)
        want += (sp[k]->n + 1) * sizeof(size_t) + sp[k]->n * sizeof(int32_t) +
                sp[k]->off[sp[k]->n] * 2 * sizeof(int32_t);
    printf("  tokenized splits: %zu bytes (%zu + %zu tokens)\n", want, td.train.off[td.train.n],
           td.dev.off[td.dev.n]);
    assert_true(want > 60 * 8);
    assert_int_equal(parts_sum(b, TRAIN_MEM_PARTS) - parts_sum(a, TRAIN_MEM_PARTS), want);
    /* a model file of 12345 bytes mapped: the estimate grows by its size
     * (less the copy of the weights a run without a file keeps) */
    td.have_file = 1;
    td.w.file_bytes = 12345;
    assert_int_equal(train_memory_parts(&m, &td, &o, 1, a, wa, sizeof wa), TRAIN_MEM_PARTS);
    assert_int_equal(parts_sum(a, TRAIN_MEM_PARTS) - parts_sum(b, TRAIN_MEM_PARTS),
                     12345 - m.n_params * sizeof(float));
    td.have_file = 0;
    drop_data(&td);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_did_tensor),  cmocka_unit_test(test_fd_did_global),
        cmocka_unit_test(test_fd_said_tensor), cmocka_unit_test(test_fd_said_global),
        cmocka_unit_test(test_step0_exact),    cmocka_unit_test(test_said_too_small),
        cmocka_unit_test(test_adamw_hand),     cmocka_unit_test(test_adamw_long), cmocka_unit_test(test_adam_direction_long),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_determinism),    cmocka_unit_test(test_theta_roundtrip),
        cmocka_unit_test(test_diverged),      cmocka_unit_test(test_hopeless_rule),
        cmocka_unit_test(test_early_stop_run), cmocka_unit_test(test_interrupt_anywhere),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_memory_parts), cmocka_unit_test(test_batching), cmocka_unit_test(test_batching_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
