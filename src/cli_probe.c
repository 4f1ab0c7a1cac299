/* cli_probe.c - shared parts of `idim measure` and `idim sweep`: options,
 * loading once, the train_run adapter for the search, the baseline. */
#include "cli_probe.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "scheduler.h"

/* why a baseline must be positive */
#define BASELINE_WHY "d90 is the smallest d reaching threshold x baseline, which every d reaches " \
    "when the baseline is 0 or less"

double probe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double probe_majority(const struct probe_ctx *c)
{
    size_t n = c->td.dev.n;
    if (c->args->limit_dev > 0 && (size_t)c->args->limit_dev < n)
        n = (size_t)c->args->limit_dev;
    int32_t *pred = calloc(n ? n : 1, sizeof *pred);
    float *score = calloc(n ? n : 1, sizeof *score);
    double maj = NAN;
    if (pred && score && n) {
        struct metrics met;
        task_score(&c->td.spec, c->td.dev.labels, c->td.dev.targets, pred,
                   c->td.spec.n_labels == 1 ? score : NULL, n, &met);
        maj = met.majority_primary;
    }
    free(pred);
    free(score);
    return maj;
}

void probe_args_default(struct probe_args *a)
{
    memset(a, 0, sizeof *a);
    a->mode = TRAIN_SAID;
    a->scope = FF_SCOPE_TENSOR;
    struct train_opts def;
    train_opts_default(&def, TRAIN_SAID);
    a->projection = def.projection;
    a->lr_rule = def.lr_rule;
    a->optimizer = def.optimizer;
    a->n_lr = 1;
    a->lr[0] = 3e-3; /* as idim train: see train_opts_default */
    a->n_baseline_lr = 3;
    a->baseline_lr[0] = 2e-5;
    a->baseline_lr[1] = 3e-5;
    a->baseline_lr[2] = 5e-5;
    a->baseline = NAN;
    a->threshold = 0.9;
    a->epochs = 0;
    a->baseline_epochs = 0; /* auto: 3, one on large tasks (train_epochs) */
    a->batch = 32;
    a->max_len = 0; /* 128, or the model's maximum when smaller */
    a->seed = 42;
    a->proj_seed = 1234;
    a->ckpt_every.seconds = 5;
}

enum idim_status probe_opt_method(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    struct probe_args *a = o->target;
    if (!strcmp(arg, "said"))
        a->mode = TRAIN_SAID;
    else if (!strcmp(arg, "did"))
        a->mode = TRAIN_DID;
    else
        return idim_fail(err, IDIM_ERR_USAGE, "--method takes said or did, not '%s'", arg);
    return IDIM_OK;
}

enum idim_status probe_opt_scope(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    struct probe_args *a = o->target;
    if (!strcmp(arg, "tensor"))
        a->scope = FF_SCOPE_TENSOR;
    else if (!strcmp(arg, "global"))
        a->scope = FF_SCOPE_GLOBAL;
    else
        return idim_fail(err, IDIM_ERR_USAGE, "--scope takes tensor or global, not '%s'", arg);
    return IDIM_OK;
}

enum idim_status probe_opt_projection(const struct cli_opt *o, const char *arg,
                                      struct idim_err *err)
{
    struct probe_args *a = o->target;
    if (proj_kind_parse(arg, &a->projection))
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--projection takes fastfood, dense or identity, not '%s'", arg);
    return IDIM_OK;
}

enum idim_status probe_opt_optimizer(const struct cli_opt *o, const char *arg,
                                     struct idim_err *err)
{
    struct probe_args *a = o->target;
    if (!strcmp(arg, "adamw"))
        a->optimizer = TRAIN_ADAMW;
    else if (!strcmp(arg, "adamw-proj"))
        a->optimizer = TRAIN_ADAMW_PROJ;
    else
        return idim_fail(err, IDIM_ERR_USAGE, "--optimizer takes adamw-proj or adamw, not '%s'",
                         arg);
    return IDIM_OK;
}

