/* report.c - the measure report (JSON, text), sweep CSV, SVG plot, and the
 * d90 check. Compression-bound term sqrt(d90 / m_train) from the
 * generalization bound of Aghajanyan et al. 2021 (Section 6); description
 * length = d90 float32 values plus one 8-byte projection seed. */
#include "report.h"
#include "fileio.h"

/* sweep CSVs and reports read back: far above any real one (a row is ~60 bytes) */
#define REPORT_READ_MAX ((size_t)256 << 20)

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a growing string ---- */
struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->n <= (size_t)k)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static char *sb_finish(struct sbuf *b)
{
    if (b->oom || !b->p) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

/* ---- files ---- */

enum idim_status report_write_file(const char *path, const char *data, size_t len,
                                   struct idim_err *err)
{
    return fileio_write_atomic(path, data, len, err);
}

enum idim_status report_write_json(const char *path, const cJSON *j, struct idim_err *err)
{
    char *s = cJSON_Print(j);
    if (!s)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory printing JSON", path);
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory printing JSON", path);
    }
    t[n] = '\n';
    t[n + 1] = 0;
    enum idim_status st = report_write_file(path, t, n + 1, err);
    free(t);
    return st;
}

/* ---- the measure report ---- */

void report_d90_summary(const struct report_measure *r, struct report_d90 *out)
{
    long v[REPORT_MAX_SEEDS];
    size_t k = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < r->n_seeds && i < REPORT_MAX_SEEDS; i++)
        if (r->results[i].reached)
            v[k++] = r->results[i].d90;
    out->n_reached = (int)k;
    if (!k)
        return;
    out->median = search_median(v, k); /* sorts v */
    out->min = v[0];
    out->max = v[k - 1];
}

static cJSON *num_or_null(double x)
{
    return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static void add_num(cJSON *o, const char *k, double x)
{
    cJSON_AddItemToObject(o, k, num_or_null(x));
}

static cJSON *trial_json(const struct search_trial *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "d", (double)t->d);
    cJSON_AddNumberToObject(o, "lr", t->lr);
    add_num(o, "metric", t->metric);
    cJSON_AddNumberToObject(o, "epochs", t->epochs);
    cJSON_AddNumberToObject(o, "seconds", t->seconds);
    cJSON_AddBoolToObject(o, "diverged", t->diverged);
    cJSON_AddBoolToObject(o, "majority_only", t->majority_only);
    static const char *const outcome[] = {"completed", "met", "abandoned", "diverged"};
    cJSON_AddStringToObject(o, "outcome",
                            t->outcome >= 0 && t->outcome <= 3 ? outcome[t->outcome] : "?");
    cJSON_AddNumberToObject(o, "steps", (double)t->steps);
    cJSON_AddNumberToObject(o, "total_steps", (double)t->total_steps);
    cJSON_AddNumberToObject(o, "met_step", (double)t->met_step);
    cJSON_AddNumberToObject(o, "hopeless_step", (double)t->hopeless_step);
    if (t->n_curve > 0) {
        cJSON *el = cJSON_AddArrayToObject(o, "epoch_loss");
        cJSON *em = cJSON_AddArrayToObject(o, "epoch_metric");
        for (int e = 0; el && em && e < t->n_curve; e++) {
            cJSON_AddItemToArray(el, num_or_null((double)t->loss_curve[e]));
            cJSON_AddItemToArray(em, num_or_null((double)t->metric_curve[e]));
        }
    }
    return o;
}

static cJSON *probe_json(const struct search_probe *p, uint64_t seed)
{
    cJSON *o = trial_json(&p->best);
    if (!o)
        return NULL;
    cJSON_AddBoolToObject(o, "met", p->met);
    cJSON_AddBoolToObject(o, "resumed", p->resumed);
    cJSON_AddNumberToObject(o, "proj_seed", (double)seed);
    return o;
}

static cJSON *num_array(const double *x, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

static cJSON *split_json(const char *path, const char *sha, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path ? path : "");
    cJSON_AddStringToObject(o, "sha256", sha ? sha : "");
    cJSON_AddNumberToObject(o, "n", (double)n);
    return o;
}

