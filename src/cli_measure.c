/* cli_measure.c - `idim measure`: the baseline, then the d90 search
 * (bracket + log-space bisection, include/search.h) for each projection
 * seed; JSON report, human summary, optional SVG plot; resumable state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_probe.h"
#include "report.h"
#include "scheduler.h"
#include "search.h"

#ifndef IDIM_VERSION
#define IDIM_VERSION "0.0.0"
#endif

/* The search of projection seed number i (target filled in by the caller). */
static void measure_config(struct search_config *cfg, const struct probe_args *a, long dmin,
                           long dmax, double precision, long i, int bracket)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->dmin = dmin;
    cfg->dmax = dmax;
    cfg->precision = precision;
    cfg->seed = a->proj_seed + (uint64_t)i;
    cfg->n_lr = a->n_lr;
    memcpy(cfg->lr, a->lr, sizeof cfg->lr);
    cfg->early_stop = !a->no_early_stop;
    cfg->bracket = bracket;
}

/* Seconds per step of a run with options o, *setup_s the run's fixed cost
 * (projection tables, buffers, the first steps' page faults), *eval_s one dev
 * evaluation. Two runs of different lengths, so the setup is not spread over
 * the steps: timing 5 steps with the setup doubled the estimate of a tiny model's SST-2 step. */
static enum idim_status time_steps(struct probe_ctx *c, struct train_opts o, long spe,
                                   double *step_s, double *setup_s, double *eval_s,
                                   struct idim_err *err)
{
    struct train_result *r = calloc(1, sizeof *r);
    if (!r)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    long n[2] = {spe < 5 ? spe : 5, spe < 25 ? spe : 25};
    double t[2] = {0, 0};
    enum idim_status st = IDIM_OK;
    *eval_s = 0;
    o.target = NAN;
    o.progress = NULL;
    for (int i = 0; i < 2 && !st; i++) {
        o.max_steps = n[i];
        o.eval_every = n[i];
        memset(r, 0, sizeof *r);
        st = train_run(&c->td, &o, r, err);
        t[i] = r->seconds - r->eval_seconds;
        if (r->n_evals)
            *eval_s = r->eval_seconds / r->n_evals;
    }
    free(r);
    *step_s = n[1] > n[0] ? (t[1] - t[0]) / (double)(n[1] - n[0]) : t[1] / (double)n[1];
    if (!(*step_s > 0))
        *step_s = t[1] / (double)n[1];
    *setup_s = t[1] - *step_s * (double)n[1];
    if (*setup_s < 0)
        *setup_s = 0;
    return st;
}

/* The plan's padding line: real tokens per epoch and the positions each
 * --batching computes for them (exact: the trainer's own order, its first 3
 * epochs averaged). */
static enum idim_status plan_padding(struct probe_ctx *c, struct idim_err *err)
{
    struct train_opts o = c->sub;
    o.limit_train = c->args->limit_train;
    uint64_t tok[2], slots[2];
    for (int i = 0; i < 2; i++) {
        o.batching = i ? TRAIN_BATCHING_BUCKET : TRAIN_BATCHING_RANDOM;
        enum idim_status st = train_padding(&c->td, &o, 3, &tok[i], &slots[i], err);
        if (st)
            return st;
    }
    printf("  padding (--batching %s): %.0f real tokens per epoch; random batches compute "
           "%.0f positions (%.1f%% padding), bucket %.0f (%.1f%%)\n",
           train_batching_name(c->args->batching), (double)tok[0] / 3, (double)slots[0] / 3,
           100.0 * (double)(slots[0] - tok[0]) / (double)slots[0], (double)slots[1] / 3,
           100.0 * (double)(slots[1] - tok[1]) / (double)slots[1]);
    return IDIM_OK;
}

/* --dry-run: the plan and an honest wall-time range, from timing a few
 * real steps of a baseline run and of a subspace run. */