enum idim_status probe_opt_lr_rule(const struct cli_opt *o, const char *arg,
                                   struct idim_err *err)
{
    struct probe_args *a = o->target;
    if (train_lr_rule_parse(arg, &a->lr_rule))
        return idim_fail(err, IDIM_ERR_USAGE, "--lr-rule takes weight, fixed or sqrt, not '%s'",
                         arg);
    return IDIM_OK;
}

enum idim_status probe_opt_lr(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    struct probe_args *a = o->target;
    return cli_parse_list("--lr", arg, 1e-12, 1e3, a->lr, SEARCH_MAX_LR, &a->n_lr, err);
}

enum idim_status probe_opt_baseline_lr(const struct cli_opt *o, const char *arg,
                                       struct idim_err *err)
{
    struct probe_args *a = o->target;
    return cli_parse_list("--baseline-lr", arg, 1e-12, 1e3, a->baseline_lr, SEARCH_MAX_LR,
                          &a->n_baseline_lr, err);
}

enum idim_status probe_opt_ckpt_every(const struct cli_opt *o, const char *arg,
                                      struct idim_err *err)
{
    struct probe_args *a = o->target;
    return cli_parse_every("--checkpoint-every", arg, 0, &a->ckpt_every, err);
}

enum idim_status probe_opt_baseline(const struct cli_opt *o, const char *arg,
                                    struct idim_err *err)
{
    struct probe_args *a = o->target;
    enum idim_status st = cli_parse_double("--baseline", arg, -1e9, 1e9, &a->baseline, err);
    if (st == IDIM_OK && !(a->baseline > 0 && a->baseline <= 1))
        st = idim_fail(err, IDIM_ERR_USAGE,
                       "--baseline takes the baseline dev metric, a number above 0 and at "
                       "most 1, not '%s' (%s)", arg, BASELINE_WHY);
    return st;
}

void probe_ctx_free(struct probe_ctx *c)
{
    train_data_free(&c->td);
}

enum idim_status probe_ctx_open(struct probe_ctx *c, struct probe_args *a, struct idim_err *err)
{
    memset(c, 0, sizeof *c);
    c->args = a;
    c->t_proc = probe_now();
    enum idim_status st = cli_train_data_load(&c->td, a->model, &a->t, a->max_len,
                                              a->limit_train, a->limit_dev, NULL, NULL, err);
    if (st)
        return st;
    /* The split files' checksums, for the report (train_data keeps only
     * the tokenized rows). */
    const char *splits[2] = {"train", "dev"};
    for (int i = 0; i < 2; i++) {
        struct dataset ds;
        memset(&ds, 0, sizeof ds);
        st = task_load(&ds, &c->td.spec, splits[i], err);
        if (st) {
            probe_ctx_free(c);
            return st;
        }
        snprintf(i ? c->dev_sha : c->train_sha, 65, "%s", ds.sha256);
        snprintf(i ? c->dev_path : c->train_path, 1024, "%s", ds.path);
        dataset_free(&ds);
    }
    c->metric = metric_name(c->td.spec.metric);
    c->n_tensors = arch_tensors(&c->td.cfg, ARCH_TABLE_MODEL, c->td.spec.n_labels, NULL, 0);
    c->n_params = arch_n_params(&c->td.cfg, ARCH_TABLE_MODEL, c->td.spec.n_labels);
    c->threads = a->threads;
    if (c->threads <= 0) {
        /* default threads per run: the cores split between the slots; under
         * an MPI launcher the slots' cores are not ours to count: what
         * Slurm gave each task, else 1 */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        const char *slurm = getenv("SLURM_CPUS_PER_TASK");
        if (sched_mpi_env_size() > 1)
            c->threads = slurm && atoi(slurm) > 0 ? atoi(slurm) : 1;
        else
            c->threads = (int)(cores / (a->jobs > 1 ? a->jobs : 1));
    }
    if (c->threads < 1)
        c->threads = 1;
    train_opts_default(&c->full, TRAIN_FULL);
    train_opts_default(&c->sub, a->mode);
    struct train_opts *o[2] = {&c->full, &c->sub};
    for (int i = 0; i < 2; i++) {
        o[i]->batch = a->batch;
        o[i]->batching = a->batching;
        o[i]->seed = a->seed;
        o[i]->threads = c->threads;
    }
    c->full.epochs = a->baseline_epochs;
    c->sub.epochs = a->epochs;
    c->sub.scope = a->scope;
    c->sub.early_stop = !a->no_early_stop;
    c->target = NAN;
    if (a->eval_every > 0) {
        c->sub.eval_every = a->eval_every;
    } else { /* auto: sqrt(evaluation cost x schedule) (docs/MEASURE.md has the measurement) */
        size_t n = c->td.train.n, n_dev = c->td.dev.n;
        if (a->limit_train > 0 && (size_t)a->limit_train < n)
            n = (size_t)a->limit_train;
        if (a->limit_dev > 0 && (size_t)a->limit_dev < n_dev)
            n_dev = (size_t)a->limit_dev;
        long spe = (long)((n + (size_t)a->batch - 1) / (size_t)a->batch);
        c->sub.eval_every = train_auto_eval_every(spe, spe * train_epochs(&c->sub, c->td.spec.name),
                                                  n_dev, a->batch);
    }
    c->tty = cli_stderr_is_tty();
    c->progress = !a->quiet;
    c->t0 = probe_now();
    c->n_lr = a->n_lr;
    c->n_seeds = 1;
    c->sub.projection = a->projection;
    c->sub.lr_rule = a->lr_rule;
    c->sub.optimizer = a->optimizer;
    return IDIM_OK;
}