cJSON *report_measure_json(const struct report_measure *r)
{
    struct report_d90 s;
    report_d90_summary(r, &s);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "command", "measure");
    cJSON_AddStringToObject(o, "idim_version", r->version);
    cJSON_AddStringToObject(o, "task", r->task);
    cJSON_AddStringToObject(o, "metric", r->metric);
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddStringToObject(o, "scope", r->scope);
    cJSON_AddStringToObject(o, "projection", r->projection ? r->projection : "fastfood");
    cJSON_AddStringToObject(o, "lr_rule", r->lr_rule ? r->lr_rule : "fixed");
    cJSON_AddStringToObject(o, "optimizer", r->optimizer ? r->optimizer : "adamw");
    cJSON_AddNumberToObject(o, "threshold", r->threshold);
    cJSON_AddStringToObject(o, "rule", REPORT_RULE);
    cJSON_AddBoolToObject(o, "reached", s.n_reached == r->n_seeds && r->n_seeds > 0);
    if (s.n_reached) {
        cJSON_AddNumberToObject(o, "d90", s.median);
        cJSON_AddNumberToObject(o, "d90_min", (double)s.min);
        cJSON_AddNumberToObject(o, "d90_max", (double)s.max);
        cJSON_AddNumberToObject(o, "description_length_bytes", s.median * 4.0 + 8.0);
        add_num(o, "compression_bound_term",
                r->n_train ? sqrt(s.median / (double)r->n_train) : NAN);
    } else {
        cJSON_AddNullToObject(o, "d90");
        cJSON_AddNullToObject(o, "d90_min");
        cJSON_AddNullToObject(o, "d90_max");
        cJSON_AddNullToObject(o, "description_length_bytes");
        cJSON_AddNullToObject(o, "compression_bound_term");
    }
    if (r->n_seeds > 0) {
        const struct search_result *f = &r->results[0];
        cJSON *b = cJSON_CreateArray();
        cJSON_AddItemToArray(b, cJSON_CreateNumber((double)f->lo));
        cJSON_AddItemToArray(b, cJSON_CreateNumber((double)f->hi));
        cJSON_AddItemToObject(o, "bracket", b);
    }

    cJSON *bl = cJSON_CreateObject();
    add_num(bl, "value", r->baseline);
    cJSON_AddStringToObject(bl, "source", r->baseline_source ? r->baseline_source : "");
    if (r->n_baseline_trials) {
        size_t bi = search_best_trial(r->baseline_trials, r->n_baseline_trials);
        const struct search_trial *bt = &r->baseline_trials[bi];
        cJSON_AddNumberToObject(bl, "lr", bt->lr);
        cJSON_AddNumberToObject(bl, "epochs", bt->epochs);
        cJSON_AddBoolToObject(bl, "majority_only", bt->majority_only);
    }
    cJSON *bts = cJSON_CreateArray();
    for (size_t i = 0; i < r->n_baseline_trials; i++)
        cJSON_AddItemToArray(bts, trial_json(&r->baseline_trials[i]));
    cJSON_AddItemToObject(bl, "trials", bts);
    cJSON_AddItemToObject(o, "baseline", bl);
    add_num(o, "target", r->target);

    cJSON *se = cJSON_CreateObject();
    cJSON_AddNumberToObject(se, "dmin", (double)r->dmin);
    cJSON_AddNumberToObject(se, "dmin_requested", (double)r->dmin_requested);
    cJSON_AddNumberToObject(se, "dmax", (double)r->dmax);
    cJSON_AddNumberToObject(se, "precision", r->precision);
    cJSON_AddItemToObject(se, "lr_grid", num_array(r->lr, r->n_lr));
    cJSON_AddItemToObject(se, "baseline_lr_grid", num_array(r->baseline_lr, r->n_baseline_lr));
    cJSON_AddNumberToObject(se, "epochs", r->epochs);
    cJSON_AddNumberToObject(se, "seed", (double)r->seed);
    if (r->bracket_rule)
        cJSON_AddStringToObject(se, "bracket_rule", r->bracket_rule);
    if (r->batching)
        cJSON_AddStringToObject(se, "batching", r->batching);
    cJSON_AddItemToObject(o, "search", se);

    cJSON *seeds = cJSON_CreateArray();
    cJSON *probes = cJSON_CreateArray();
    int any_limited = 0;
    for (int i = 0; i < r->n_seeds; i++) {
        const struct search_result *res = &r->results[i];
        cJSON *so = cJSON_CreateObject();
        cJSON_AddNumberToObject(so, "proj_seed", (double)r->proj_seeds[i]);
        cJSON_AddBoolToObject(so, "reached", res->reached);
        if (res->reached)
            cJSON_AddNumberToObject(so, "d90", (double)res->d90);
        else
            cJSON_AddNullToObject(so, "d90");
        cJSON *b = cJSON_CreateArray();
        cJSON_AddItemToArray(b, cJSON_CreateNumber((double)res->lo));
        cJSON_AddItemToArray(b, cJSON_CreateNumber((double)res->hi));
        cJSON_AddItemToObject(so, "bracket", b);
        cJSON_AddNumberToObject(so, "n_probes", (double)res->n_probes);
        char why[256];
        int lim = search_optimizer_limited(res, why, sizeof why);
        cJSON_AddBoolToObject(so, "optimizer_limited", lim);
        if (lim)
            cJSON_AddStringToObject(so, "optimizer_limited_reason", why);
        any_limited |= lim;
        if (res->n_probes)
            cJSON_AddItemToObject(so, "best_probe",
                                  probe_json(&res->probes[res->best], r->proj_seeds[i]));
        cJSON_AddItemToArray(seeds, so);
        for (size_t k = 0; k < res->n_probes; k++)
            cJSON_AddItemToArray(probes, probe_json(&res->probes[k], r->proj_seeds[i]));
    }
    cJSON_AddItemToObject(o, "seeds", seeds);
    cJSON_AddItemToObject(o, "probes", probes);
    /* every run, in the order they ran (baseline runs have d = 0) */
    cJSON *runs = cJSON_CreateArray();
    long wrong = 0, fired = 0;
    for (size_t i = 0; runs && i < r->n_runs; i++) {
        const struct search_trial *t = &r->runs[i];
        cJSON *ro = trial_json(t);
        if (ro)
            cJSON_AddNumberToObject(ro, "proj_seed", (double)t->seed);
        cJSON_AddItemToArray(runs, ro);
        fired += t->hopeless_step > 0;
        wrong += t->hopeless_step > 0 && t->met_step > 0;
    }
    cJSON_AddItemToObject(o, "runs", runs);
    cJSON *es = cJSON_CreateObject();
    cJSON_AddBoolToObject(es, "enabled", r->early_stop);
    cJSON_AddNumberToObject(es, "eval_every", (double)r->eval_every);
    cJSON_AddNumberToObject(es, "hopeless_fired", (double)fired);
    cJSON_AddNumberToObject(es, "hopeless_wrong", (double)wrong);
    cJSON_AddItemToObject(o, "early_stop", es);
    cJSON_AddBoolToObject(o, "optimizer_limited", any_limited);

    cJSON *mo = cJSON_CreateObject();
    cJSON_AddStringToObject(mo, "path", r->model_path ? r->model_path : "");
    cJSON_AddStringToObject(mo, "checksum", r->model_checksum ? r->model_checksum : "");
    cJSON_AddNumberToObject(mo, "n_params", (double)r->n_params);
    cJSON_AddNumberToObject(mo, "n_tensors", (double)r->n_tensors);
    cJSON_AddItemToObject(o, "model", mo);

    cJSON *da = cJSON_CreateObject();
    cJSON_AddStringToObject(da, "dir", r->data_dir ? r->data_dir : "");
    cJSON_AddItemToObject(da, "train", split_json(r->train_path, r->train_sha256, r->n_train));
    cJSON_AddItemToObject(da, "dev", split_json(r->dev_path, r->dev_sha256, r->n_dev));
    cJSON_AddItemToObject(o, "data", da);

    cJSON_AddNumberToObject(o, "threads", r->threads);
    cJSON *pa = cJSON_CreateObject();
    cJSON_AddStringToObject(pa, "transport", r->transport ? r->transport : "none");
    cJSON_AddNumberToObject(pa, "slots", r->slots > 0 ? r->slots : 1);
    cJSON_AddNumberToObject(pa, "threads_per_run", r->threads);
    cJSON_AddNumberToObject(pa, "extra_runs", (double)r->extra_runs);
    cJSON_AddItemToObject(o, "parallel", pa);
    cJSON_AddNumberToObject(o, "wall_seconds", r->wall_seconds);
    cJSON *notes = cJSON_CreateArray();
    for (int i = 0; i < r->n_notes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(r->notes[i]));
    cJSON_AddItemToObject(o, "notes", notes);
    return o;
}