static enum idim_status dry_run_plan(struct probe_ctx *c, long dmin, long dmax, double precision,
                                     long n_seeds, int bracket, struct idim_err *err)
{
    const struct probe_args *a = c->args;
    size_t n_train = c->td.train.n;
    if (a->limit_train > 0 && (size_t)a->limit_train < n_train)
        n_train = (size_t)a->limit_train;
    long spe = (long)((n_train + (size_t)a->batch - 1) / (size_t)a->batch);
    int sub_epochs = train_epochs(&c->sub, c->td.spec.name);
    int base_epochs = train_epochs(&c->full, c->td.spec.name);
    long base_steps = spe * base_epochs, sub_steps = spe * sub_epochs;
    int n_grid = 1;
    for (long d = dmin; d < dmax; d = d > dmax / 2 ? dmax : 2 * d)
        n_grid++;
    int bis = (int)ceil(log2(log(2.0) / log(precision)));
    if (bis < 0)
        bis = 0;
    int base_runs = isfinite(a->baseline) || a->baseline_from ? 0 : a->n_baseline_lr;
    double fs = 0, fe = 0, fu = 0, ss = NAN, se = 0, su = 0;
    enum idim_status st = IDIM_OK;
    if (base_runs) {
        struct train_opts o = c->full;
        o.lr = a->baseline_lr[0];
        if ((st = time_steps(c, o, spe, &fs, &fu, &fe, err)))
            return st;
    }
    struct train_opts o = c->sub;
    o.lr = a->lr[0];
    long dt = (long)sqrt((double)dmin * (double)dmax);
    o.d = (size_t)(dt > dmin ? dt : dmin);
    o.proj_seed = a->proj_seed;
    if ((st = time_steps(c, o, spe, &ss, &su, &se, err)))
        return st;
    long evals_per_run = sub_epochs + (c->sub.eval_every > 0 ? sub_steps / c->sub.eval_every : 0);
    double base_s = base_runs * (fu + base_steps * fs + base_epochs * fe);
    double run_s = su + sub_steps * ss + evals_per_run * se;
    int most = (n_grid + bis) * a->n_lr;
    int fewest = 1 + (bis > 0 ? bis - 1 : 0);
    printf("plan for idim measure --task %s (%zu train rows, %ld steps per epoch, batch %d, "
           "%d threads):\n",
           c->td.spec.name, n_train, spe, a->batch, c->threads);
    if ((st = plan_padding(c, err)))
        return st;
    if (base_runs)
        printf("  baseline: %d full fine-tuning run%s x %d epochs = %ld steps each; measured "
               "%.3f s/step, %.2f s setup, %.2f s per dev evaluation: ~%.0f s\n",
               base_runs, base_runs > 1 ? "s" : "", base_epochs, base_steps, fs, fu, fe,
               base_s);
    else
        printf("  baseline: given, no fine-tuning\n");
    printf("  search (per projection seed, %ld seed%s): bracket %s on d = %ld, %ld, ... up to "
           "%ld (at most %d probes), then about %d bisection probes to precision %g; each "
           "probe runs up to %d lr%s\n",
           n_seeds, n_seeds > 1 ? "s" : "",
           bracket == SEARCH_BRACKET_GALLOP ? "gallop (from the middle)" : "up (from dmin)", dmin,
           dmin * 2 <= dmax ? dmin * 2 : dmax, dmax, n_grid, bis, precision, a->n_lr,
           a->n_lr > 1 ? "s" : "");
    printf("  a subspace run: %d epochs = %ld steps, dev scored %ld times; measured %.3f "
           "s/step (d=%zu), %.2f s setup, %.2f s per evaluation: ~%.0f s in full%s\n",
           sub_epochs, sub_steps, evals_per_run, ss, o.d, su, se, run_s,
           a->no_early_stop ? "" : " (less when it stops early)");
    double lo = base_s + fewest * run_s * (a->no_early_stop ? 1.0 : 0.3) * (double)n_seeds;
    double hi = base_s + most * run_s * (double)n_seeds;
    printf("  estimated wall time: %.0f s to %.0f s (%.1f to %.1f min): fewest probes with "
           "early stops to every bracket point and bisection step in full\n",
           lo, hi, lo / 60, hi / 60);
    return IDIM_OK;
}