/* train_opts.ckpt_fn: the run's checkpoint goes into the state file. */
static enum idim_status probe_ckpt(void *user, const unsigned char *ckpt, size_t len,
                                   struct idim_err *err)
{
    return search_state_set_ckpt(user, ckpt, len, err);
}

static void fmt_time(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || !isfinite(s))
        snprintf(buf, cap, "?");
    else if (s < 3600)
        snprintf(buf, cap, "%d:%02d", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02d", (int)(s / 3600), (int)(s / 60) % 60);
}

/* Probes the search still needs after the current one, at least and at
 * most, from what the finished probes of this seed say (a probe is met when
 * any of its runs met the target): bisection between the largest failing and
 * the smallest meeting d to --precision, and before a meeting d is known, the
 * doubling steps left up to --dmax (a gallop that met first: the steps down
 * to --dmin). */
static void probes_left(const struct probe_ctx *c, uint64_t seed, long cur, int *lo_n, int *hi_n)
{
    long lo = 0, hi = 0;
    const struct search_state *st = c->state;
    for (size_t i = 0; st && i < st->n; i++) {
        const struct search_trial *t = &st->trials[i];
        if (t->seed != seed || t->d == 0)
            continue;
        if (search_trial_meets(t, c->target)) {
            if (!hi || t->d < hi)
                hi = t->d;
        } else if (t->d > lo) {
            lo = t->d;
        }
    }
    double pr = c->precision > 1 ? c->precision : 1.1;
    int bis2 = (int)ceil(log2(log(2.0) / log(pr))); /* after a doubling bracket */
    if (bis2 < 0)
        bis2 = 0;
    if (hi && lo && lo < hi) {
        int n = (double)hi / (double)lo > pr ? (int)ceil(log2(log((double)hi / lo) / log(pr))) : 0;
        *hi_n = n > 0 ? n - 1 : 0;
        *lo_n = *hi_n > 0 ? *hi_n - 1 : 0;
        return;
    }
    int up = 0;
    if (hi) /* the gallop met first: the walk down to dmin at most */
        for (long d = hi; d > c->dmin; d /= 2)
            up++;
    else
        for (long d = cur; d < c->dmax; d = d > c->dmax / 2 ? c->dmax : 2 * d)
            up++;
    *lo_n = bis2 > 0 ? bis2 - 1 : 0;
    *hi_n = up + bis2;
}