char *report_measure_text(const struct report_measure *r)
{
    struct report_d90 s;
    report_d90_summary(r, &s);
    struct sbuf b = {0};
    int limited = 0;
    sb_printf(&b, "task %s, metric %s, method %s (scope %s, projection %s, optimizer %s, lr rule %s), model %s\n",
              r->task, r->metric, r->method, r->scope, r->projection ? r->projection : "fastfood",
              r->optimizer ? r->optimizer : "adamw", r->lr_rule ? r->lr_rule : "fixed",
              r->model_checksum);
    sb_printf(&b, "baseline %.4f (%s), target %.4f = %g x baseline; rule: %s\n", r->baseline,
              r->baseline_source, r->target, r->threshold, REPORT_RULE);
    for (int i = 0; i < r->n_seeds; i++) {
        const struct search_result *res = &r->results[i];
        sb_printf(&b, "proj seed %llu: %zu probes:", (unsigned long long)r->proj_seeds[i],
                  res->n_probes);
        for (size_t k = 0; k < res->n_probes; k++) {
            const struct search_probe *p = &res->probes[k];
            sb_printf(&b, " d=%ld:%.4f%s%s%s", p->d, p->best.metric, p->met ? "+" : "",
                      p->best.majority_only ? "(majority-only)" : "",
                      p->best.diverged ? "(diverged)" : "");
        }
        sb_printf(&b, "\n");
        if (res->reached)
            sb_printf(&b, "proj seed %llu: d90 = %ld (bracket %ld..%ld)\n",
                      (unsigned long long)r->proj_seeds[i], res->d90, res->lo, res->hi);
        else if (res->n_probes) {
            sb_printf(&b,
                      "proj seed %llu: no d up to %ld reached %.4f; best probe d=%ld "
                      "metric %.4f\n",
                      (unsigned long long)r->proj_seeds[i], r->dmax, r->target,
                      res->probes[res->best].d, res->probes[res->best].best.metric);
            char why[256];
            if (search_optimizer_limited(res, why, sizeof why)) {
                limited++;
                sb_printf(&b, "proj seed %llu: optimizer-limited: %s\n",
                          (unsigned long long)r->proj_seeds[i], why);
            }
        }
    }
    for (int i = 0; i < r->n_notes; i++)
        sb_printf(&b, "note: %s\n", r->notes[i]);
    if (s.n_reached) {
        if (r->n_seeds > 1)
            sb_printf(&b, "d90 = %g (median of the %d of %d seeds that reached the target; "
                          "min %ld, max %ld)\n",
                      s.median, s.n_reached, r->n_seeds, s.min, s.max);
        else
            sb_printf(&b, "d90 = %g\n", s.median);
        sb_printf(&b, "description length %.0f bytes; sqrt(d90 / m_train) = %.4f (m_train %zu)\n",
                  s.median * 4.0 + 8.0, r->n_train ? sqrt(s.median / (double)r->n_train) : NAN,
                  r->n_train);
    } else if (limited) {
        sb_printf(&b,
                  "d90 not measured: the search is optimizer-limited (the largest probes did "
                  "not train, see above), so this does not show d90 > %ld; try another "
                  "--lr grid, --optimizer adamw-proj or --lr-rule weight (docs/LR.md)\n",
                  r->dmax);
    } else {
        sb_printf(&b, "d90 not reached: no d up to %ld met the target\n", r->dmax);
    }
    if (r->slots > 1)
        sb_printf(&b, "wall time %.1f s, %d slots (%s) x %d threads per run\n", r->wall_seconds,
                  r->slots, r->transport ? r->transport : "none", r->threads);
    else
        sb_printf(&b, "wall time %.1f s, %d threads\n", r->wall_seconds, r->threads);
    return sb_finish(&b);
}

