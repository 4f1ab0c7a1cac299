/* test_metrics.c - every metric against values computed by hand (the
 * arithmetic is in the comments), plus the MRPC majority-class figures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "task.h"

#define EPS 1e-12

static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= EPS))
        fail_msg("got %.15f, want %.15f", got, want);
}

static struct task_spec spec_of(int n_labels, enum metric_kind m)
{
    struct task_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "t");
    s.n_labels = n_labels;
    s.metric = m;
    return s;
}

/* y = 1 1 1 0 0 0 1 0, p = 1 0 1 0 1 0 1 1:
 * TP = 3 (rows 1,3,7), FN = 1 (row 2), FP = 2 (rows 5,8), TN = 2 (rows 4,6).
 * accuracy = (3+2)/8 = 0.625
 * F1 = 2*3 / (2*3 + 2 + 1) = 6/9 = 0.666...
 * MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))
 *     = (6 - 2) / sqrt(5*4*4*3) = 4 / sqrt(240) = 0.2581988897471611
 * majority class: 4 ones, 4 zeros -> tie -> class 0 (lowest id):
 * accuracy 4/8 = 0.5, F1 = 0 (no positive predicted, TP = 0), MCC = 0. */
static void test_binary(void **state)
{
    (void)state;
    const int32_t y[8] = {1, 1, 1, 0, 0, 0, 1, 0};
    const int32_t p[8] = {1, 0, 1, 0, 1, 0, 1, 1};
    struct task_spec s = spec_of(2, METRIC_MCC);
    struct metrics m;
    task_score(&s, y, NULL, p, NULL, 8, &m);
    assert_close(m.accuracy, 0.625);
    assert_close(m.f1, 6.0 / 9.0);
    assert_close(m.mcc, 0.2581988897471611);
    assert_close(m.primary, 0.2581988897471611);
    assert_true(isnan(m.pearson) && isnan(m.spearman));
    assert_close(m.majority_accuracy, 0.5);
    assert_close(m.majority_f1, 0.0);
    assert_close(m.majority_mcc, 0.0);
    assert_close(m.majority_primary, 0.0);
    assert_int_equal(m.majority_only, 0);
}

/* MRPC dev has 279 positives and 129 negatives (408 rows). Predicting 1
 * everywhere: accuracy 279/408 = 0.6838235294117647, F1 = 2*279/(2*279 + 129)
 * = 558/687 = 0.8122270742358079, MCC 0; majority_only is set. */
static void test_mrpc_majority(void **state)
{
    (void)state;
    static int32_t y[408], p[408];
    for (int i = 0; i < 408; i++) {
        y[i] = i < 279 ? 1 : 0;
        p[i] = 1;
    }
    struct task_spec s = spec_of(2, METRIC_ACCURACY);
    struct metrics m;
    task_score(&s, y, NULL, p, NULL, 408, &m);
    assert_close(m.accuracy, 279.0 / 408.0);
    assert_close(m.f1, 558.0 / 687.0);
    assert_close(m.mcc, 0.0);
    assert_int_equal(m.majority_only, 1);
    assert_close(m.majority_primary, 0.6838235294117647);
    assert_close(m.majority_accuracy, 0.6838235294117647);
    assert_close(m.majority_f1, 0.8122270742358079);
    assert_true(fabs(m.majority_accuracy - 0.684) < 5e-4 && fabs(m.majority_f1 - 0.812) < 5e-4);
}