/* train_opts.progress for measure and sweep: one live line on a terminal,
 * a plain line every PROBE_PLAIN_EVERY seconds otherwise. */
static void probe_progress(const struct train_progress *p, void *user)
{
    struct probe_ctx *c = user;
    double now = probe_now();
    if (now - c->t_line < (c->tty ? 0.2 : PROBE_PLAIN_EVERY))
        return;
    c->t_line = now;
    char el[16], left[16], lo_s[16], hi_s[16], buf[400];
    fmt_time(el, sizeof el, now - c->t0);
    fmt_time(left, sizeof left, p->eta_s);
    char what[32];
    if (c->cur_d)
        snprintf(what, sizeof what, "d=%ld", c->cur_d);
    else
        snprintf(what, sizeof what, "baseline");
    int n = snprintf(buf, sizeof buf, "idim: %s lr=%g epoch %d/%d step %ld/%ld", what,
                     c->cur_lr, p->epoch, p->epochs, p->step, p->steps);
    if (n > 0 && (size_t)n < sizeof buf && isfinite(p->best))
        n += snprintf(buf + n, sizeof buf - (size_t)n, " dev %.4f%s%.4f", p->best,
                      isfinite(c->target) && c->cur_d ? " vs target > " : "",
                      isfinite(c->target) && c->cur_d ? c->target : p->best);
    if (n > 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " | runs done %zu | %s elapsed | run %s left",
                      c->state ? c->state->n : 0, el, left);
    if (c->dmax > 0 && c->cur_d > 0 && isfinite(c->target) && n > 0 && (size_t)n < sizeof buf) {
        /* honest range: the fewest probes left, each as short as the
         * shortest run so far; the most, each a full run */
        int a = 0, b = 0;
        probes_left(c, c->cur_seed, c->cur_d, &a, &b);
        double full = p->step > 0 ? (p->eta_s + (now - c->t_run)) : NAN;
        double shortest = full;
        for (size_t i = 0; c->state && i < c->state->n; i++)
            if (c->state->trials[i].d > 0 && c->state->trials[i].seconds < shortest)
                shortest = c->state->trials[i].seconds;
        fmt_time(lo_s, sizeof lo_s, p->eta_s * 0 + a * shortest);
        fmt_time(hi_s, sizeof hi_s, p->eta_s + b * c->n_lr * full +
                                        (c->n_seeds - c->seed_index - 1) * (b + 8) * full);
        n += snprintf(buf + n, sizeof buf - (size_t)n, " | search %s to %s left (%d-%d probes)",
                      lo_s, hi_s, a, b);
    }
    if (c->tty)
        fprintf(stderr, "\r\033[K%s", buf);
    else
        fprintf(stderr, "%s\n", buf);
    fflush(stderr);
}