/* One `idim measure`: the options, the runs, and what the report needs. */
struct measure {
    struct probe_args *a;
    long dmin, dmin_used, dmax, n_seeds; /* dmin_used: raised for SAID */
    double precision;
    int force;
    int bracket;                          /* enum search_bracket */
    const char *state_path;
    struct probe_run run;
    double baseline, target;
    char source[1100];                    /* where the baseline came from */
    struct search_trial btrials[SEARCH_MAX_LR]; /* the baseline's fine-tuning runs */
    size_t n_btrials;
    struct search_result *results;        /* [n_seeds] */
    int n_not_reached;                    /* seeds whose search met no target */
    size_t n_extra;                       /* speculative runs the search did not use */
    char notes[REPORT_MAX_NOTES][256];
    int n_notes;
};

#define MEASURE_NOTE(m, ...) \
    snprintf((m)->notes[(m)->n_notes++], sizeof (m)->notes[0], __VA_ARGS__)

/* SAID needs d > m: raises --dmin to m+1 (with a note); --dmax must allow it. */
static enum idim_status measure_said_dmin(struct measure *m, struct idim_err *err)
{
    size_t nt = m->run.ctx.n_tensors;
    m->dmin_used = m->dmin;
    if (m->a->mode != TRAIN_SAID || (size_t)m->dmin > nt)
        return IDIM_OK;
    m->dmin_used = (long)nt + 1;
    MEASURE_NOTE(m, "dmin raised from %ld to %ld: SAID needs d > m = %zu tensors (m lambdas)",
                 m->dmin, m->dmin_used, nt);
    if (m->dmax < m->dmin_used)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "measure: --dmax %ld is too small for SAID on this model: d must "
                         "exceed m = %zu tensors",
                         m->dmax, nt);
    return IDIM_OK;
}

/* The state file, and a word on stderr when it resumes a run. */
static enum idim_status measure_open_state(struct measure *m, struct idim_err *err)
{
    enum idim_status st = probe_run_state(&m->run, "measure", m->state_path, err);
    if (st)
        return st;
    const struct search_state *s = &m->run.state;
    if ((s->n || s->ckpt) && !m->a->quiet)
        fprintf(stderr, "idim: measure: resuming from %s (%zu finished runs%s)\n",
                idim_esc(m->state_path),
                s->n, s->ckpt ? ", one in progress" : "");
    if ((s->n || s->ckpt) && s->threads_file != m->run.ctx.threads && !m->a->quiet)
        fprintf(stderr,
                "idim: measure: warning: %s was written with %d threads, this run uses %d: "
                "the runs still to do may differ from an uninterrupted run in the last bits\n",
                idim_esc(m->state_path), s->threads_file, m->run.ctx.threads);
    return IDIM_OK;
}

/* With slots: trains every run the search needs (speculatively), so that
 * the sequential search afterwards replays finished runs. */
static enum idim_status measure_parallel(struct measure *m, struct idim_err *err)
{
    struct probe_run *r = &m->run;
    const struct probe_args *a = m->a;
    struct search_config *cfgs = calloc((size_t)m->n_seeds, sizeof *cfgs), base;
    if (!cfgs)
        return idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
    for (long i = 0; i < m->n_seeds; i++)
        measure_config(&cfgs[i], a, m->dmin_used, m->dmax, m->precision, i, m->bracket);
    struct sched_search_plan plan = {.cfg = cfgs, .n_cfg = (size_t)m->n_seeds,
                                     .threshold = a->threshold, .threads = r->ctx.threads};
    enum idim_status st = IDIM_OK;
    if (probe_baseline_trains(a)) {
        probe_baseline_config(a, &base);
        plan.base = &base;
        plan.guard = !m->force;
        plan.guard_majority = probe_majority(&r->ctx);
        plan.guard_margin = PROBE_GUARD_MARGIN;
    } else {
        st = probe_baseline(&r->ctx, &r->state, probe_trial, &r->ctx, &plan.baseline, m->source,
                            sizeof m->source, m->btrials, &m->n_btrials, err);
    }
    if (st == IDIM_OK)
        st = probe_run_parallel(&r->sc, sched_plan_search, &plan, &r->state, &r->old, &r->fn,
                                &r->fn_ctx, &r->rst, err);
    free(cfgs);
    return st;
}

