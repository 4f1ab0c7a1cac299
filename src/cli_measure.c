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
                           long dmax, double precision, long i)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->dmin = dmin;
    cfg->dmax = dmax;
    cfg->precision = precision;
    cfg->seed = a->proj_seed + (uint64_t)i;
    cfg->n_lr = a->n_lr;
    memcpy(cfg->lr, a->lr, sizeof cfg->lr);
    cfg->early_stop = !a->no_early_stop;
}

/* Seconds per step of a run with options o, from timing `steps` real steps
 * (setup included, so it errs high); *eval_s = one dev evaluation. */
static enum idim_status time_steps(struct probe_ctx *c, struct train_opts o, long steps,
                                   double *step_s, double *eval_s, struct idim_err *err)
{
    struct train_result *r = calloc(1, sizeof *r);
    if (!r)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    o.max_steps = steps;
    o.eval_every = steps;
    o.target = NAN;
    o.progress = NULL;
    enum idim_status st = train_run(&c->td, &o, r, err);
    *step_s = r->steps ? (r->seconds - r->eval_seconds) / (double)r->steps : NAN;
    *eval_s = r->n_evals ? r->eval_seconds / r->n_evals : 0;
    free(r);
    return st;
}

/* --dry-run: the plan and an honest wall-time range, from timing a few
 * real steps of a baseline run and of a subspace run. */
static enum idim_status dry_run_plan(struct probe_ctx *c, long dmin, long dmax, double precision,
                                     long n_seeds, struct idim_err *err)
{
    const struct probe_args *a = c->args;
    size_t n_train = c->td.train.n;
    if (a->limit_train > 0 && (size_t)a->limit_train < n_train)
        n_train = (size_t)a->limit_train;
    long spe = (long)((n_train + (size_t)a->batch - 1) / (size_t)a->batch);
    int sub_epochs = a->epochs > 0 ? a->epochs : c->sub.epochs > 0 ? c->sub.epochs : 0;
    if (sub_epochs <= 0) {
        static const char *const big[] = {"sst2", "qnli", "qqp", "mnli"};
        sub_epochs = 20;
        for (int i = 0; i < 4; i++)
            if (!strcmp(c->td.spec.name, big[i]))
                sub_epochs = 3;
    }
    long base_steps = spe * a->baseline_epochs, sub_steps = spe * sub_epochs;
    int bracket = 1;
    for (long d = dmin; d < dmax; d = d > dmax / 2 ? dmax : 2 * d)
        bracket++;
    int bis = (int)ceil(log2(log(2.0) / log(precision)));
    if (bis < 0)
        bis = 0;
    int base_runs = isfinite(a->baseline) || a->baseline_from ? 0 : a->n_baseline_lr;
    double fs = 0, fe = 0, ss = NAN, se = 0;
    long probe_steps = spe < 5 ? spe : 5;
    enum idim_status st = IDIM_OK;
    if (base_runs) {
        struct train_opts o = c->full;
        o.lr = a->baseline_lr[0];
        if ((st = time_steps(c, o, probe_steps, &fs, &fe, err)))
            return st;
    }
    struct train_opts o = c->sub;
    o.lr = a->lr[0];
    long dt = (long)sqrt((double)dmin * (double)dmax);
    o.d = (size_t)(dt > dmin ? dt : dmin);
    o.proj_seed = a->proj_seed;
    if ((st = time_steps(c, o, probe_steps, &ss, &se, err)))
        return st;
    long evals_per_run = sub_epochs + (c->sub.eval_every > 0 ? sub_steps / c->sub.eval_every : 0);
    double base_s = base_runs * (base_steps * fs + a->baseline_epochs * fe);
    double run_s = sub_steps * ss + evals_per_run * se;
    int most = (bracket + bis) * a->n_lr;
    int fewest = 1 + (bis > 0 ? bis - 1 : 0);
    printf("plan for idim measure --task %s (%zu train rows, %ld steps per epoch, batch %d, "
           "%d threads):\n",
           c->td.spec.name, n_train, spe, a->batch, c->threads);
    if (base_runs)
        printf("  baseline: %d full fine-tuning run%s x %d epochs = %ld steps each; measured "
               "%.3f s/step, %.2f s per dev evaluation: ~%.0f s\n",
               base_runs, base_runs > 1 ? "s" : "", a->baseline_epochs, base_steps, fs, fe,
               base_s);
    else
        printf("  baseline: given, no fine-tuning\n");
    printf("  search (per projection seed, %ld seed%s): probes d = %ld, %ld, ... up to %ld "
           "(at most %d), then about %d bisection probes to precision %g; each probe runs up "
           "to %d lr%s\n",
           n_seeds, n_seeds > 1 ? "s" : "", dmin, dmin * 2 <= dmax ? dmin * 2 : dmax, dmax,
           bracket, bis, precision, a->n_lr, a->n_lr > 1 ? "s" : "");
    printf("  a subspace run: %d epochs = %ld steps, dev scored %ld times; measured %.3f "
           "s/step (d=%zu), %.2f s per evaluation: ~%.0f s in full%s\n",
           sub_epochs, sub_steps, evals_per_run, ss, o.d, se, run_s,
           a->no_early_stop ? "" : " (less when it stops early)");
    double lo = base_s + fewest * run_s * (a->no_early_stop ? 1.0 : 0.3) * (double)n_seeds;
    double hi = base_s + most * run_s * (double)n_seeds;
    printf("  estimated wall time: %.0f s to %.0f s (%.1f to %.1f min): fewest probes with "
           "early stops to every bracket point and bisection step in full\n",
           lo, hi, lo / 60, hi / 60);
    return IDIM_OK;
}

