/* search.c - the d90 search (bracket + log-space bisection over d) and its
 * resumable state file. See include/search.h for the rule and the format.
 * Li et al. 2018 (d90, "metric > 0.9 * baseline"); Aghajanyan et al. 2021. */
#include "search.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int trial_valid(const struct search_trial *t)
{
    return !t->diverged && !t->majority_only && isfinite(t->metric);
}

int search_trial_meets(const struct search_trial *t, double target)
{
    return trial_valid(t) && t->metric > target;
}

/* Rank for "best": valid first, then the higher metric; NaN lowest. */
static int trial_better(const struct search_trial *a, const struct search_trial *b)
{
    int va = trial_valid(a), vb = trial_valid(b);
    if (va != vb)
        return va > vb;
    int fa = isfinite(a->metric) && !a->diverged, fb = isfinite(b->metric) && !b->diverged;
    if (fa != fb)
        return fa > fb;
    if (!fa)
        return 0;
    return a->metric > b->metric;
}

size_t search_best_trial(const struct search_trial *t, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (trial_better(&t[i], &t[best]))
            best = i;
    return best;
}

const struct search_trial *search_state_find(const struct search_state *st, uint64_t seed,
                                             long d, double lr)
{
    if (!st)
        return NULL;
    for (size_t i = 0; i < st->n; i++) {
        const struct search_trial *t = &st->trials[i];
        if (t->seed == seed && t->d == d && t->lr == lr)
            return t;
    }
    return NULL;
}

enum idim_status search_probe_d(const struct search_config *cfg, long d, search_trial_fn fn,
                                void *ctx, struct search_state *st, struct search_probe *out,
                                struct idim_err *err)
{
    struct search_trial trials[SEARCH_MAX_LR];
    int resumed = 1, n = 0;
    for (int i = 0; i < cfg->n_lr; i++) {
        if (cfg->early_stop && n > 0 && search_trial_meets(&trials[n - 1], cfg->target))
            break; /* met: the rest of the grid cannot change that */
        n++;
        const struct search_trial *old = search_state_find(st, cfg->seed, d, cfg->lr[i]);
        if (old) {
            trials[i] = *old;
            continue;
        }
        resumed = 0;
        struct search_trial t;
        memset(&t, 0, sizeof t);
        t.metric = NAN;
        enum idim_status s = fn(ctx, d, cfg->lr[i], cfg->seed, &t, err);
        if (s != IDIM_OK)
            return s;
        t.d = d;
        t.lr = cfg->lr[i];
        t.seed = cfg->seed;
        trials[i] = t;
        if (st) {
            s = search_state_add(st, &t, err);
            if (s != IDIM_OK)
                return s;
        }
        if (idim_interrupted)
            return idim_fail(err, IDIM_ERR_INTERRUPTED,
                             "interrupted after d=%ld lr=%g; finished trials are saved%s%s", d,
                             cfg->lr[i], st && st->path[0] ? " in " : "",
                             st && st->path[0] ? st->path : "");
    }
    memset(out, 0, sizeof *out);
    out->d = d;
    out->best = trials[search_best_trial(trials, (size_t)n)];
    out->met = search_trial_meets(&out->best, cfg->target);
    out->resumed = resumed;
    return IDIM_OK;
}

static enum idim_status probe_into(const struct search_config *cfg, long d, search_trial_fn fn,
                                   void *ctx, struct search_state *st,
                                   struct search_result *res, struct idim_err *err)
{
    if (res->n_probes >= SEARCH_MAX_PROBES)
        return idim_fail(err, IDIM_ERR_INTERNAL, "search: more than %d probes",
                         SEARCH_MAX_PROBES);
    enum idim_status s = search_probe_d(cfg, d, fn, ctx, st, &res->probes[res->n_probes], err);
    if (s != IDIM_OK)
        return s;
    res->n_probes++;
    return IDIM_OK;
}

static void set_best(struct search_result *res)
{
    size_t best = 0;
    for (size_t i = 1; i < res->n_probes; i++)
        if (trial_better(&res->probes[i].best, &res->probes[best].best))
            best = i;
    res->best = best;
}