enum idim_status probe_trial(void *ctx, long d, double lr, uint64_t seed, struct search_trial *out,
                             struct idim_err *err)
{
    struct probe_ctx *c = ctx;
    struct train_opts o = d == 0 ? c->full : c->sub;
    o.lr = lr;
    if (d > 0) {
        o.d = (size_t)d;
        o.proj_seed = seed;
        o.target = c->target;
    }
    c->cur_d = d;
    c->cur_lr = lr;
    c->cur_seed = seed;
    c->t_run = probe_now();
    if (c->progress) {
        o.progress = probe_progress;
        o.progress_user = c;
    }
    struct train_result *r = calloc(1, sizeof *r);
    if (!r)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    if (c->state && c->state->path[0]) {
        /* the baseline (d = 0, full fine-tuning) is checkpointed like a probe */
        o.ckpt_every_s = c->args->ckpt_every.seconds;
        o.ckpt_every_steps = c->args->ckpt_every.steps;
        o.ckpt_fn = probe_ckpt;
        o.ckpt_user = c->state;
        o.ckpt_max_bytes = SEARCH_STATE_MAX_BYTES / 2;
        /* the state on disk dates from the last write of this process, or
         * (resumed, nothing written yet) from its start */
        o.ckpt_t0 = c->state->saved_at > 0 ? c->state->saved_at : c->t_proc;
        struct train_ckpt_id id;
        struct idim_err e2;
        if (c->state->ckpt &&
            train_ckpt_parse(c->state->ckpt, c->state->ckpt_len, "checkpoint", 0, &id, &e2) ==
                IDIM_OK &&
            id.proj_seed == (d ? seed : 0) && id.d == (size_t)d && id.lr == lr &&
            (id.mode == (int)TRAIN_FULL) == (d == 0)) {
            o.resume = c->state->ckpt;
            o.resume_len = c->state->ckpt_len;
            if (!c->args->quiet)
                fprintf(stderr, "idim: resuming %s%.0ld lr=%g at step %ld of %ld%s\n",
                        d ? "d=" : "baseline", d, lr, id.step, id.total,
                        id.threads != c->threads
                            ? " (written with another thread count: the last bits may differ)"
                            : "");
        }
    }
    enum idim_status st = train_run(&c->td, &o, r, err);
    if (r->ckpt_skipped_bytes && !c->args->quiet)
        fprintf(stderr,
                "%sidim: note: %s%.0ld was not checkpointed: its state (%.0f MiB) is above the "
                "state file's %.0f MiB share; only finished runs are kept\n",
                c->tty ? "\r\033[K" : "", d ? "d=" : "the baseline", d,
                (double)r->ckpt_skipped_bytes / 1048576.0,
                (double)o.ckpt_max_bytes / 1048576.0);
    if (st == IDIM_OK) {
        out->metric = r->best;
        out->epochs = r->n_epochs;
        out->seconds = r->seconds;
        out->diverged = r->diverged != 0;
        out->majority_only = r->majority_only != 0;
        out->outcome = (int)r->outcome;
        out->steps = r->steps;
        out->total_steps = r->total_steps;
        out->met_step = r->met_step;
        out->hopeless_step = r->hopeless_step;
        out->n_curve = r->n_epochs < SEARCH_MAX_CURVE ? r->n_epochs : SEARCH_MAX_CURVE;
        for (int e = 0; e < out->n_curve; e++) {
            out->loss_curve[e] = (float)r->epoch_loss[e];
            out->metric_curve[e] = (float)r->epoch_metric[e];
        }
        if (c->progress)
            fprintf(stderr, "%sidim: %s%.0ld lr=%g: %s %.4f, %s at step %ld of %ld (%.1f s)%s\n",
                    c->tty ? "\r\033[K" : "", d ? "d=" : "baseline", d, lr, c->metric,
                    r->best, train_outcome_name(r->outcome), r->steps, r->total_steps,
                    r->seconds, r->majority_only ? " majority class only" : "");
    }
    free(r);
    return st;
}

enum idim_status probe_spec_trial(void *ctx, const struct sched_spec *sp, struct search_trial *out,
                                  struct idim_err *err)
{
    struct probe_ctx *c = ctx;
    c->target = sp->target;
    return probe_trial(ctx, sp->d, sp->lr, sp->seed, out, err);
}