enum idim_status cli_measure(int argc, char **argv, struct idim_err *err)
{
    struct probe_args a;
    probe_args_default(&a);
    long dmin = 10, dmax = 100000, n_seeds = 1;
    double precision = 1.1;
    const char *out = NULL, *state_path = NULL, *plot = NULL;
    int force = 0, dry_run = 0;
    struct cli_opt opts[] = {
        CLI_LONG(0, "dmin", "N", &dmin, 1, 1L << 40, "first d of the bracket"),
        CLI_LONG(0, "dmax", "N", &dmax, 1, 1L << 40, "largest d tried"),
        CLI_DOUBLE(0, "precision", "R", &precision, 1.000001, 1e6, "stop when hi/lo <= R"),
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
        "full fine-tuning over --baseline-lr unless given. The search doubles d from\n"
        "--dmin until the target is met (at most --dmax), then bisects in log space\n"
        "(geometric midpoints, never probing a d twice) until hi/lo <= --precision.\n"
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
    if ((st = probe_check_writable(out, "--out", err)))
        return st;
    if ((st = probe_check_writable(plot, "--plot", err)))
        return st;
    struct probe_ctx ctx;
    struct search_state state, old;
    memset(&state, 0, sizeof state);
    memset(&old, 0, sizeof old);
    struct sched sc;
    memset(&sc, 0, sizeof sc);
    search_trial_fn fn = probe_trial;
    void *fn_ctx = &ctx;
    struct search_state *rst = &state; /* the state the report's search reads */
    size_t n_extra = 0;
    struct search_result *results = NULL;
    char *text = NULL;
    cJSON *json = NULL;
    char notes[REPORT_MAX_NOTES][256];
    int n_notes = 0;
    st = probe_ctx_open(&ctx, &a, err);
    if (st)
        return st;
    /* Workers (forked, or MPI ranks > 0) start here, with the model and
     * data loaded; an MPI worker rank returns once rank 0 is done. */
    st = sched_start(&sc, a.jobs, ctx.threads, probe_spec_trial, &ctx, err);
    if (st || sc.is_worker)
        goto done;

    long dmin_used = dmin;
    if (a.mode == TRAIN_SAID && (size_t)dmin <= ctx.n_tensors) {
        dmin_used = (long)ctx.n_tensors + 1;
        snprintf(notes[n_notes++], sizeof notes[0],
                 "dmin raised from %ld to %ld: SAID needs d > m = %zu tensors (m lambdas)",
                 dmin, dmin_used, ctx.n_tensors);
        if (dmax < dmin_used) {
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "measure: --dmax %ld is too small for SAID on this model: d must "
                           "exceed m = %zu tensors",
                           dmax, ctx.n_tensors);
            goto done;
        }
    }

    if (dry_run) {
        st = dry_run_plan(&ctx, dmin_used, dmax, precision, n_seeds, err);
        goto done;
    }

    char key[SEARCH_KEY_MAX];
    probe_state_key(&ctx, "measure", key, sizeof key);
    st = search_state_open(&state, state_path, key, ctx.threads, err);
    if (st)
        goto done;
    ctx.state = &state;
    if ((state.n || state.ckpt) && !a.quiet)
        fprintf(stderr, "idim: measure: resuming from %s (%zu finished runs%s)\n", state_path,
                state.n, state.ckpt ? ", one in progress" : "");
    if ((state.n || state.ckpt) && state.threads_file != ctx.threads && !a.quiet)
        fprintf(stderr,
                "idim: measure: warning: %s was written with %d threads, this run uses %d: "
                "the runs still to do may differ from an uninterrupted run in the last bits\n",
                state_path, state.threads_file, ctx.threads);