/* The same on the real MRPC dev labels, when ../shared is present. */
static void test_mrpc_dev_file(void **state)
{
    (void)state;
    struct stat st;
    if (stat("../shared/data/glue/MRPC/dev.tsv", &st) != 0) {
        print_message("skipped: ../shared/data/glue/MRPC/dev.tsv is absent\n");
        skip();
    }
    struct task_spec s;
    struct dataset ds;
    struct idim_err err = {{0}};
    assert_int_equal(task_resolve(&s, "mrpc", "../shared/data/glue/MRPC", &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    static int32_t p[408];
    assert_int_equal(ds.n, 408);
    for (int i = 0; i < 408; i++)
        p[i] = 0; /* the minority class everywhere: the majority figures must not change */
    struct metrics m;
    task_score(&s, ds.labels, NULL, p, NULL, ds.n, &m);
    assert_close(m.accuracy, 129.0 / 408.0);
    assert_close(m.f1, 0.0);
    assert_close(m.majority_accuracy, 279.0 / 408.0);
    assert_close(m.majority_f1, 558.0 / 687.0);
    dataset_free(&ds);
}

/* Three classes, y = 0 1 2 0 1 2, p = 0 2 1 0 0 2.
 * correct c = 3 (rows 1,4,6), s = 6; true counts t = (2,2,2), predicted
 * counts q = (3,1,2). sum q_k t_k = 6+2+4 = 12, sum q^2 = 9+1+4 = 14,
 * sum t^2 = 12. MCC = (3*6 - 12) / sqrt((36-14)(36-12)) = 6 / sqrt(528)
 * = 0.26111648393354675. accuracy 3/6. No F1 with 3 classes. */
static void test_multiclass(void **state)
{
    (void)state;
    const int32_t y[6] = {0, 1, 2, 0, 1, 2};
    const int32_t p[6] = {0, 2, 1, 0, 0, 2};
    struct task_spec s = spec_of(3, METRIC_ACCURACY);
    struct metrics m;
    task_score(&s, y, NULL, p, NULL, 6, &m);
    assert_close(m.accuracy, 0.5);
    assert_close(m.mcc, 0.26111648393354675);
    assert_true(isnan(m.f1));
    /* majority: counts tie (2,2,2) -> class 0: accuracy 2/6 */
    assert_close(m.majority_primary, 2.0 / 6.0);
}

/* x = 1 2 3 4 5, y = 2 4 5 4 5.
 * Pearson: means 3 and 4; dx = -2 -1 0 1 2, dy = -2 0 1 0 1;
 *   sxy = 4+0+0+0+2 = 6, sxx = 10, syy = 4+0+1+0+1 = 6;
 *   r = 6 / sqrt(60) = 0.7745966692414834.
 * Spearman with ties: ranks of x = 1 2 3 4 5; y has 2 -> 1, the two 4s share
 *   ranks 2,3 -> 2.5, the two 5s share 4,5 -> 4.5: ry = 1 2.5 4.5 2.5 4.5,
 *   mean 3, dry = -2 -0.5 1.5 -0.5 1.5; sxy = 4+0.5+0-0.5+3 = 7, sxx = 10,
 *   syy = 4+0.25+2.25+0.25+2.25 = 9; rho = 7 / sqrt(90) = 0.7378647873726218. */
static void test_correlations(void **state)
{
    (void)state;
    const double x[5] = {1, 2, 3, 4, 5}, y[5] = {2, 4, 5, 4, 5};
    assert_close(metric_pearson(x, y, 5), 0.7745966692414834);
    assert_close(metric_spearman(x, y, 5), 0.7378647873726218);
    /* order of the pairs does not matter */
    const double x2[5] = {5, 3, 1, 4, 2}, y2[5] = {5, 5, 2, 4, 4};
    assert_close(metric_spearman(x2, y2, 5), 0.7378647873726218);
    /* a constant has no correlation */
    const double c[5] = {1, 1, 1, 1, 1};
    assert_true(isnan(metric_pearson(x, c, 5)));
    assert_true(isnan(metric_pearson(x, y, 1)));

    /* through task_score as a regression task (stsb-like): score = x, target = y */
    struct task_spec s = spec_of(1, METRIC_PEARSON);
    const float sc[5] = {1, 2, 3, 4, 5}, tg[5] = {2, 4, 5, 4, 5};
    struct metrics m;
    task_score(&s, NULL, tg, NULL, sc, 5, &m);
    assert_true(fabs(m.pearson - 0.7745966692414834) < 1e-7);
    assert_true(fabs(m.spearman - 0.7378647873726218) < 1e-7);
    assert_true(fabs(m.primary - m.pearson) == 0);
    assert_true(isnan(m.accuracy));
    assert_int_equal(m.majority_only, 0);
    s.metric = METRIC_SPEARMAN;
    task_score(&s, NULL, tg, NULL, sc, 5, &m);
    assert_true(fabs(m.primary - 0.7378647873726218) < 1e-7);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(metric_name(METRIC_ACCURACY), "accuracy");
    assert_string_equal(metric_name(METRIC_F1), "f1");
    assert_string_equal(metric_name(METRIC_MCC), "mcc");
    assert_string_equal(metric_name(METRIC_PEARSON), "pearson");
    assert_string_equal(metric_name(METRIC_SPEARMAN), "spearman");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary),       cmocka_unit_test(test_mrpc_majority),
        cmocka_unit_test(test_mrpc_dev_file), cmocka_unit_test(test_multiclass),
        cmocka_unit_test(test_correlations), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