static enum idim_status not_reached(const struct search_config *cfg, struct search_result *res,
                                    long lo, struct idim_err *err)
{
    set_best(res);
    res->reached = 0;
    res->d90 = 0;
    res->lo = lo;
    res->hi = lo;
    return idim_fail(err, IDIM_ERR_NOT_REACHED,
                     "no d up to %ld met the target %.6g (best: d=%ld metric %.6g)", cfg->dmax,
                     cfg->target, res->probes[res->best].d, res->probes[res->best].best.metric);
}

static enum idim_status reached(struct search_result *res, long lo, long hi)
{
    set_best(res);
    res->reached = 1;
    res->d90 = hi;
    res->lo = lo;
    res->hi = hi;
    return IDIM_OK;
}

enum idim_status search_run(const struct search_config *cfg, search_trial_fn fn, void *ctx,
                            struct search_state *st, struct search_result *res,
                            struct idim_err *err)
{
    memset(res, 0, sizeof *res);
    if (cfg->dmin < 1 || cfg->dmax < cfg->dmin)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "search: need 1 <= dmin <= dmax, found dmin=%ld dmax=%ld", cfg->dmin,
                         cfg->dmax);
    if (!(cfg->precision > 1.0))
        return idim_fail(err, IDIM_ERR_USAGE, "search: --precision must be above 1, found %g",
                         cfg->precision);
    if (cfg->n_lr < 1 || cfg->n_lr > SEARCH_MAX_LR)
        return idim_fail(err, IDIM_ERR_USAGE, "search: need 1 to %d learning rates, found %d",
                         SEARCH_MAX_LR, cfg->n_lr);

    /* 1. Bracket: double from dmin until the target is met, capped at dmax. */
    long lo = 0, hi = 0, d = cfg->dmin;
    for (;;) {
        enum idim_status s = probe_into(cfg, d, fn, ctx, st, res, err);
        if (s != IDIM_OK)
            return s;
        if (res->probes[res->n_probes - 1].met) {
            hi = d;
            break;
        }
        lo = d;
        if (d >= cfg->dmax)
            return not_reached(cfg, res, lo, err);
        d = d > cfg->dmax / 2 ? cfg->dmax : 2 * d;
    }

    /* 2. Bisect in log space between the largest failing and the smallest
     * meeting d. The geometric midpoint is strictly inside (lo, hi), so no
     * d is probed twice. */
    while (lo > 0 && hi - lo > 1 && (double)hi / (double)lo > cfg->precision) {
        long mid = lround(sqrt((double)lo * (double)hi));
        if (mid <= lo)
            mid = lo + 1;
        if (mid >= hi)
            mid = hi - 1;
        enum idim_status s = probe_into(cfg, mid, fn, ctx, st, res, err);
        if (s != IDIM_OK)
            return s;
        if (res->probes[res->n_probes - 1].met)
            hi = mid;
        else
            lo = mid;
    }
    return reached(res, lo, hi);
}

size_t search_log_grid(long dmin, long dmax, size_t n, long *d)
{
    size_t k = 0;
    if (n == 0 || dmin < 1 || dmax < dmin)
        return 0;
    for (size_t i = 0; i < n; i++) {
        double f = n == 1 ? 0.0 : (double)i / (double)(n - 1);
        long v = lround(exp(log((double)dmin) + f * (log((double)dmax) - log((double)dmin))));
        if (i == n - 1)
            v = dmax;
        if (v < dmin)
            v = dmin;
        if (k > 0 && v <= d[k - 1])
            continue;
        d[k++] = v;
    }
    return k;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

double search_median(long *x, size_t n)
{
    qsort(x, n, sizeof *x, cmp_long);
    if (n % 2)
        return (double)x[n / 2];
    return 0.5 * ((double)x[n / 2 - 1] + (double)x[n / 2]);
}

/* ---- state file ---- */

void search_state_free(struct search_state *st)
{
    if (!st)
        return;
    free(st->trials);
    st->trials = NULL;
    st->n = st->cap = 0;
}

static enum idim_status state_push(struct search_state *st, const struct search_trial *t,
                                   struct idim_err *err)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 32;
        struct search_trial *p = realloc(st->trials, cap * sizeof *p);
        if (!p)
            return idim_fail(err, IDIM_ERR_NOMEM, "state: out of memory for %zu trials", cap);
        st->trials = p;
        st->cap = cap;
    }
    st->trials[st->n++] = *t;
    return IDIM_OK;
}

