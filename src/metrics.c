/* metrics.c - the official metric of each task, with the majority-class
 * score beside it.
 *
 * Stage: evaluation. Inputs: gold labels (or regression targets) and
 * predictions. Outputs: struct metrics. Definitions as GLUE's (and
 * scikit-learn / scipy):
 *   accuracy  = correct / n
 *   F1        = 2 TP / (2 TP + FP + FN), class 1 positive (0 when undefined)
 *   MCC       = (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))
 *               (Gorodkin's multiclass form; the binary formula for 2 classes;
 *               0 when a factor of the denominator is 0, as scikit-learn)
 *   Pearson   = cov(x, y) / (sd(x) sd(y)), NAN when a variance is 0
 *   Spearman  = Pearson of the ranks, ties given their average rank. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

#define MAX_CLASSES 64

static double accuracy(const int32_t *y, const int32_t *p, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += y[i] == p[i];
    return n ? (double)ok / (double)n : NAN;
}

static double f1_class1(const int32_t *y, const int32_t *p, size_t n)
{
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        tp += y[i] == 1 && p[i] == 1;
        fp += y[i] != 1 && p[i] == 1;
        fn += y[i] == 1 && p[i] != 1;
    }
    double d = 2 * tp + fp + fn;
    return d > 0 ? 2 * tp / d : 0.0;
}

static double mcc(const int32_t *y, const int32_t *p, size_t n, int K)
{
    double t[MAX_CLASSES] = {0}, q[MAX_CLASSES] = {0}, c = 0, s = (double)n;
    for (size_t i = 0; i < n; i++) {
        if (y[i] >= 0 && y[i] < K)
            t[y[i]] += 1;
        if (p[i] >= 0 && p[i] < K)
            q[p[i]] += 1;
        c += y[i] == p[i];
    }
    double pt = 0, pp = 0, tt = 0;
    for (int k = 0; k < K; k++) {
        pt += q[k] * t[k];
        pp += q[k] * q[k];
        tt += t[k] * t[k];
    }
    double den = (s * s - pp) * (s * s - tt);
    return den > 0 ? (c * s - pt) / sqrt(den) : 0.0;
}

static double pearson(const double *x, const double *y, size_t n)
{
    if (n < 2)
        return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double a = x[i] - mx, b = y[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (sxx <= 0 || syy <= 0)
        return NAN;
    return sxy / sqrt(sxx * syy);
}

struct rk {
    double v;
    size_t i;
};

static int cmp_rk(const void *a, const void *b)
{
    const struct rk *x = a, *y = b;
    if (x->v < y->v)
        return -1;
    if (x->v > y->v)
        return 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Ranks 1..n, ties averaged. Returns -1 on out of memory. */
static int ranks(const double *v, size_t n, double *r)
{
    struct rk *a = malloc((n ? n : 1) * sizeof *a);
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++)
        a[i] = (struct rk){v[i], i};
    qsort(a, n, sizeof *a, cmp_rk);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && a[j + 1].v == a[i].v)
            j++;
        double avg = ((double)i + (double)j) / 2.0 + 1.0;
        for (size_t k = i; k <= j; k++)
            r[a[k].i] = avg;
        i = j + 1;
    }
    free(a);
    return 0;
}

double metric_pearson(const double *x, const double *y, size_t n) { return pearson(x, y, n); }

double metric_spearman(const double *x, const double *y, size_t n)
{
    double *rx = malloc((n ? n : 1) * sizeof *rx), *ry = malloc((n ? n : 1) * sizeof *ry);
    double out = NAN;
    if (rx && ry && !ranks(x, n, rx) && !ranks(y, n, ry))
        out = pearson(rx, ry, n);
    free(rx);
    free(ry);
    return out;
}

static double pick(enum metric_kind m, const struct metrics *o)
{
    switch (m) {
    case METRIC_ACCURACY: return o->accuracy;
    case METRIC_F1: return o->f1;
    case METRIC_MCC: return o->mcc;
    case METRIC_PEARSON: return o->pearson;
    case METRIC_SPEARMAN: return o->spearman;
    }
    return NAN;
}

void task_score(const struct task_spec *spec, const int32_t *labels, const float *targets,
                const int32_t *pred, const float *score, size_t n, struct metrics *out)
{
    out->accuracy = out->f1 = out->mcc = out->pearson = out->spearman = NAN;
    out->primary = out->majority_primary = NAN;
    out->majority_accuracy = out->majority_f1 = out->majority_mcc = NAN;
    out->majority_only = 0;
    if (spec->n_labels == 1) {
        if (!targets || !score || n == 0)
            return;
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        if (x && y) {
            for (size_t i = 0; i < n; i++) {
                x[i] = score[i];
                y[i] = targets[i];
            }
            out->pearson = pearson(x, y, n);
            out->spearman = metric_spearman(x, y, n);
            /* a constant prediction has no correlation: majority_only when all equal */
            out->majority_only = 1;
            for (size_t i = 1; i < n; i++)
                if (x[i] != x[0])
                    out->majority_only = 0;
        }
        free(x);
        free(y);
        out->primary = pick(spec->metric, out);
        return;
    }
    if (n == 0)
        return;
    int K = spec->n_labels < MAX_CLASSES ? spec->n_labels : MAX_CLASSES;
    out->accuracy = accuracy(labels, pred, n);
    if (K == 2)
        out->f1 = f1_class1(labels, pred, n);
    out->mcc = mcc(labels, pred, n, K);
    out->primary = pick(spec->metric, out);
    out->majority_only = 1;
    for (size_t i = 1; i < n; i++)
        if (pred[i] != pred[0])
            out->majority_only = 0;
    /* the majority class of the gold labels (lowest id on a tie), predicted everywhere */
    size_t cnt[MAX_CLASSES] = {0};
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < K)
            cnt[labels[i]]++;
    int maj = 0;
    for (int k = 1; k < K; k++)
        if (cnt[k] > cnt[maj])
            maj = k;
    int32_t *mp = malloc(n * sizeof *mp);
    if (mp) {
        for (size_t i = 0; i < n; i++)
            mp[i] = maj;
        struct metrics m;
        m.accuracy = accuracy(labels, mp, n);
        m.f1 = K == 2 ? f1_class1(labels, mp, n) : NAN;
        m.mcc = mcc(labels, mp, n, K);
        m.pearson = m.spearman = NAN;
        out->majority_primary = pick(spec->metric, &m);
        out->majority_accuracy = m.accuracy;
        out->majority_f1 = m.f1;
        out->majority_mcc = m.mcc;
        free(mp);
    }
}