/* ---- CSV ---- */

/* The shortest %g form that reads back as exactly x. */
static void fmt_exact(char *buf, size_t cap, double x)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

char *report_csv_text(const struct search_trial *rows, size_t n, const char *metric_name,
                      double baseline)
{
    struct sbuf b = {0};
    char base[40];
    if (isfinite(baseline))
        fmt_exact(base, sizeof base, baseline);
    else
        snprintf(base, sizeof base, "nan");
    sb_printf(&b, "%s\n", REPORT_CSV_HEADER);
    for (size_t i = 0; i < n; i++) {
        const struct search_trial *t = &rows[i];
        char m[40], lr[40];
        if (isfinite(t->metric))
            fmt_exact(m, sizeof m, t->metric);
        else
            snprintf(m, sizeof m, "nan");
        fmt_exact(lr, sizeof lr, t->lr);
        sb_printf(&b, "%ld,%s,%s,%s,%d,%.3f,%d,%d,%llu,%s\n", t->d, lr, m, metric_name,
                  t->epochs, t->seconds, t->diverged, t->majority_only,
                  (unsigned long long)t->seed, base);
    }
    return sb_finish(&b);
}

enum idim_status report_csv_read(const char *path, struct search_trial **rows, size_t *n,
                                 char *metric_name, size_t cap, double *baseline,
                                 struct idim_err *err)
{
    *rows = NULL;
    *n = 0;
    int old = 0; /* the header without the baseline column (before 0.2) */
    if (baseline)
        *baseline = NAN;
    if (cap)
        metric_name[0] = 0;
    enum idim_status st = IDIM_OK;
    FILE *f = fileio_open_input(path, REPORT_READ_MAX, &st, err);
    if (!f)
        return st;
    char *line = NULL;
    size_t len = 0, ncap = 0;
    long lineno = 0;
    struct search_trial *v = NULL;
    while (getline(&line, &len, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (lineno == 1) {
            old = !strcmp(line, REPORT_CSV_HEADER_OLD);
            if (!old && strcmp(line, REPORT_CSV_HEADER) != 0) {
                st = idim_fail(err, IDIM_ERR_FORMAT,
                               "%s: line 1: expected the header '%s', found '%.60s'", path,
                               REPORT_CSV_HEADER, line);
                break;
            }
            continue;
        }
        if (!line[0])
            continue;
        struct search_trial t;
        memset(&t, 0, sizeof t);
        char mname[64], mbuf[64], bbuf[64] = "nan";
        unsigned long long seed;
        int used = 0, used2 = 0, k = old ? 9 : 10;
        int ok = sscanf(line, "%ld,%lf,%63[^,],%63[^,],%d,%lf,%d,%d,%llu%n", &t.d, &t.lr, mbuf,
                        mname, &t.epochs, &t.seconds, &t.diverged, &t.majority_only, &seed,
                        &used) == 9 && t.d >= 0;
        if (ok && !old)
            ok = sscanf(line + used, ",%63[^,]%n", bbuf, &used2) == 1;
        if (!ok || line[used + used2]) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: line %ld: expected %d comma-separated fields (%s)", path, lineno,
                           k, old ? REPORT_CSV_HEADER_OLD : REPORT_CSV_HEADER);
            break;
        }
        if (baseline && !old) {
            char *bend;
            double bv = strtod(bbuf, &bend);
            if (*bend) {
                st = idim_fail(err, IDIM_ERR_FORMAT, "%s: line %ld: baseline '%s' is not a number",
                               path, lineno, bbuf);
                break;
            }
            if (isfinite(bv))
                *baseline = bv;
        }
        char *end;
        t.metric = strtod(mbuf, &end);
        if (*end) {
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: line %ld: metric '%s' is not a number",
                           path, lineno, mbuf);
            break;
        }
        t.seed = seed;
        if (cap && !metric_name[0])
            snprintf(metric_name, cap, "%s", mname);
        if (*n == ncap) {
            ncap = ncap ? 2 * ncap : 64;
            struct search_trial *q = realloc(v, ncap * sizeof *q);
            if (!q) {
                st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            v = q;
        }
        v[(*n)++] = t;
    }
    if (st == IDIM_OK && ferror(f))
        st = idim_fail(err, IDIM_ERR_IO, "%s: read error", path);
    if (st == IDIM_OK && lineno == 0)
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: empty file (expected the header '%s')", path,
                       REPORT_CSV_HEADER);
    free(line);
    fclose(f);
    if (st != IDIM_OK) {
        free(v);
        *n = 0;
        return st;
    }
    *rows = v;
    return IDIM_OK;
}

/* ---- SVG ---- */

static int cmp_trial_d(const void *a, const void *b)
{
    const struct search_trial *x = a, *y = b;
    if (x->d != y->d)
        return (x->d > y->d) - (x->d < y->d);
    return (x->lr > y->lr) - (x->lr < y->lr);
}