enum idim_status search_state_save(const struct search_state *st, struct idim_err *err)
{
    if (!st->path[0])
        return IDIM_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory writing the state file",
                         st->path);
    fprintf(f, "idim-state 1\nkey %s\n", st->key);
    for (size_t i = 0; i < st->n; i++) {
        const struct search_trial *t = &st->trials[i];
        fprintf(f, "trial %llu %ld %a %a %d %.3f %d %d\n", (unsigned long long)t->seed, t->d,
                t->lr, t->metric, t->epochs, t->seconds, t->diverged, t->majority_only);
    }
    int bad = fclose(f) != 0;
    if (bad || !text) {
        free(text);
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory writing the state file",
                         st->path);
    }
    /* tmp + fsync + rename + fsync of the folder: a finished probe survives
     * kill -9 and power loss. */
    enum idim_status rc = fileio_write_atomic(st->path, text, len, err);
    free(text);
    return rc;
}

enum idim_status search_state_add(struct search_state *st, const struct search_trial *t,
                                  struct idim_err *err)
{
    enum idim_status s = state_push(st, t, err);
    if (s != IDIM_OK)
        return s;
    return search_state_save(st, err);
}

enum idim_status search_state_open(struct search_state *st, const char *path, const char *key,
                                   struct idim_err *err)
{
    memset(st, 0, sizeof *st);
    if (strlen(key) >= sizeof st->key || strchr(key, '\n'))
        return idim_fail(err, IDIM_ERR_INTERNAL, "state: key too long or multi-line");
    snprintf(st->key, sizeof st->key, "%s", key);
    if (!path || !path[0])
        return IDIM_OK;
    if (strlen(path) >= sizeof st->path)
        return idim_fail(err, IDIM_ERR_USAGE, "--state: path too long");
    snprintf(st->path, sizeof st->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) /* fresh run: write the key now, so an unwritable
                                path fails before any training */
            return search_state_save(st, err);
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot read the state file: %s", path,
                         strerror(errno));
    }
    enum idim_status s = IDIM_OK;
    char *line = NULL;
    size_t len = 0;
    long lineno = 0;
    int have_key = 0;
    while (getline(&line, &len, f) >= 0) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (lineno == 1) {
            if (strcmp(line, "idim-state 1") != 0) {
                s = idim_fail(err, IDIM_ERR_FORMAT,
                              "%s: line 1: expected 'idim-state 1', found '%.40s'", path, line);
                break;
            }
            continue;
        }
        if (!strncmp(line, "key ", 4)) {
            const char *k = line + 4;
            if (strcmp(k, key) != 0) {
                size_t i = 0;
                while (k[i] && k[i] == key[i])
                    i++;
                size_t from = i > 20 ? i - 20 : 0;
                s = idim_fail(err, IDIM_ERR_USAGE,
                              "%s: this state file belongs to a different command (it was "
                              "written for '...%.60s', this run is '...%.60s'); use another "
                              "--state file or delete it",
                              path, k + from, key + from);
                break;
            }
            have_key = 1;
            continue;
        }
        if (!strncmp(line, "trial ", 6)) {
            struct search_trial t;
            memset(&t, 0, sizeof t);
            unsigned long long seed;
            int used = 0;
            if (!have_key ||
                sscanf(line + 6, "%llu %ld %la %la %d %lf %d %d%n", &seed, &t.d, &t.lr,
                       &t.metric, &t.epochs, &t.seconds, &t.diverged, &t.majority_only,
                       &used) != 8 ||
                line[6 + used] != 0 || t.d < 0) {
                s = idim_fail(err, IDIM_ERR_FORMAT, "%s: line %ld: malformed trial record",
                              path, lineno);
                break;
            }
            t.seed = seed;
            s = state_push(st, &t, err);
            if (s != IDIM_OK)
                break;
            continue;
        }
        s = idim_fail(err, IDIM_ERR_FORMAT, "%s: line %ld: unknown record '%.20s'", path, lineno,
                      line);
        break;
    }
    if (s == IDIM_OK && lineno > 0 && !have_key)
        s = idim_fail(err, IDIM_ERR_FORMAT, "%s: no 'key' line", path);
    free(line);
    fclose(f);
    if (s != IDIM_OK)
        search_state_free(st);
    return s;
}
