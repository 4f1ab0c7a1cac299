/* search.c - the d90 search (bracket + log-space bisection over d) and its
 * resumable state file. See include/search.h for the rule and the format.
 * Li et al. 2018 (d90, "metric > 0.9 * baseline"); Aghajanyan et al. 2021. */
#include "search.h"
#include "fileio.h"
#include "lebytes.h"
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int trial_valid(const struct search_trial *t)
{
    return !t->diverged && !t->majority_only && isfinite(t->metric);
}

int search_optimizer_limited(const struct search_result *res, char *why, size_t cap)
{
    if (cap)
        why[0] = 0;
    if (res->reached || res->n_probes == 0)
        return 0;
    const struct search_probe *top = &res->probes[0], *best = &res->probes[res->best];
    for (size_t k = 1; k < res->n_probes; k++)
        if (res->probes[k].d > top->d)
            top = &res->probes[k];
    const struct search_trial *t = &top->best;
    if (t->diverged) {
        snprintf(why, cap, "the largest probe (d=%ld) diverged", top->d);
        return 1;
    }
    if (t->majority_only) {
        snprintf(why, cap, "the largest probe (d=%ld) predicts a single class", top->d);
        return 1;
    }
    if (t->n_curve >= 2 && isfinite(t->loss_curve[0]) &&
        !(t->loss_curve[t->n_curve - 1] < 0.9f * t->loss_curve[0])) {
        snprintf(why, cap,
                 "the training loss of the largest probe (d=%ld) fell by less than 10%% "
                 "(%.4g -> %.4g)",
                 top->d, (double)t->loss_curve[0], (double)t->loss_curve[t->n_curve - 1]);
        return 1;
    }
    if (top != best && isfinite(best->best.metric) && t->metric < best->best.metric - 0.02) {
        snprintf(why, cap,
                 "the largest probe (d=%ld, %.4f) scores more than 0.02 below a smaller one "
                 "(d=%ld, %.4f)",
                 top->d, t->metric, best->d, best->best.metric);
        return 1;
    }
    return 0;
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

/* The doubling grid: dmin, 2 dmin, ... while below dmax, then dmax. */
static size_t doubling_grid(long dmin, long dmax, long *g, size_t cap)
{
    size_t n = 0;
    for (long d = dmin; n < cap; d = d > dmax / 2 ? dmax : 2 * d) {
        g[n++] = d;
        if (d >= dmax)
            break;
    }
    return n;
}

/* The probe of d in res (NULL when not probed yet). */
static const struct search_probe *probed(const struct search_result *res, long d)
{
    for (size_t i = 0; i < res->n_probes; i++)
        if (res->probes[i].d == d)
            return &res->probes[i];
    return NULL;
}

/* A walk on the doubling grid: the search's arguments and the grid. */
struct walk {
    const struct search_config *cfg;
    search_trial_fn fn;
    void *ctx;
    struct search_state *st;
    struct search_result *res;
    struct idim_err *err;
    long g[SEARCH_MAX_PROBES];
    size_t n;
};

/* met(d), probing d when res does not have it yet. */
static enum idim_status grid_met(struct walk *w, long d, int *met)
{
    const struct search_probe *p = probed(w->res, d);
    if (!p) {
        enum idim_status s = probe_into(w->cfg, d, w->fn, w->ctx, w->st, w->res, w->err);
        if (s != IDIM_OK)
            return s;
        p = &w->res->probes[w->res->n_probes - 1];
    }
    *met = p->met;
    return IDIM_OK;
}

/* The reference bracket: G upward from dmin until a probe meets. *hi = 0
 * when none does (*lo: the last d probed). */
static enum idim_status bracket_up(struct walk *w, long *lo, long *hi)
{
    *lo = *hi = 0;
    for (size_t k = 0; k < w->n; k++) {
        int met;
        enum idim_status s = grid_met(w, w->g[k], &met);
        if (s != IDIM_OK)
            return s;
        if (met) {
            *hi = w->g[k];
            return IDIM_OK;
        }
        *lo = w->g[k];
    }
    return IDIM_OK;
}

/* A failing probe that looks like the optimizer broke down rather than a
 * subspace too small: diverged, one class only, or more than 0.02 below a
 * smaller probe (the signs search_optimizer_limited uses). */
static int broke_down(const struct search_result *res, const struct search_probe *p)
{
    const struct search_trial *t = &p->best;
    if (t->diverged || t->majority_only || !isfinite(t->metric))
        return 1;
    for (size_t i = 0; i < res->n_probes; i++) {
        const struct search_trial *u = &res->probes[i].best;
        if (res->probes[i].d < p->d && trial_valid(u) && t->metric < u->metric - 0.02)
            return 1;
    }
    return 0;
}

static enum idim_status bracket_gallop(struct walk *w, long *lo, long *hi)
{
    const long *g = w->g;
    /* start: the point nearest the geometric middle, in log distance */
    double mid = 0.5 * (log((double)w->cfg->dmin) + log((double)w->cfg->dmax));
    size_t s0 = 0;
    for (size_t k = 1; k < w->n; k++)
        if (fabs(log((double)g[k]) - mid) < fabs(log((double)g[s0]) - mid))
            s0 = k;
    int met;
    enum idim_status s = grid_met(w, g[s0], &met);
    if (s != IDIM_OK)
        return s;
    *lo = *hi = 0;
    if (met) { /* down until a probe fails */
        size_t k = s0;
        while (k > 0) {
            if ((s = grid_met(w, g[k - 1], &met)) != IDIM_OK)
                return s;
            if (!met)
                break;
            k--;
        }
        *lo = k > 0 ? g[k - 1] : 0;
        *hi = g[k];
        return IDIM_OK;
    }
    /* up until a probe meets; a breakdown on the way sends the search back
     * to the reference's path */
    for (size_t k = s0;;) {
        if (broke_down(w->res, probed(w->res, g[k])) || k + 1 >= w->n)
            break;
        k++;
        if ((s = grid_met(w, g[k], &met)) != IDIM_OK)
            return s;
        if (met) {
            *lo = g[k - 1];
            *hi = g[k];
            return IDIM_OK;
        }
    }
    return bracket_up(w, lo, hi);
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

    /* 1. Bracket on the doubling grid (see enum search_bracket). */
    long lo = 0, hi = 0;
    struct walk w = {cfg, fn, ctx, st, res, err, {0}, 0};
    w.n = doubling_grid(cfg->dmin, cfg->dmax, w.g, SEARCH_MAX_PROBES);
    enum idim_status sb = cfg->bracket == SEARCH_BRACKET_GALLOP ? bracket_gallop(&w, &lo, &hi)
                                                                : bracket_up(&w, &lo, &hi);
    if (sb != IDIM_OK)
        return sb;
    if (!hi)
        return not_reached(cfg, res, lo, err);

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

/* ---- state file (layout: include/search.h) ---- */

#define ST_MAGIC "IDIMSTAT"
#define ST_VERSION 3u
#define ST_HDR 32u
#define ST_TRIAL2 80u /* version 2: no curves */
#define ST_CURVES (8u + 8u * SEARCH_MAX_CURVE)
#define ST_TRIAL (ST_TRIAL2 + ST_CURVES)
#define ST_MAX_TRIALS 1000000u

void search_state_free(struct search_state *st)
{
    if (!st)
        return;
    free(st->trials);
    free(st->ckpt);
    st->trials = NULL;
    st->ckpt = NULL;
    st->n = st->cap = 0;
    st->ckpt_len = 0;
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

size_t search_state_encode(const struct search_state *st, unsigned char *buf)
{
    size_t kl = strlen(st->key);
    size_t n = ST_HDR + kl + ST_TRIAL * st->n + st->ckpt_len + 8;
    if (!buf)
        return n;
    memset(buf, 0, n);
    memcpy(buf, ST_MAGIC, 8);
    le_put32(buf + 8, ST_VERSION);
    le_put32(buf + 12, (uint32_t)st->threads);
    le_put32(buf + 16, (uint32_t)kl);
    le_put32(buf + 20, (uint32_t)st->n);
    le_put64(buf + 24, st->ckpt_len);
    memcpy(buf + ST_HDR, st->key, kl);
    unsigned char *p = buf + ST_HDR + kl;
    for (size_t i = 0; i < st->n; i++, p += ST_TRIAL) {
        const struct search_trial *t = &st->trials[i];
        le_put64(p, t->seed);
        le_put64(p + 8, (uint64_t)t->d);
        le_putf64(p + 16, t->lr);
        le_putf64(p + 24, t->metric);
        le_putf64(p + 32, t->seconds);
        le_put64(p + 40, (uint64_t)t->steps);
        le_put64(p + 48, (uint64_t)t->total_steps);
        le_put64(p + 56, (uint64_t)t->met_step);
        le_put64(p + 64, (uint64_t)t->hopeless_step);
        le_put32(p + 72, (uint32_t)t->epochs);
        le_put32(p + 76, (uint32_t)((t->diverged ? 1u : 0u) | (t->majority_only ? 2u : 0u) |
                                 ((uint32_t)t->outcome << 2)));
        int nc = t->n_curve < 0 ? 0 : t->n_curve > SEARCH_MAX_CURVE ? SEARCH_MAX_CURVE : t->n_curve;
        le_put32(p + 80, (uint32_t)nc);
        for (int e = 0; e < nc; e++) {
            uint32_t l, m;
            memcpy(&l, &t->loss_curve[e], 4);
            memcpy(&m, &t->metric_curve[e], 4);
            le_put32(p + 88 + 4 * (size_t)e, l);
            le_put32(p + 88 + 4 * (SEARCH_MAX_CURVE + (size_t)e), m);
        }
    }
    if (st->ckpt_len)
        memcpy(p, st->ckpt, st->ckpt_len);
    le_put64(buf + n - 8, le_fnv1a64(buf, n - 8));
    return n;
}

enum idim_status search_state_save(const struct search_state *st, struct idim_err *err)
{
    if (!st->path[0])
        return IDIM_OK;
    size_t n = search_state_encode(st, NULL);
    unsigned char *buf = malloc(n);
    if (!buf)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory writing the state file",
                         st->path);
    search_state_encode(st, buf);
    /* atomic replace (fileio_write_atomic): a finished probe or a checkpoint
     * survives kill -9 and power loss. */
    enum idim_status rc = fileio_write_atomic(st->path, buf, n, err);
    free(buf);
    return rc;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum idim_status search_state_add(struct search_state *st, const struct search_trial *t,
                                  struct idim_err *err)
{
    if (st->path[0])
        st->saved_at = mono_now();
    enum idim_status s = state_push(st, t, err);
    if (s != IDIM_OK)
        return s;
    free(st->ckpt); /* the run finished: its checkpoint is spent */
    st->ckpt = NULL;
    st->ckpt_len = 0;
    return search_state_save(st, err);
}

enum idim_status search_state_set_ckpt(struct search_state *st, const unsigned char *ckpt,
                                       size_t len, struct idim_err *err)
{
    if (len != st->ckpt_len) {
        unsigned char *p = realloc(st->ckpt, len);
        if (!p)
            return idim_fail(err, IDIM_ERR_NOMEM, "state: out of memory for a checkpoint");
        st->ckpt = p;
        st->ckpt_len = len;
    }
    memcpy(st->ckpt, ckpt, len);
    st->saved_at = mono_now();
    return search_state_save(st, err);
}

#define TRY(x)                                                                               \
    do {                                                                                     \
        enum idim_status s_ = (x);                                                           \
        if (s_ != IDIM_OK)                                                                   \
            return s_;                                                                       \
    } while (0)

/* The curves of a version-3 trial record at p (offset off): epochs kept,
 * mean training loss (NaN or >= 0) and dev metric (NaN or in [-1, 1]) per
 * epoch, unused entries zero. */
static enum idim_status parse_curves(const unsigned char *p, size_t off, const char *path,
                                     struct search_trial *t, struct idim_err *err)
{
    struct le_check k = {path, 0, err};
    uint32_t nc = le_get32(p + 80);
    TRY(le_check_u(&k, off + 80, "trial curve length", nc, 0,
                   t->epochs < SEARCH_MAX_CURVE ? (uint64_t)t->epochs : SEARCH_MAX_CURVE));
    TRY(le_check_u(&k, off + 84, "reserved", le_get32(p + 84), 0, 0));
    for (size_t e = 0; e < SEARCH_MAX_CURVE; e++) {
        int used = e < nc;
        for (int c = 0; c < 2; c++) {
            size_t o = 88 + 4 * (c * (size_t)SEARCH_MAX_CURVE + e);
            uint32_t u = le_get32(p + o);
            float x;
            memcpy(&x, &u, 4);
            TRY(le_check_f(&k, off + o, c ? "trial metric curve" : "trial loss curve", x,
                           used ? (c ? -1 : 0) : 0, used ? (c ? 1 : 1e30) : 0, used));
            if (used)
                (c ? t->metric_curve : t->loss_curve)[e] = x;
        }
    }
    t->n_curve = (int)nc;
    return IDIM_OK;
}

static enum idim_status parse_trial(const unsigned char *p, size_t off, const char *path,
                                    struct search_trial *t, struct idim_err *err)
{
    struct le_check k = {path, 0, err};
    memset(t, 0, sizeof *t);
    t->seed = le_get64(p);
    uint64_t d = le_get64(p + 8);
    TRY(le_check_u(&k, off + 8, "trial d", d, 0, (uint64_t)1 << 40));
    t->d = (long)d;
    t->lr = le_getf64(p + 16);
    TRY(le_check_f(&k, off + 16, "trial lr", t->lr, 1e-30, 1e30, 0));
    uint32_t flags = le_get32(p + 76);
    TRY(le_check_u(&k, off + 76, "trial flags", flags, 0, 15));
    t->diverged = (flags & 1u) != 0;
    t->majority_only = (flags & 2u) != 0;
    t->outcome = (int)(flags >> 2);
    if (t->diverged != (t->outcome == 3))
        return le_bad(&k, off + 76, "trial flags", "diverged exactly when the outcome is",
                      "a mismatch");
    t->metric = le_getf64(p + 24);
    /* every metric idim computes (accuracy, F1, MCC, Pearson, Spearman) lies in
     * [-1, 1]; NaN only when the run diverged before any evaluation */
    TRY(le_check_f(&k, off + 24, "trial metric", t->metric, -1, 1, t->diverged));
    t->seconds = le_getf64(p + 32);
    TRY(le_check_f(&k, off + 32, "trial seconds", t->seconds, 0, 1e12, 0));
    uint64_t total = le_get64(p + 48), steps = le_get64(p + 40);
    TRY(le_check_u(&k, off + 48, "trial total steps", total, 0, (uint64_t)1 << 40));
    TRY(le_check_u(&k, off + 40, "trial steps", steps, 0, total));
    TRY(le_check_u(&k, off + 56, "trial met step", le_get64(p + 56), 0, steps));
    TRY(le_check_u(&k, off + 64, "trial hopeless step", le_get64(p + 64), 0, steps));
    t->total_steps = (long)total;
    t->steps = (long)steps;
    t->met_step = (long)le_get64(p + 56);
    t->hopeless_step = (long)le_get64(p + 64);
    uint32_t ep = le_get32(p + 72);
    TRY(le_check_u(&k, off + 72, "trial epochs", ep, 0, 256));
    t->epochs = (int)ep;
    return IDIM_OK;
}

enum idim_status search_state_parse(struct search_state *st, const unsigned char *buf,
                                    size_t len, const char *path, struct idim_err *err)
{
    struct le_check k = {path, 0, err};
    if (len < 8 || memcmp(buf, ST_MAGIC, 8) != 0)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: byte 0: not an idim state file (magic %s expected); states of "
                         "idim 0.1 (text, 'idim-state 1') cannot be resumed: start afresh",
                         path, ST_MAGIC);
    if (len < ST_HDR + 8)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: byte %zu: the file ends inside the header: %zu bytes, a header "
                         "needs %u",
                         path, len, len, ST_HDR + 8);
    /* version 2 (idim before the curves were kept) is read too: its trials
     * have no curves, so the optimizer-limited rule skips its loss test */
    uint32_t version = le_get32(buf + 8);
    TRY(le_check_u(&k, 8, "format version", version, 2, ST_VERSION));
    size_t rec = version == 2 ? ST_TRIAL2 : ST_TRIAL;
    if (le_get64(buf + len - 8) != le_fnv1a64(buf, len - 8))
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: byte %zu: checksum mismatch (the file is corrupt or was edited)",
                         path, len - 8);
    uint32_t threads = le_get32(buf + 12), kl = le_get32(buf + 16), n = le_get32(buf + 20);
    uint64_t cl = le_get64(buf + 24);
    TRY(le_check_u(&k, 12, "threads", threads, 1, 1024));
    TRY(le_check_u(&k, 16, "key length", kl, 1, SEARCH_KEY_MAX - 1));
    TRY(le_check_u(&k, 20, "trial count", n, 0, ST_MAX_TRIALS));
    TRY(le_check_u(&k, 24, "checkpoint length", cl, 0, len));
    uint64_t want = (uint64_t)ST_HDR + kl + (uint64_t)rec * n + cl + 8;
    if (want != len) {
        char e[64], f[32];
        snprintf(e, sizeof e, "%llu bytes for that key, trials and checkpoint",
                 (unsigned long long)want);
        snprintf(f, sizeof f, "%zu", len);
        return le_bad(&k, 16, "file size", e, f);
    }
    for (uint32_t i = 0; i < kl; i++)
        if (buf[ST_HDR + i] < 0x20 || buf[ST_HDR + i] > 0x7e)
            return le_bad(&k, ST_HDR + i, "key", "printable ASCII", "another byte");
    st->threads = (int)threads;
    memcpy(st->file_key, buf + ST_HDR, kl);
    st->file_key[kl] = 0;
    size_t off = ST_HDR + kl;
    for (uint32_t i = 0; i < n; i++, off += rec) {
        struct search_trial t;
        TRY(parse_trial(buf + off, off, path, &t, err));
        if (version >= 3)
            TRY(parse_curves(buf + off, off, path, &t, err));
        TRY(state_push(st, &t, err));
    }
    if (cl) {
        TRY(train_ckpt_parse(buf + off, (size_t)cl, path, off, NULL, err));
        st->ckpt = malloc((size_t)cl);
        if (!st->ckpt)
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
        memcpy(st->ckpt, buf + off, (size_t)cl);
        st->ckpt_len = (size_t)cl;
    }
    return IDIM_OK;
}