static void xml_text(struct sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '&': sb_printf(b, "&amp;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *s);
        }
    }
}

/* A "nice" tick step (1, 2, 5 x 10^k) giving about 5-8 ticks over span. */
static double nice_step(double span)
{
    double raw = span / 6.0;
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/* One series ready to draw: its points (finite metric, d > 0, sorted by d,
 * the best run per d as a probe reports it) and its lines. */
struct svg_series {
    struct search_trial *pts;
    size_t n;
    const char *label;
    double baseline, target; /* NAN when no baseline */
    double threshold;        /* target = threshold x baseline */
    long d90;                /* 0: none */
    const char *color;
};

static const char *const SVG_COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                         "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
#define N_SVG_COLORS (sizeof SVG_COLORS / sizeof SVG_COLORS[0])

/* The smallest d whose best run meets target (the sweep's d90 rule), or 0. */
static long svg_d90(const struct svg_series *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (search_trial_meets(&s->pts[i], s->target))
            return s->pts[i].d;
    return 0;
}

/* Copies, filters, sorts and reduces one input series; 0 on OOM. */
static int svg_series_init(struct svg_series *out, const struct report_series *in, size_t idx,
                           double threshold)
{
    memset(out, 0, sizeof *out);
    out->pts = malloc((in->n ? in->n : 1) * sizeof *out->pts);
    if (!out->pts)
        return 0;
    for (size_t i = 0; i < in->n; i++)
        if (in->pts[i].d > 0 && isfinite(in->pts[i].metric))
            out->pts[out->n++] = in->pts[i];
    qsort(out->pts, out->n, sizeof *out->pts, cmp_trial_d);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (k > 0 && out->pts[k - 1].d == out->pts[i].d) {
            struct search_trial two[2] = {out->pts[k - 1], out->pts[i]};
            out->pts[k - 1] = two[search_best_trial(two, 2)];
            continue;
        }
        out->pts[k++] = out->pts[i];
    }
    out->n = k;
    out->label = in->label[0] ? in->label : NULL;
    out->baseline = in->baseline;
    out->threshold = isfinite(in->threshold) ? in->threshold : threshold;
    out->target = isfinite(in->baseline) ? out->threshold * in->baseline : NAN;
    out->d90 = in->d90 > 0 ? in->d90 : isfinite(out->target) ? svg_d90(out) : 0;
    out->color = SVG_COLORS[idx % N_SVG_COLORS];
    return 1;
}

struct svg_frame {
    double W, H, ml, mr, mt, mb, pw, ph;
    int e0, e1;        /* decades of the x axis */
    double ylo, yhi, ystep;
};

static double svg_x(const struct svg_frame *f, double d)
{
    return f->ml + (log10(d) - f->e0) / (double)(f->e1 - f->e0) * f->pw;
}

static double svg_y(const struct svg_frame *f, double v)
{
    return f->mt + (f->yhi - v) / (f->yhi - f->ylo) * f->ph;
}

/* Axis ranges over every series' points, baselines, targets and d90s. */
static void svg_frame_init(struct svg_frame *f, const struct svg_series *s, size_t ns,
                           int legend_lines)
{
    f->W = 800, f->ml = 90, f->mr = 40, f->mt = 50;
    f->mb = 70 + 18.0 * legend_lines;
    f->H = 450 + f->mb;
    f->pw = f->W - f->ml - f->mr, f->ph = f->H - f->mt - f->mb;
    double dlo = INFINITY, dhi = 0, ylo = INFINITY, yhi = -INFINITY;
    for (size_t j = 0; j < ns; j++) {
        for (size_t i = 0; i < s[j].n; i++) {
            dlo = fmin(dlo, (double)s[j].pts[i].d), dhi = fmax(dhi, (double)s[j].pts[i].d);
            ylo = fmin(ylo, s[j].pts[i].metric), yhi = fmax(yhi, s[j].pts[i].metric);
        }
        if (s[j].d90 > 0)
            dlo = fmin(dlo, (double)s[j].d90), dhi = fmax(dhi, (double)s[j].d90);
        if (isfinite(s[j].baseline)) {
            ylo = fmin(ylo, fmin(s[j].target, s[j].baseline));
            yhi = fmax(yhi, fmax(s[j].target, s[j].baseline));
        }
    }
    f->e0 = (int)floor(log10(dlo) + 1e-9), f->e1 = (int)ceil(log10(dhi) - 1e-9);
    if (f->e1 <= f->e0)
        f->e1 = f->e0 + 1;
    if (yhi - ylo < 1e-6)
        ylo -= 0.05, yhi += 0.05;
    f->ystep = nice_step(yhi - ylo);
    f->ylo = floor(ylo / f->ystep) * f->ystep;
    f->yhi = ceil(yhi / f->ystep) * f->ystep;
    if (f->yhi - f->ylo < f->ystep)
        f->yhi = f->ylo + f->ystep;
}