/* The guard: a baseline that does not clearly beat the majority class
 * makes every d90 meaningless, and the search would take hours. */
static enum idim_status measure_guard(struct measure *m, struct idim_err *err)
{
    if (!m->n_btrials)
        return IDIM_OK;
    const struct search_trial *bt = &m->btrials[search_best_trial(m->btrials, m->n_btrials)];
    double maj = probe_majority(&m->run.ctx);
    int weak = bt->majority_only || (isfinite(maj) && !(m->baseline - maj >= PROBE_GUARD_MARGIN));
    if (weak && !m->force)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "measure: full fine-tuning reached dev %s %.4f%s, not clearly above "
                         "the majority class (%.4f; the guard wants %.2f more): the model is "
                         "probably not pretrained for this task, so no d90 would mean "
                         "anything. To search anyway give the baseline with --baseline VALUE, "
                         "or pass --force",
                         m->run.ctx.metric, m->baseline,
                         bt->majority_only ? " predicting one class" : "", maj,
                         PROBE_GUARD_MARGIN);
    if (weak)
        MEASURE_NOTE(m,
                     "--force: the baseline %.4f is not clearly above the majority class "
                     "%.4f; d90 against it is not meaningful",
                     m->baseline, maj);
    return IDIM_OK;
}

/* The search for each projection seed; a seed that meets no target is
 * counted in m->n_not_reached, not an error. */
static enum idim_status measure_search(struct measure *m, struct report_measure *rep,
                                       struct idim_err *err)
{
    struct probe_run *r = &m->run;
    m->results = calloc((size_t)m->n_seeds, sizeof *m->results);
    if (!m->results)
        return idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
    for (long i = 0; i < m->n_seeds; i++) {
        struct search_config cfg;
        measure_config(&cfg, m->a, m->dmin_used, m->dmax, m->precision, i, m->bracket);
        cfg.target = m->target;
        r->ctx.seed_index = (int)i;
        rep->proj_seeds[i] = cfg.seed;
        enum idim_status st = search_run(&cfg, r->fn, r->fn_ctx, r->rst, &m->results[i], err);
        if (st == IDIM_ERR_NOT_REACHED) {
            m->n_not_reached++;
            st = IDIM_OK;
        }
        if (st)
            return st;
    }
    if (r->rst != &r->state && r->state.n > r->old.n) {
        m->n_extra = r->state.n - r->old.n;
        MEASURE_NOTE(m,
                     "%zu speculative runs on branches the search did not take were trained "
                     "too%s",
                     m->n_extra, m->state_path ? " (kept in the state file)" : "");
    }
    if (r->sc.n_restarts)
        MEASURE_NOTE(m,
                     "%zu worker processes died during a run and were started again; those "
                     "runs were trained again from their start",
                     r->sc.n_restarts);
    if (m->n_not_reached)
        MEASURE_NOTE(m, "no d up to %ld met the target for %d of %ld projection seeds; see "
                        "best_probe",
                     m->dmax, m->n_not_reached, m->n_seeds);
    return IDIM_OK;
}

