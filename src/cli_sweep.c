/* cli_sweep.c - `idim sweep`: subspace training on a log-spaced grid of d
 * (or a given list), one row per d (best over the lr grid), CSV + JSON
 * lines, and the SVG plot of dev metric against d with the 90% line
 * (Li et al. 2018 / Aghajanyan et al. 2021, Figure 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_probe.h"
#include "report.h"
#include "scheduler.h"
#include "search.h"

#define SWEEP_MAX 256

struct dlist {
    double v[SWEEP_MAX];
    int n;
};

/* --d LIST: up to SWEEP_MAX whole numbers */
static enum idim_status parse_dlist(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    struct dlist *l = o->target;
    enum idim_status st = cli_parse_list("--d", arg, 1, 1e12, l->v, SWEEP_MAX, &l->n, err);
    for (int i = 0; !st && i < l->n; i++)
        if (l->v[i] != floor(l->v[i]))
            st = idim_fail(err, IDIM_ERR_USAGE, "--d takes whole numbers, not '%s'", arg);
    return st;
}

/* SAID needs d > m: drops the grid's smaller d values (with a note unless
 * --json). Returns how many are left. */
static size_t sweep_said_grid(long *grid, size_t n_grid, const struct probe_run *r,
                              const struct probe_args *a, int json)
{
    size_t kept = 0;
    for (size_t i = 0; i < n_grid; i++) {
        if (a->mode == TRAIN_SAID && (size_t)grid[i] <= r->ctx.n_tensors) {
            if (!json)
                printf("note: d=%ld left out: SAID needs d > m = %zu tensors\n", grid[i],
                       r->ctx.n_tensors);
            continue;
        }
        grid[kept++] = grid[i];
    }
    return kept;
}

/* With slots: every run (the baseline's too) trained first; the rows are
 * then read from the finished runs. */
static enum idim_status sweep_parallel(struct probe_run *r, const struct probe_args *a,
                                       const long *grid, size_t n_grid, int no_base, int json,
                                       struct idim_err *err)
{
    long *plan_d = calloc(n_grid + 1, sizeof *plan_d);
    if (!plan_d)
        return idim_fail(err, IDIM_ERR_NOMEM, "sweep: out of memory");
    size_t n_plan = 0;
    if (!no_base && probe_baseline_trains(a))
        plan_d[n_plan++] = 0;
    memcpy(plan_d + n_plan, grid, n_grid * sizeof *grid);
    n_plan += n_grid;
    struct sched_list_plan plan = {.d = plan_d, .n_d = n_plan, .seed = a->proj_seed,
                                   .lr = {a->baseline_lr, a->lr},
                                   .n_lr = {a->n_baseline_lr, a->n_lr},
                                   .threads = r->ctx.threads};
    enum idim_status st = probe_run_parallel(&r->sc, sched_plan_list, &plan, &r->state, &r->old,
                                             &r->fn, &r->fn_ctx, &r->rst, err);
    free(plan_d);
    if (!st && r->sc.n_restarts && !json)
        printf("note: %zu worker processes died during a run and were started again\n",
               r->sc.n_restarts);
    return st;
}