    double baseline = NAN;
    char source[1100];
    struct search_trial btrials[SEARCH_MAX_LR];
    size_t n_btrials = 0;
    if (sc.kind != SCHED_NONE) {
        /* Train every run the search needs on the slots, then replay the
         * sequential search below over the finished runs. */
        struct search_config *cfgs = calloc((size_t)n_seeds, sizeof *cfgs), base;
        if (!cfgs) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
            goto done;
        }
        for (long i = 0; i < n_seeds; i++)
            measure_config(&cfgs[i], &a, dmin_used, dmax, precision, i);
        struct sched_search_plan plan = {.cfg = cfgs, .n_cfg = (size_t)n_seeds,
                                         .threshold = a.threshold, .threads = ctx.threads};
        if (probe_baseline_trains(&a)) {
            probe_baseline_config(&a, &base);
            plan.base = &base;
            plan.guard = !force;
            plan.guard_majority = probe_majority(&ctx);
            plan.guard_margin = PROBE_GUARD_MARGIN;
        } else {
            st = probe_baseline(&ctx, &state, probe_trial, &ctx, &plan.baseline, source,
                                sizeof source, btrials, &n_btrials, err);
        }
        if (st == IDIM_OK)
            st = probe_run_parallel(&sc, sched_plan_search, &plan, &state, &old, &fn, &fn_ctx,
                                    &rst, err);
        free(cfgs);
        if (st)
            goto done;
    }
    st = probe_baseline(&ctx, rst, fn, fn_ctx, &baseline, source, sizeof source, btrials,
                        &n_btrials, err);
    if (st)
        goto done;
    if (n_btrials) {
        /* The guard: a baseline that does not clearly beat the majority class
         * makes every d90 meaningless, and the search would take hours. */
        const struct search_trial *bt = &btrials[search_best_trial(btrials, n_btrials)];
        double maj = probe_majority(&ctx);
        int weak = bt->majority_only || (isfinite(maj) && !(baseline - maj >= PROBE_GUARD_MARGIN));
        if (weak && !force) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "measure: full fine-tuning reached dev %s %.4f%s, not clearly above "
                           "the majority class (%.4f; the guard wants %.2f more): the model is "
                           "probably not pretrained for this task, so no d90 would mean "
                           "anything. To search anyway give the baseline with --baseline VALUE, "
                           "or pass --force",
                           ctx.metric, baseline, bt->majority_only ? " predicting one class" : "",
                           maj, PROBE_GUARD_MARGIN);
            goto done;
        }
        if (weak)
            snprintf(notes[n_notes++], sizeof notes[0],
                     "--force: the baseline %.4f is not clearly above the majority class "
                     "%.4f; d90 against it is not meaningful",
                     baseline, maj);
    }
    double target = a.threshold * baseline;
    ctx.target = target;
    ctx.dmax = dmax;
    ctx.precision = precision;
    ctx.n_seeds = (int)n_seeds;
    if (!a.quiet)
        fprintf(stderr, "idim: baseline %s %.4f, target > %.4f\n", ctx.metric, baseline, target);

    results = calloc((size_t)n_seeds, sizeof *results);
    if (!results) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
        goto done;
    }
    struct report_measure r;
    memset(&r, 0, sizeof r);
    int any_not_reached = 0, n_not_reached = 0;
    for (long i = 0; i < n_seeds; i++) {
        struct search_config cfg;
        measure_config(&cfg, &a, dmin_used, dmax, precision, i);
        cfg.target = target;
        ctx.seed_index = (int)i;
        r.proj_seeds[i] = cfg.seed;
        st = search_run(&cfg, fn, fn_ctx, rst, &results[i], err);
        if (st == IDIM_ERR_NOT_REACHED) {
            any_not_reached = 1;
            n_not_reached++;
            st = IDIM_OK;
        }
        if (st)
            goto done;
    }
    if (rst != &state && state.n > old.n) {
        n_extra = state.n - old.n;
        snprintf(notes[n_notes++], sizeof notes[0],
                 "%zu speculative runs on branches the search did not take were trained too%s",
                 n_extra, state_path ? " (kept in the state file)" : "");
    }
    if (sc.n_restarts)
        snprintf(notes[n_notes++], sizeof notes[0],
                 "%zu worker processes died during a run and were started again; those runs "
                 "were trained again from their start",
                 sc.n_restarts);
    if (any_not_reached)
        snprintf(notes[n_notes++], sizeof notes[0],
                 "no d up to %ld met the target for %d of %ld projection seeds; see "
                 "best_probe",
                 dmax, n_not_reached, n_seeds);

    r.version = IDIM_VERSION;
    r.task = ctx.td.spec.name;
    r.metric = ctx.metric;
    r.model_path = a.model;
    r.model_checksum = ctx.td.checksum_hex;
    r.n_params = ctx.n_params;
    r.n_tensors = ctx.n_tensors;
    r.data_dir = a.t.data ? a.t.data : "";
    r.train_path = ctx.train_path;
    r.dev_path = ctx.dev_path;
    r.train_sha256 = ctx.train_sha;
    r.dev_sha256 = ctx.dev_sha;
    r.n_train = ctx.td.train.n;
    r.n_dev = ctx.td.dev.n;
    r.method = train_mode_name(a.mode);
    r.scope = a.scope == FF_SCOPE_GLOBAL ? "global" : "tensor";
    r.projection = proj_kind_name(a.projection);
    r.lr_rule = train_lr_rule_name(a.lr_rule);
    r.optimizer = train_optim_name(a.optimizer);
    r.threshold = a.threshold;
    r.baseline = baseline;
    r.baseline_source = source;
    r.baseline_trials = btrials;
    r.n_baseline_trials = n_btrials;
    r.target = target;
    r.dmin = dmin_used;
    r.dmin_requested = dmin;
    r.dmax = dmax;
    r.precision = precision;
    r.n_lr = a.n_lr;
    r.lr = a.lr;
    r.n_baseline_lr = n_btrials ? a.n_baseline_lr : 0;
    r.baseline_lr = a.baseline_lr;
    r.epochs = a.epochs;
    r.seed = a.seed;
    r.n_seeds = (int)n_seeds;
    r.results = results;
    r.threads = ctx.threads;
    r.runs = state.trials;
    r.n_runs = state.n;
    r.early_stop = !a.no_early_stop;
    r.eval_every = ctx.sub.eval_every;
    r.slots = sc.kind == SCHED_NONE ? 1 : sc.n_slots;
    r.transport = sc.kind == SCHED_FORK ? "fork" : sc.kind == SCHED_MPI ? "mpi" : "none";
    r.extra_runs = n_extra;
    r.wall_seconds = probe_now() - t0;
    r.n_notes = n_notes;
    for (int i = 0; i < n_notes; i++)
        r.notes[i] = notes[i];

    json = report_measure_json(&r);
    text = report_measure_text(&r);
    if (!json || !text) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory building the report");
        goto done;
    }
    if (out && (st = report_write_json(out, json, err)))
        goto done;
    if (plot) {
        size_t np = 0;
        for (long i = 0; i < n_seeds; i++)
            np += results[i].n_probes;
        struct search_trial *pts = calloc(np ? np : 1, sizeof *pts);
        if (!pts) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "measure: out of memory");
            goto done;
        }
        np = 0;
        for (long i = 0; i < n_seeds; i++)
            for (size_t k = 0; k < results[i].n_probes; k++)
                pts[np++] = results[i].probes[k].best;
        struct report_d90 s;
        report_d90_summary(&r, &s);
        char title[128];
        snprintf(title, sizeof title, "%s: dev %s against d (%s)", r.task, r.metric, r.method);
        struct report_plot p = {.pts = pts, .n = np, .metric_name = r.metric,
                                .baseline = baseline, .threshold = a.threshold,
                                .d90 = s.n_reached ? lround(s.median) : 0, .title = title};
        char *svg = report_svg(&p);
        free(pts);
        if (!svg) {
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: no probe with a finite metric to plot",
                           plot);
            goto done;
        }
        st = report_write_file(plot, svg, strlen(svg), err);
        free(svg);
        if (st)
            goto done;
    }
    fputs(text, stdout);
    if (any_not_reached)
        st = idim_fail(err, IDIM_ERR_NOT_REACHED,
                       "measure: no d up to %ld reached %s > %.4f (%g x baseline %.4f)%s%s",
                       dmax, ctx.metric, target, a.threshold, baseline,
                       out ? "; report written to " : "", out ? out : "");
done:
    if (st == IDIM_ERR_INTERRUPTED) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        if (state_path)
            idim_fail(err, st,
                      "measure: %s; %zu finished runs are saved in %s: run the same command "
                      "again to resume",
                      why, state.n, state_path);
        else
            idim_fail(err, st, "measure: %s (without --state nothing was kept)", why);
    }
    sched_stop(&sc);
    cJSON_Delete(json);
    free(text);
    free(results);
    search_state_free(&old);
    search_state_free(&state);
    probe_ctx_free(&ctx);
    return st;
}