/* Everything the report says about the run besides proj_seeds. */
static void measure_report(struct report_measure *r, const struct measure *m, double t0)
{
    const struct probe_args *a = m->a;
    const struct probe_ctx *ctx = &m->run.ctx;
    const struct sched *sc = &m->run.sc;
    r->version = IDIM_VERSION;
    r->task = ctx->td.spec.name;
    r->metric = ctx->metric;
    r->model_path = a->model;
    r->model_checksum = ctx->td.checksum_hex;
    r->n_params = ctx->n_params;
    r->n_tensors = ctx->n_tensors;
    r->data_dir = a->t.data ? a->t.data : "";
    r->train_path = ctx->train_path;
    r->dev_path = ctx->dev_path;
    r->train_sha256 = ctx->train_sha;
    r->dev_sha256 = ctx->dev_sha;
    r->n_train = ctx->td.train.n;
    r->n_dev = ctx->td.dev.n;
    r->method = train_mode_name(a->mode);
    r->scope = a->scope == FF_SCOPE_GLOBAL ? "global" : "tensor";
    r->projection = proj_kind_name(a->projection);
    r->lr_rule = train_lr_rule_name(a->lr_rule);
    r->optimizer = train_optim_name(a->optimizer);
    r->threshold = a->threshold;
    r->baseline = m->baseline;
    r->baseline_source = m->source;
    r->baseline_trials = m->btrials;
    r->n_baseline_trials = m->n_btrials;
    r->target = m->target;
    r->dmin = m->dmin_used;
    r->dmin_requested = m->dmin;
    r->dmax = m->dmax;
    r->precision = m->precision;
    r->n_lr = a->n_lr;
    r->lr = a->lr;
    r->n_baseline_lr = m->n_btrials ? a->n_baseline_lr : 0;
    r->baseline_lr = a->baseline_lr;
    r->epochs = train_epochs(&ctx->sub, ctx->td.spec.name);
    r->seed = a->seed;
    r->batching = train_batching_name(a->batching);
    r->bracket_rule = m->bracket == SEARCH_BRACKET_GALLOP ? "gallop" : "up";
    r->n_seeds = (int)m->n_seeds;
    r->results = m->results;
    r->threads = ctx->threads;
    r->runs = m->run.state.trials;
    r->n_runs = m->run.state.n;
    r->early_stop = !a->no_early_stop;
    r->eval_every = ctx->sub.eval_every;
    r->slots = sc->kind == SCHED_NONE ? 1 : sc->n_slots;
    r->transport = sc->kind == SCHED_FORK ? "fork" : sc->kind == SCHED_MPI ? "mpi" : "none";
    r->extra_runs = m->n_extra;
    r->wall_seconds = probe_now() - t0;
    r->n_notes = m->n_notes;
    for (int i = 0; i < m->n_notes; i++)
        r->notes[i] = m->notes[i];
}

/* --plot: every probe of every seed, the baseline, the 90% line and the
 * median d90. */
static enum idim_status measure_plot(const char *plot, const struct measure *m,
                                     const struct report_measure *r, struct idim_err *err)
{
    size_t np = 0;
    for (long i = 0; i < m->n_seeds; i++)
        np += m->results[i].n_probes;
    struct search_trial *pts = calloc(np ? np : 1, sizeof *pts);
    if (!pts)
        return idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
    np = 0;
    for (long i = 0; i < m->n_seeds; i++)
        for (size_t k = 0; k < m->results[i].n_probes; k++)
            pts[np++] = m->results[i].probes[k].best;
    struct report_d90 s;
    report_d90_summary(r, &s);
    char title[128];
    snprintf(title, sizeof title, "%s: dev %s against d (%s)", r->task, r->metric, r->method);
    struct report_plot p = {.pts = pts, .n = np, .metric_name = r->metric,
                            .baseline = m->baseline, .threshold = m->a->threshold,
                            .d90 = s.n_reached ? lround(s.median) : 0, .title = title};
    enum idim_status st = probe_write_plot(plot, &p, "probe", err);
    free(pts);
    return st;
}

/* The report: JSON to --out, the SVG to --plot, the text on stdout. */
static enum idim_status measure_write(struct measure *m, struct report_measure *r,
                                      const char *out, const char *plot, struct idim_err *err)
{
    cJSON *json = report_measure_json(r);
    char *text = report_measure_text(r);
    enum idim_status st = IDIM_OK;
    if (!json || !text)
        st = idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory building the report");
    if (!st && out)
        st = report_write_json(out, json, err);
    if (!st && plot)
        st = measure_plot(plot, m, r, err);
    if (!st)
        fputs(text, stdout);
    cJSON_Delete(json);
    free(text);
    return st;
}