enum idim_status search_state_open(struct search_state *st, const char *path, const char *key,
                                   int threads, struct idim_err *err)
{
    memset(st, 0, sizeof *st);
    if (strlen(key) >= sizeof st->key || strlen(key) == 0 || strchr(key, '\n'))
        return idim_fail(err, IDIM_ERR_INTERNAL, "state: key empty, too long or multi-line");
    snprintf(st->key, sizeof st->key, "%s", key);
    st->threads = threads;
    if (!path || !path[0])
        return IDIM_OK;
    if (strlen(path) >= sizeof st->path)
        return idim_fail(err, IDIM_ERR_USAGE, "--state: path too long");
    snprintf(st->path, sizeof st->path, "%s", path);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        st->saved_at = mono_now();
        return search_state_save(st, err);
    } /* fresh run: write the key now, so an
                                              unwritable path fails before any training */
    char *text = NULL;
    size_t len = 0;
    enum idim_status s = fileio_read_limit(path, SEARCH_STATE_MAX_BYTES, &text, &len, err);
    if (s != IDIM_OK)
        return s;
    s = search_state_parse(st, (const unsigned char *)text, len, path, err);
    free(text);
    if (s == IDIM_OK && strcmp(st->file_key, key) != 0) {
        const char *k = st->file_key;
        size_t i = 0;
        while (k[i] && k[i] == key[i])
            i++;
        size_t from = i > 20 ? i - 20 : 0;
        s = idim_fail(err, IDIM_ERR_USAGE,
                      "%s: this state file belongs to a different command (it was written "
                      "for '...%.60s', this run is '...%.60s'); use another --state file or "
                      "delete it",
                      path, k + from, key + from);
    }
    if (s != IDIM_OK) {
        search_state_free(st);
        return s;
    }
    st->threads_file = st->threads;
    st->threads = threads;
    return IDIM_OK;
}