/* Background, title, grid, decade ticks (log d), y ticks, frame, labels. */
static void svg_axes(struct sbuf *b, const struct svg_frame *f, const char *title,
                     const char *metric)
{
    sb_printf(b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
              "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
              "font-size=\"13\">\n"
              "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n<title>",
              f->W, f->H, f->W, f->H, f->W, f->H);
    xml_text(b, title ? title : "dev metric against subspace dimension d");
    sb_printf(b, "</title>\n");
    if (title) {
        sb_printf(b, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">",
                  f->ml + f->pw / 2);
        xml_text(b, title);
        sb_printf(b, "</text>\n");
    }
    double bot = f->mt + f->ph;
    sb_printf(b, "<g class=\"x-axis\" stroke=\"#000\">\n");
    for (int e = f->e0; e <= f->e1; e++) {
        double x = svg_x(f, pow(10.0, e));
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                  x, f->mt, x, bot, x, bot, x, bot + 7);
        for (int m = 2; e < f->e1 && m <= 9; m++) {
            double xm = svg_x(f, m * pow(10.0, e));
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xm, bot, xm,
                      bot + 4);
        }
        if (e >= 0 && e <= 5)
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" stroke=\"none\">"
                         "%.0f</text>\n", x, bot + 22, pow(10.0, e));
        else
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" stroke=\"none\">"
                         "10<tspan dy=\"-6\" font-size=\"10\">%d</tspan></text>\n", x, bot + 22, e);
    }
    sb_printf(b, "</g>\n<g class=\"y-axis\" stroke=\"#000\">\n");
    for (double v = f->ylo; v <= f->yhi + f->ystep * 1e-6; v += f->ystep) {
        double y = svg_y(f, v);
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" stroke=\"none\">%.*f</text>\n",
                  f->ml, y, f->ml + f->pw, y, f->ml - 6, y, f->ml, y, f->ml - 10, y + 4,
                  f->ystep < 0.01 ? 3 : f->ystep < 0.1 ? 2 : 1, v);
    }
    sb_printf(b,
              "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
              "stroke=\"#000\"/>\n"
              "<text class=\"x-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">subspace "
              "dimension d (log scale)</text>\n"
              "<text class=\"y-label\" x=\"0\" y=\"0\" text-anchor=\"middle\" "
              "transform=\"translate(24 %.1f) rotate(-90)\">dev ",
              f->ml, f->mt, f->pw, f->ph, f->ml + f->pw / 2, bot + 44, f->mt + f->ph / 2);
    xml_text(b, metric ? metric : "metric");
    sb_printf(b, "</text>\n");
}

/* One series: baseline (dotted), 90% line (dashed), d90 marker, curve,
 * points (filled: meets the target; hollow: majority-only or diverged).
 * With one series the lines carry their values as text; with several the
 * legend does. */
static void svg_series_draw(struct sbuf *b, const struct svg_frame *f, const struct svg_series *s,
                            int single)
{
    const char *c = single ? "#333" : s->color;
    sb_printf(b, "<g class=\"series\">\n");
    if (isfinite(s->baseline)) {
        double yb = svg_y(f, s->baseline), yt = svg_y(f, s->target), x2 = f->ml + f->pw;
        sb_printf(b,
                  "<line class=\"baseline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/>\n"
                  "<line class=\"threshold\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"8 4\"/>\n",
                  f->ml, yb, x2, yb, single ? "#2a7" : c, f->ml, yt, x2, yt, single ? "#d33" : c);
        if (single)
            sb_printf(b,
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#2a7\">baseline "
                      "(full fine-tuning) %.4f</text>\n"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#d33\">%.0f%% of "
                      "baseline = %.4f</text>\n",
                      x2 - 6, yb - 5, s->baseline, x2 - 6, yt + (fabs(yt - yb) < 20 ? 16 : -5),
                      s->threshold * 100.0, s->target);
    }
    if (s->d90 > 0) {
        double x = svg_x(f, (double)s->d90);
        sb_printf(b,
                  "<line class=\"d90\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"%s\" stroke-dasharray=\"4 3\"/>\n",
                  x, f->mt, x, f->mt + f->ph, single ? "#36c" : c);
        if (single)
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#36c\">d90 = %ld</text>\n", x + 4,
                      f->mt + 14, s->d90);
        else
            sb_printf(b, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>\n",
                      x - 5, f->mt, x + 5, f->mt, x, f->mt + 8, c);
    }
    sb_printf(b, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                 "points=\"", c);
    for (size_t i = 0; i < s->n; i++)
        sb_printf(b, "%s%.1f,%.1f", i ? " " : "", svg_x(f, (double)s->pts[i].d),
                  svg_y(f, s->pts[i].metric));
    sb_printf(b, "\"/>\n<g class=\"points\">\n");
    for (size_t i = 0; i < s->n; i++) {
        const struct search_trial *t = &s->pts[i];
        int bad = t->majority_only || t->diverged;
        int met = isfinite(s->target) && search_trial_meets(t, s->target);
        const char *fill = bad ? "white" : single ? (met ? "#36c" : "#999") : met ? c : "white";
        sb_printf(b,
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" stroke=\"%s\">"
                  "<title>d=%ld lr=%g %.4f%s</title></circle>\n",
                  svg_x(f, (double)t->d), svg_y(f, t->metric), fill, c, t->d, t->lr, t->metric,
                  t->majority_only ? " (majority class only)" : t->diverged ? " (diverged)" : "");
    }
    sb_printf(b, "</g>\n</g>\n");
}

/* Legend under the x label: one line per series (colour, label, baseline,
 * d90) and a key to the marks. */