/* One row: a JSON line (--json) or a line of the table. */
static enum idim_status sweep_print_row(const struct probe_run *r, const struct probe_args *a,
                                        const struct search_probe *p, double baseline, int json,
                                        struct idim_err *err)
{
    const struct search_trial *t = &p->best;
    if (!json) {
        printf("%8ld %10g %10.4f %6d %8.1f%s%s%s\n", t->d, t->lr, t->metric, t->epochs,
               t->seconds, p->met ? "  meets target" : "",
               t->majority_only ? "  majority class only" : "", t->diverged ? "  diverged" : "");
        return IDIM_OK;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", r->ctx.td.spec.name);
    cJSON_AddStringToObject(o, "method", train_mode_name(a->mode));
    cJSON_AddNumberToObject(o, "d", (double)t->d);
    cJSON_AddNumberToObject(o, "lr", t->lr);
    cJSON_AddStringToObject(o, "metric_name", r->ctx.metric);
    if (isfinite(t->metric))
        cJSON_AddNumberToObject(o, "metric", t->metric);
    else
        cJSON_AddNullToObject(o, "metric");
    cJSON_AddNumberToObject(o, "epochs", t->epochs);
    cJSON_AddNumberToObject(o, "seconds", t->seconds);
    cJSON_AddBoolToObject(o, "diverged", t->diverged);
    cJSON_AddBoolToObject(o, "majority_only", t->majority_only);
    cJSON_AddNumberToObject(o, "proj_seed", (double)t->seed);
    cJSON_AddStringToObject(o, "batching", train_batching_name(a->batching));
    if (isfinite(baseline)) {
        cJSON_AddNumberToObject(o, "baseline", baseline);
        cJSON_AddBoolToObject(o, "meets_target", p->met);
    }
    cJSON_AddStringToObject(o, "model_checksum", r->ctx.td.checksum_hex);
    return cli_print_json(o, 0, "sweep: out of memory", err);
}

/* --out (CSV) and --plot (SVG) of the rows. */
static enum idim_status sweep_write(const char *out, const char *plot, const struct probe_run *r,
                                    const struct probe_args *a, const struct search_trial *rows,
                                    size_t n_rows, double baseline, struct idim_err *err)
{
    enum idim_status st;
    if (out) {
        char *csv = report_csv_text(rows, n_rows, r->ctx.metric, baseline);
        if (!csv)
            return idim_fail(err, IDIM_ERR_NOMEM, "sweep: out of memory");
        st = report_write_file(out, csv, strlen(csv), err);
        free(csv);
        if (st)
            return st;
    }
    if (!plot)
        return IDIM_OK;
    char title[128];
    snprintf(title, sizeof title, "%s: dev %s against d (%s)", r->ctx.td.spec.name,
             r->ctx.metric, train_mode_name(a->mode));
    struct report_plot p = {.pts = rows, .n = n_rows, .metric_name = r->ctx.metric,
                            .baseline = baseline, .threshold = a->threshold, .d90 = 0,
                            .title = title};
    return probe_write_plot(plot, &p, "run", err);
}

/* The rows: the best run over the lr grid at each d, printed as they
 * finish and kept in rows[] (n_grid entries, caller-owned). */
static enum idim_status sweep_rows(struct probe_run *r, const struct probe_args *a,
                                   const long *grid, size_t n_grid, double baseline, int json,
                                   struct search_trial *rows, struct idim_err *err)
{
    double target = a->threshold * baseline;
    if (!json)
        printf("%8s %10s %10s %6s %8s\n", "d", "lr", r->ctx.metric, "epochs", "seconds");
    struct search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.seed = a->proj_seed;
    cfg.target = isfinite(target) ? target : INFINITY;
    cfg.n_lr = a->n_lr;
    memcpy(cfg.lr, a->lr, sizeof cfg.lr);
    for (size_t i = 0; i < n_grid; i++) {
        struct search_probe p;
        enum idim_status st = search_probe_d(&cfg, grid[i], r->fn, r->fn_ctx, r->rst, &p, err);
        if (st)
            return st;
        rows[i] = p.best;
        if ((st = sweep_print_row(r, a, &p, baseline, json, err)))
            return st;
        fflush(stdout);
    }
    return IDIM_OK;
}

enum idim_status cli_sweep(int argc, char **argv, struct idim_err *err)
{
    struct probe_args a;
    probe_args_default(&a);
    long dmin = 10, dmax = 10000, points = 20;
    struct dlist dl = {{0}, 0};
    int json = 0, no_base = 0;
    const char *out = NULL, *plot = NULL, *state_path = NULL;
    char out_help[256];
    snprintf(out_help, sizeof out_help, "CSV rows (header %s)", REPORT_CSV_HEADER);
    struct cli_opt opts[] = {
        CLI_LONG(0, "dmin", "N", &dmin, 1, 1L << 40, "smallest d of the grid"),
        CLI_LONG(0, "dmax", "N", &dmax, 1, 1L << 40, "largest d of the grid"),
        CLI_LONG(0, "points", "N", &points, 1, SWEEP_MAX,
                 "grid points, log-spaced, rounded, duplicates dropped"),
        CLI_FN(0, "d", "LIST", parse_dlist, &dl,
               "explicit d values instead of the grid, e.g. 10,100,1000", 0),
        CLI_FLAG(0, "no-baseline", &no_base, "skip the baseline (the plot then has no 90% line)"),
        CLI_OUT(&out, out_help, 0),
        CLI_STR(0, "plot", "FILE", &plot, "SVG plot of dev metric against d (log axis)", CLI_FILE),
        CLI_FLAG(0, "json", &json, "print JSON lines (one object per d) instead of the table"),
        CLI_STR(0, "state", "FILE", &state_path,
                "record finished runs and skip them when rerun (resume)", CLI_FILE),
        PROBE_OPTS(&a),
        CLI_END,
    };
    char examples[1024];
    const char *demo = idim_share_dir ? idim_share_dir : ".";
    snprintf(examples, sizeof examples,
             "  idim sweep --task mrpc --data %s/data/demo --model %s/data/demo/model.idim \\\n"
             "      --method did --dmin 8 --dmax 1000 --points 7 --max-len 40 --epochs 6 \\\n"
             "      --baseline-lr 1e-3 -o sweep.csv --plot sweep.svg\n",
             demo, demo);
    struct cli_cmd c = {
        "sweep",
        "Trains theta_d for every d of a log-spaced grid (or the --d list) and prints one\n"
        "row per d: the best run over the --lr grid. The baseline (full fine-tuning over\n"
        "--baseline-lr, unless --baseline/--baseline-from/--no-baseline) gives the 90%\n"
        "line of the plot; the CSV keeps it, so `idim plot` redraws the figure. For SAID,\n"
        "d values <= m (the model's tensor count) are left out, with a note.\n\n"
        "With --jobs N (or under mpirun) the runs train N at a time; the rows are printed\n"
        "when all are done, the same as with --jobs 1 and the same --threads-per-run.\n",
        examples, opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    if ((st = cli_task_check(&a.t, "sweep", NULL, CLI_SPLIT_TRAIN | CLI_SPLIT_DEV, err)))
        return st;
    if (dmax < dmin)
        return cli_usage(err, "sweep", "--dmax must be at least --dmin");
    long grid[SWEEP_MAX];
    size_t n_grid = 0;
    if (dl.n) {
        for (int i = 0; i < dl.n; i++)
            grid[n_grid++] = (long)dl.v[i];
    } else {
        n_grid = search_log_grid(dmin, dmax, (size_t)points, grid);
    }