/* Baseline (and guard), the searches, the report. */
static enum idim_status measure_run(struct measure *m, const char *out, const char *plot,
                                    double t0, struct idim_err *err)
{
    struct probe_run *r = &m->run;
    enum idim_status st;
    if (r->sc.kind != SCHED_NONE && (st = measure_parallel(m, err)))
        return st;
    if ((st = probe_baseline(&r->ctx, r->rst, r->fn, r->fn_ctx, &m->baseline, m->source,
                             sizeof m->source, m->btrials, &m->n_btrials, err)) ||
        (st = measure_guard(m, err)))
        return st;
    m->target = m->a->threshold * m->baseline;
    r->ctx.target = m->target;
    r->ctx.dmin = m->dmin_used;
    r->ctx.dmax = m->dmax;
    r->ctx.precision = m->precision;
    r->ctx.n_seeds = (int)m->n_seeds;
    if (!m->a->quiet)
        fprintf(stderr, "idim: baseline %s %.4f, target > %.4f\n", r->ctx.metric, m->baseline,
                m->target);
    struct report_measure rep;
    memset(&rep, 0, sizeof rep);
    if ((st = measure_search(m, &rep, err)))
        return st;
    measure_report(&rep, m, t0);
    if ((st = measure_write(m, &rep, out, plot, err)))
        return st;
    if (m->n_not_reached)
        return idim_fail(err, IDIM_ERR_NOT_REACHED,
                         "measure: no d up to %ld reached %s > %.4f (%g x baseline %.4f)%s%s",
                         m->dmax, r->ctx.metric, m->target, m->a->threshold, m->baseline,
                         out ? "; report written to " : "", out ? out : "");
    return IDIM_OK;
}