void probe_state_key(const struct probe_ctx *c, const char *cmd, char *key, size_t cap)
{
    const struct probe_args *a = c->args;
    /* the schedules that ran: auto epochs as the number they stood for, so a
     * state of the old auto rule (3 epochs on large tasks) is refused; 0 where
     * auto still means what it meant (20 subspace epochs on small tasks), so
     * those state files stay valid */
    int ep = train_epochs(&c->sub, c->td.spec.name);
    if (!a->epochs && ep == 20)
        ep = 0;
    int base_ep = train_epochs(&c->full, c->td.spec.name);
    int n = snprintf(key, cap,
                     "%s task=%s model=%s train=%.16s dev=%.16s method=%s scope=%s epochs=%d "
                     "baseline-epochs=%d batch=%d max-len=%d limit-train=%ld limit-dev=%ld "
                     "seed=%llu eval-every=%ld early-stop=%d",
                     cmd, c->td.spec.name, c->td.checksum_hex, c->train_sha, c->dev_sha,
                     train_mode_name(a->mode), a->scope == FF_SCOPE_GLOBAL ? "global" : "tensor",
                     ep, base_ep, a->batch, c->td.max_len, a->limit_train,
                     a->limit_dev, (unsigned long long)a->seed, c->sub.eval_every,
                     c->sub.early_stop);
    /* issue 15's options, only when not the defaults: old state files stay valid */
    struct train_opts def;
    train_opts_default(&def, a->mode);
    if (n > 0 && (size_t)n < cap &&
        (a->projection != def.projection || a->lr_rule != def.lr_rule ||
         a->optimizer != def.optimizer))
        n += snprintf(key + n, cap - (size_t)n, " projection=%s lr-rule=%s optimizer=%s",
                      proj_kind_name(a->projection), train_lr_rule_name(a->lr_rule),
                      train_optim_name(a->optimizer));
    /* bucket batching draws other batches; random keeps old state files valid */
    if (a->batching != TRAIN_BATCHING_RANDOM && n > 0 && (size_t)n < cap)
        n += snprintf(key + n, cap - (size_t)n, " batching=%s", train_batching_name(a->batching));
        /* a custom task: the same files read with other columns is another task */
    if (!strcmp(c->td.spec.name, "custom") && n > 0 && (size_t)n < cap)
        snprintf(key + n, cap - (size_t)n, " text-cols=%s label-col=%s format=%s metric=%s",
                 a->t.text_cols ? a->t.text_cols : "", a->t.label_col ? a->t.label_col : "",
                 a->t.format ? a->t.format : "", metric_name(c->td.spec.metric));
}

static enum idim_status baseline_from_file(const char *path, double *value, struct idim_err *err)
{
    char *buf;
    size_t n;
    /* `idim finetune --out` or a measure report: a few kilobytes */
    enum idim_status rs = fileio_read_limit(path, (size_t)64 << 20, &buf, &n, err);
    if (rs)
        return rs;
    if (n == 0) {
        free(buf);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: empty file", path);
    }
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: not valid JSON", path);
    /* `idim finetune --out`: "best"; a measure report: "baseline": {"value"}. */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "best");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "baseline");
    if (!cJSON_IsNumber(v) && cJSON_IsObject(b))
        v = cJSON_GetObjectItemCaseSensitive(b, "value");
    if (!cJSON_IsNumber(v) && cJSON_IsNumber(b))
        v = b;
    enum idim_status st = IDIM_OK;
    if (!cJSON_IsNumber(v))
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: no baseline metric (expected a number in \"best\", as "
                       "`idim finetune --out` writes)",
                       path);
    else if (!(v->valuedouble > 0 && v->valuedouble <= 1))
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: baseline %g: expected a metric above 0 and at "
                       "most 1 (%s)", path, v->valuedouble, BASELINE_WHY);
    else
        *value = v->valuedouble;
    cJSON_Delete(j);
    return st;
}

int probe_baseline_trains(const struct probe_args *a)
{
    return !isfinite(a->baseline) && !a->baseline_from;
}

void probe_baseline_config(const struct probe_args *a, struct search_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 0;
    cfg->target = INFINITY;
    cfg->n_lr = a->n_baseline_lr;
    memcpy(cfg->lr, a->baseline_lr, sizeof cfg->lr);
}

enum idim_status probe_run_parallel(struct sched *sc, sched_plan_fn plan, void *plan_ctx,
                                    struct search_state *st, struct search_state *old,
                                    search_trial_fn *fn, void **fn_ctx,
                                    struct search_state **rst, struct idim_err *err)
{
    size_t n_old = st->n;
    enum idim_status s = sched_run(sc, plan, plan_ctx, st, err);
    if (s == IDIM_OK)
        s = search_state_open(old, NULL, st->key, st->threads, err);
    for (size_t i = 0; s == IDIM_OK && i < n_old; i++)
        s = search_state_add(old, &st->trials[i], err);
    if (s)
        return s;
    *fn = sched_lookup_trial;
    *fn_ctx = st;
    *rst = old;
    return IDIM_OK;
}