static void svg_legend(struct sbuf *b, const struct svg_frame *f, const struct svg_series *s,
                       size_t ns, int have_base)
{
    double y = f->mt + f->ph + 66, x = f->ml;
    sb_printf(b, "<g class=\"legend\" font-size=\"12\">\n");
    if (ns == 1) {
        x = f->ml + f->pw / 2 - 230;
        sb_printf(b,
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#36c\" stroke=\"#333\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n"
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#999\" stroke=\"#333\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n"
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"white\" stroke=\"#333\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\">majority class only or diverged</text>\n</g>\n",
                  x, y - 4, x + 8, y, have_base ? "above the target" : "run", x + 140, y - 4,
                  x + 148, y, have_base ? "not above" : "", x + 250, y - 4, x + 258, y);
        return;
    }
    for (size_t j = 0; j < ns; j++, y += 18) {
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"2\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" "
                  "stroke=\"%s\"/><text class=\"series-label\" x=\"%.1f\" y=\"%.1f\">",
                  x, y - 4, x + 24, y - 4, s[j].color, x + 12, y - 4, s[j].color, s[j].color,
                  x + 32, y);
        xml_text(b, s[j].label ? s[j].label : "series");
        if (isfinite(s[j].baseline))
            sb_printf(b, ": baseline %.4f, %.0f%% line %.4f", s[j].baseline,
                      s[j].threshold * 100, s[j].target);
        if (s[j].d90 > 0)
            sb_printf(b, ", d90 = %ld", s[j].d90);
        else if (isfinite(s[j].baseline))
            sb_printf(b, ", d90 not reached");
        sb_printf(b, "</text>\n");
    }
    sb_printf(b,
              "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">dotted: baseline (full fine-tuning); "
              "dashed: threshold x baseline; vertical dashed line and triangle: d90; "
              "filled point: above the target</text>\n</g>\n",
              x, y);
}

char *report_svg(const struct report_plot *p)
{
    struct report_series one;
    const struct report_series *in = p->series;
    size_t ns = p->n_series;
    if (ns == 0) { /* the single-series fields */
        memset(&one, 0, sizeof one);
        one.pts = (struct search_trial *)p->pts, one.n = p->n;
        one.baseline = p->baseline, one.threshold = NAN, one.d90 = p->d90;
        in = &one, ns = 1;
    }
    struct svg_series *s = calloc(ns, sizeof *s);
    if (!s)
        return NULL;
    size_t n_pts = 0, ok = 1;
    int have_base = 0;
    for (size_t j = 0; j < ns && ok; j++) {
        ok = (size_t)svg_series_init(&s[j], &in[j], j, p->threshold);
        n_pts += s[j].n;
        have_base |= isfinite(s[j].baseline);
    }
    char *svg = NULL;
    if (ok && n_pts > 0) {
        struct svg_frame f;
        svg_frame_init(&f, s, ns, ns > 1 ? (int)ns : 0);
        struct sbuf b = {0};
        svg_axes(&b, &f, p->title, p->metric_name);
        for (size_t j = 0; j < ns; j++)
            svg_series_draw(&b, &f, &s[j], ns == 1);
        svg_legend(&b, &f, s, ns, have_base);
        sb_printf(&b, "</svg>\n");
        svg = sb_finish(&b);
    }
    for (size_t j = 0; j < ns; j++)
        free(s[j].pts);
    free(s);
    return svg;
}

/* ---- plot inputs ---- */

void report_series_free(struct report_series *s)
{
    free(s->pts);
    memset(s, 0, sizeof *s);
}

static double json_num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int json_true(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One run object (a report probe, or an `idim train` line) as a trial;
 * the metric is under `metric_key`. 0 when it has no positive whole "d". */
static int json_trial(const cJSON *o, const char *metric_key, struct search_trial *t)
{
    memset(t, 0, sizeof *t);
    double d = json_num(o, "d", -1);
    if (!(d >= 1 && d <= 1e15 && d == floor(d)))
        return 0;
    t->d = (long)d;
    t->lr = json_num(o, "lr", NAN);
    t->metric = json_num(o, metric_key, NAN); /* null: no metric */
    /* out-of-range numbers become 0: converting them is undefined (found by
     * fuzz_plot: "proj_seed": 1.2e35) */
    double ep = json_num(o, "epochs", 0), ps = json_num(o, "proj_seed", 0);
    t->epochs = ep >= 0 && ep <= 1e6 ? (int)ep : 0;
    t->seconds = json_num(o, "seconds", 0);
    t->diverged = json_true(o, "diverged");
    t->majority_only = json_true(o, "majority_only");
    t->seed = ps >= 0 && ps < 18446744073709551616.0 ? (uint64_t)ps : 0;
    return 1;
}

/* "task method" from an object naming them, else "". */
static void series_label(struct report_series *s, const cJSON *o)
{
    const char *task = json_str(o, "task"), *method = json_str(o, "method");
    if (task && method)
        snprintf(s->label, sizeof s->label, "%s %s", task, method);
    const char *m = json_str(o, "metric");
    if (m && !s->metric_name[0])
        snprintf(s->metric_name, sizeof s->metric_name, "%s", m);
}

static enum idim_status series_from_report(const cJSON *j, struct report_series *s,
                                           const char *path, struct idim_err *err)
{
    const cJSON *probes = cJSON_GetObjectItemCaseSensitive(j, "probes");
    int n = cJSON_GetArraySize(probes);
    s->pts = malloc((size_t)(n > 0 ? n : 1) * sizeof *s->pts);
    if (!s->pts)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    const cJSON *p;
    cJSON_ArrayForEach(p, probes)
    {
        if (!json_trial(p, "metric", &s->pts[s->n]))
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: probe %zu has no positive whole \"d\"",
                             path, s->n + 1);
        s->n++;
    }
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(j, "baseline");
    s->baseline = json_num(base, "value", NAN);
    s->threshold = json_num(j, "threshold", NAN);
    double d90 = json_num(j, "d90", 0);
    s->d90 = d90 >= 1 ? (long)floor(d90 + 0.5) : 0;
    series_label(s, j);
    return IDIM_OK;
}