enum idim_status cli_measure(int argc, char **argv, struct idim_err *err)
{
    struct probe_args a;
    probe_args_default(&a);
    long dmin = 10, dmax = 100000, n_seeds = 1;
    double precision = 1.1;
    const char *out = NULL, *state_path = NULL, *plot = NULL, *bracket_opt = "auto";
    int force = 0, dry_run = 0;
    struct cli_opt opts[] = {
        CLI_LONG(0, "dmin", "N", &dmin, 1, 1L << 40, "first d of the bracket"),
        CLI_LONG(0, "dmax", "N", &dmax, 1, 1L << 40, "largest d tried"),
        CLI_DOUBLE(0, "precision", "R", &precision, 1.000001, 1e6, "stop when hi/lo <= R"),
        CLI_CHOICE(0, "bracket", "B", &bracket_opt, "auto,gallop,up",
                   "how to find the bracket on the doubling grid d = dmin,\n"
                   "2 dmin, ...: up (from dmin, the reference), gallop (from the\n"
                   "grid's middle toward the crossing; same d90 unless a smaller\n"
                   "d meets below a failing one: docs/MEASURE.md) or auto\n"
                   "(gallop; up with --no-early-stop)"),
        CLI_LONG(0, "seeds", "N", &n_seeds, 1, REPORT_MAX_SEEDS,
                 "repeat the search with N projection seeds P, P+1, ...;\n"
                 "reports each d90, the median and min/max"),
        CLI_OUT(&out, "write the JSON report (docs/report.schema.json)", 0),
        CLI_STR(0, "plot", "FILE", &plot,
                "write an SVG plot of the probes (metric vs d, log axis)", CLI_FILE),
        CLI_FLAG(0, "dry-run", &dry_run,
                 "print the plan (runs, steps per run) and an estimated wall\n"
                 "time from timing a few real steps, then exit"),
        CLI_FLAG(0, "force", &force,
                 "search even when the fine-tuned baseline is not clearly above\n"
                 "the majority class (otherwise exit 3 before the search: the\n"
                 "model is probably not pretrained)"),
        CLI_STR(0, "state", "FILE", &state_path,
                "record every finished run in FILE (atomically) and skip runs\n"
                "already recorded there: resume after Ctrl-C or kill (also after\n"
                "a worker or an MPI rank died)", CLI_FILE),
        PROBE_OPTS(&a),
        CLI_END,
    };
    char examples[1024];
    const char *demo = idim_share_dir ? idim_share_dir : ".";
    snprintf(examples, sizeof examples,
             "  idim measure --task mrpc --data %s/data/demo --model %s/data/demo/model.idim \\\n"
             "      --method did --dmin 8 --precision 1.25 --lr 2e-2 --epochs 6 \\\n"
             "      --baseline-lr 1e-3 --baseline-epochs 4 --max-len 40 \\\n"
             "      -o report.json --state measure.state   (what `make demo` runs)\n",
             demo, demo);
    struct cli_cmd c = {
        "measure",
        "Finds d90, the smallest subspace dimension d whose dev metric is strictly above\n"
        "threshold x baseline (Li et al. 2018: metric > 0.9 * baseline). The baseline is\n"
        "full fine-tuning over --baseline-lr unless given. The search brackets the\n"
        "crossing on the grid d = --dmin, 2 --dmin, ... (at most --dmax): --bracket\n"
        "gallop starts in the grid's middle and walks toward the crossing, --bracket up\n"
        "(the reference, and with --no-early-stop) doubles from --dmin; then it bisects\n"
        "in log space (geometric midpoints, never probing a d twice) until hi/lo <=\n"
        "--precision.\n"
        "Each d is the best run over the --lr grid. A run whose model predicts only the\n"
        "majority class never counts. SAID needs d > m (the model's tensor count):\n"
        "--dmin is raised to m+1 and the report says so.\n\n"
        "The human summary goes to stdout. Exit codes: 0 d90 found; 2 usage; 3 bad input,\n"
        "or the baseline guard (fine-tuning not clearly above the majority class);\n"
        "4 output not writable; 5 no d up to --dmax met the target (report still\n"
        "written); 130 interrupted (finished runs are in --state).\n\n"
        "Parallel runs: with --jobs N (or under mpirun) the search runs speculatively:\n"
        "while a probe trains, free slots train the probes the search would need next\n"
        "on either outcome (with 2^L-1 slots, L bisection levels at once). The probes\n"
        "it reports, and d90, are those of --jobs 1 with the same --threads-per-run.\n",
        examples, opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    if ((st = cli_task_check(&a.t, "measure", NULL, CLI_SPLIT_TRAIN | CLI_SPLIT_DEV, err)))
        return st;
    if (isfinite(a.baseline) && a.baseline_from)
        return cli_usage(err, "measure", "%s",
                               "--baseline and --baseline-from exclude each other");
    if (dmax < dmin)
        return cli_usage(err, "measure", "%s", "--dmax must be at least --dmin");

    double t0 = probe_now();
    struct measure *m = calloc(1, sizeof *m);
    if (!m)
        return idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
    m->a = &a;
    m->dmin = dmin, m->dmax = dmax, m->n_seeds = n_seeds;
    m->precision = precision;
    m->force = force;
    m->bracket = !strcmp(bracket_opt, "gallop") ||
                         (!strcmp(bracket_opt, "auto") && !a.no_early_stop)
                     ? SEARCH_BRACKET_GALLOP
                     : SEARCH_BRACKET_UP;
    m->state_path = state_path;
    m->baseline = NAN;
    st = probe_run_open(&m->run, &a, out, plot, err);
    if (st || m->run.sc.is_worker || (st = measure_said_dmin(m, err)))
        goto done;
    if (dry_run)
        st = dry_run_plan(&m->run.ctx, m->dmin_used, dmax, precision, n_seeds, m->bracket, err);
    else if (!(st = measure_open_state(m, err)))
        st = measure_run(m, out, plot, t0, err);
done:
    if (st == IDIM_ERR_INTERRUPTED) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        if (state_path)
            idim_fail(err, st,
                      "measure: %s; %zu finished runs are saved in %s: run the same command "
                      "again to resume",
                      why, m->run.state.n, state_path);
        else
            idim_fail(err, st, "measure: %s (without --state nothing was kept)", why);
    }
    probe_run_free(&m->run);
    free(m->results);
    free(m);
    return st;
}