enum idim_status probe_baseline(struct probe_ctx *c, struct search_state *st, search_trial_fn fn,
                                void *fn_ctx, double *value, char *source, size_t source_cap,
                                struct search_trial *trials, size_t *n_trials,
                                struct idim_err *err)
{
    const struct probe_args *a = c->args;
    *n_trials = 0;
    if (isfinite(a->baseline)) {
        *value = a->baseline;
        snprintf(source, source_cap, "given");
        return IDIM_OK;
    }
    if (a->baseline_from) {
        snprintf(source, source_cap, "file:%s", a->baseline_from);
        return baseline_from_file(a->baseline_from, value, err);
    }
    struct search_config cfg;
    probe_baseline_config(a, &cfg);
    struct search_probe p;
    enum idim_status s = search_probe_d(&cfg, 0, fn, fn_ctx, st, &p, err);
    if (s)
        return s;
    for (int i = 0; i < cfg.n_lr; i++) {
        const struct search_trial *t = search_state_find(st, 0, 0, cfg.lr[i]);
        if (t)
            trials[(*n_trials)++] = *t;
    }
    *value = p.best.metric;
    snprintf(source, source_cap, "finetune");
    if (!isfinite(*value))
        return idim_fail(err, IDIM_ERR_DIVERGED,
                         "baseline: every full fine-tuning run diverged (lr grid %g..%g); "
                         "try a smaller --baseline-lr",
                         cfg.lr[0], cfg.lr[cfg.n_lr - 1]);
    if (*value <= 0)
        return idim_fail(err, IDIM_ERR_DIVERGED,
                         "baseline: full fine-tuning reached %g, no better than chance (%s); "
                         "train longer (--baseline-epochs) or give --baseline", *value,
                         BASELINE_WHY);
    return IDIM_OK;
}

enum idim_status probe_check_writable(const char *path, const char *opt, struct idim_err *err)
{
    if (!path)
        return IDIM_OK;
    struct idim_err why;
    enum idim_status st = fileio_out_check(path, &why);
    if (st)
        return idim_fail(err, st, "%s %.480s", opt, why.msg);
    return IDIM_OK;
}

enum idim_status probe_run_open(struct probe_run *r, struct probe_args *a, const char *out,
                                const char *plot, struct idim_err *err)
{
    memset(r, 0, sizeof *r);
    r->fn = probe_trial;
    r->fn_ctx = &r->ctx;
    r->rst = &r->state;
    enum idim_status st;
    if ((st = probe_check_writable(out, "--out", err)) ||
        (st = probe_check_writable(plot, "--plot", err)) ||
        (st = probe_ctx_open(&r->ctx, a, err)))
        return st;
    r->ctx_open = 1;
    return sched_start(&r->sc, a->jobs, r->ctx.threads, probe_spec_trial, &r->ctx, err);
}

enum idim_status probe_run_state(struct probe_run *r, const char *cmd, const char *path,
                                 struct idim_err *err)
{
    char key[SEARCH_KEY_MAX];
    probe_state_key(&r->ctx, cmd, key, sizeof key);
    enum idim_status st = search_state_open(&r->state, path, key, r->ctx.threads, err);
    if (st)
        return st;
    r->ctx.state = &r->state;
    return IDIM_OK;
}

void probe_run_free(struct probe_run *r)
{
    sched_stop(&r->sc);
    search_state_free(&r->old);
    search_state_free(&r->state);
    if (r->ctx_open)
        probe_ctx_free(&r->ctx);
    r->ctx_open = 0;
}

enum idim_status probe_write_plot(const char *path, const struct report_plot *p,
                                  const char *what, struct idim_err *err)
{
    char *svg = report_svg(p);
    if (!svg)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: no %s with a finite metric to plot", path,
                         what);
    enum idim_status st = report_write_file(path, svg, strlen(svg), err);
    free(svg);
    return st;
}