    struct probe_run r;
    struct search_trial *rows = NULL;
    st = probe_run_open(&r, &a, out, plot, err);
    if (st || r.sc.is_worker || (st = probe_run_state(&r, "sweep", state_path, err)))
        goto done;
    n_grid = sweep_said_grid(grid, n_grid, &r, &a, json);
    if (!n_grid) {
        st = idim_fail(err, IDIM_ERR_USAGE, "sweep: no d left to train (SAID needs d > m = %zu)",
                       r.ctx.n_tensors);
        goto done;
    }
    if (r.sc.kind != SCHED_NONE && (st = sweep_parallel(&r, &a, grid, n_grid, no_base, json, err)))
        goto done;

    double baseline = NAN;
    char source[1100] = "none";
    struct search_trial bt[SEARCH_MAX_LR];
    size_t nbt = 0;
    if (!no_base) {
        st = probe_baseline(&r.ctx, r.rst, r.fn, r.fn_ctx, &baseline, source, sizeof source, bt,
                            &nbt, err);
        if (st)
            goto done;
        if (!json)
            printf("baseline %s %.4f (%s); %g x baseline = %.4f\n", r.ctx.metric, baseline,
                   source, a.threshold, a.threshold * baseline);
    }
    rows = calloc(n_grid, sizeof *rows);
    if (!rows) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "sweep: out of memory");
        goto done;
    }
    if (!(st = sweep_rows(&r, &a, grid, n_grid, baseline, json, rows, err)))
        st = sweep_write(out, plot, &r, &a, rows, n_grid, baseline, err);
done:
    if (st == IDIM_ERR_INTERRUPTED && state_path) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        idim_fail(err, st, "sweep: %s; %zu finished runs are saved in %s", why, r.state.n,
                  state_path);
    }
    free(rows);
    probe_run_free(&r);
    return st;
}