/* JSON lines of runs: `idim train` (metric under "best") or `idim sweep
 * --json`, which scripts/sweep-d.sh merges (metric under "metric"). */
static enum idim_status series_from_lines(char *text, struct report_series *s, const char *path,
                                          struct idim_err *err)
{
    size_t cap = 0;
    long lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (!line[strspn(line, " \t\r")])
            continue;
        cJSON *o = cJSON_Parse(line);
        struct search_trial t;
        int ok = cJSON_IsObject(o) &&
                 json_trial(o, cJSON_GetObjectItemCaseSensitive(o, "best") ? "best" : "metric",
                            &t);
        if (ok && s->n == 0)
            series_label(s, o);
        cJSON_Delete(o);
        if (!ok)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: line %ld: expected a JSON object of an `idim train` or `idim "
                             "sweep --json` run with \"d\" and \"best\" or \"metric\"",
                             path, lineno);
        if (s->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct search_trial *q = realloc(s->pts, cap * sizeof *q);
            if (!q)
                return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
            s->pts = q;
        }
        s->pts[s->n++] = t;
    }
    return IDIM_OK;
}

enum idim_status report_series_read(const char *path, struct report_series *s,
                                    struct idim_err *err)
{
    memset(s, 0, sizeof *s);
    s->baseline = s->threshold = NAN;
    char *text = NULL;
    size_t n = 0;
    enum idim_status st = fileio_read_limit(path, REPORT_READ_MAX, &text, &n, err);
    if (st)
        return st;
    const char *p = text + strspn(text, " \t\r\n");
    if (*p != '{') { /* a sweep CSV */
        free(text);
        st = report_csv_read(path, &s->pts, &s->n, s->metric_name, sizeof s->metric_name,
                             &s->baseline, err);
    } else {
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithOpts(p, &end, 0);
        int whole = j && end && !end[strspn(end, " \t\r\n")];
        if (whole && cJSON_GetObjectItemCaseSensitive(j, "probes"))
            st = series_from_report(j, s, path, err);
        else
            st = series_from_lines(text, s, path, err);
        cJSON_Delete(j);
        free(text);
    }
    if (st == IDIM_OK && !s->label[0]) {
        const char *base = strrchr(path, '/');
        snprintf(s->label, sizeof s->label, "%s", base ? base + 1 : path);
    }
    if (st)
        report_series_free(s);
    return st;
}

/* ---- check ---- */

/* A string field of j copied into out (cap bytes); absent: "". */
static enum idim_status summary_str(const cJSON *j, const char *key, char *out, size_t cap,
                                    const char *path, struct idim_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    out[0] = 0;
    if (!v)
        return IDIM_OK;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: \"%s\" must be a string of at most %zu bytes",
                         path, key, cap - 1);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return IDIM_OK;
}

static enum idim_status summary_from_json(const cJSON *j, struct report_summary *s,
                                          const char *path, struct idim_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "d90");
    if (!cJSON_IsObject(j) || !v)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: no \"d90\" field", path);
    if (cJSON_IsNull(v))
        s->d90 = NAN; /* the run did not reach the target */
    else if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: \"d90\" must be a positive number", path);
    else
        s->d90 = v->valuedouble;
    enum idim_status st;
    if ((st = summary_str(j, "task", s->task, sizeof s->task, path, err)) ||
        (st = summary_str(j, "method", s->method, sizeof s->method, path, err)))
        return st;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (m && !cJSON_IsObject(m))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: \"model\" must be an object", path);
    if (m && (st = summary_str(m, "checksum", s->checksum, sizeof s->checksum, path, err)))
        return st;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "threshold");
    s->threshold = NAN;
    if (t && !cJSON_IsNumber(t))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: \"threshold\" must be a number", path);
    if (t)
        s->threshold = t->valuedouble;
    return IDIM_OK;
}

enum idim_status report_read_summary(const char *path, struct report_summary *s,
                                     struct idim_err *err)
{
    memset(s, 0, sizeof *s);
    s->threshold = NAN;
    char *text = NULL;
    size_t n = 0;
    enum idim_status st = fileio_read_limit(path, REPORT_READ_MAX, &text, &n, err);
    if (st)
        return st;
    if (n == 0) {
        free(text);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: empty file (expected JSON with \"d90\")",
                         path);
    }
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    if (!j)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: not valid JSON", path);
    st = summary_from_json(j, s, path, err);
    cJSON_Delete(j);
    return st;
}

enum idim_status report_read_d90(const char *path, double *d90, struct idim_err *err)
{
    struct report_summary s;
    enum idim_status st = report_read_summary(path, &s, err);
    if (!st)
        *d90 = s.d90;
    return st;
}

int report_check_d90(double expected, double actual, double tolerance)
{
    if (isnan(expected) && isnan(actual)) /* both "not reached" */
        return 1;
    if (!(expected > 0) || !isfinite(actual))
        return 0;
    return fabs(actual - expected) / expected <= tolerance;
}
