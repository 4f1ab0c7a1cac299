/* test_pretrain.c - dynamic masking statistics (pretrain_mask): on 200,000
 * tokens, the selected share is 15% and the mask / random / kept split is
 * 80 / 10 / 10 within 5 binomial standard deviations; [CLS], [SEP] and
 * padding are never selected; positions ascend and labels are the original
 * ids; the max_M cap and the one-token fallback hold; the same generator
 * state gives the same masks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pretrain.h"

enum { N = 200000, V = 30000, CLS = 101, SEP = 102, PAD = 0, MASK = 103 };

static const struct pretrain_specials SP = {CLS, SEP, PAD, MASK, V};

/* Blocks of 64: [CLS] 50 words [SEP] padding, word ids 1000..V-1. */
static void fill(int32_t *ids, int n_ids, uint64_t seed)
{
    struct rng r;
    rng_init(&r, seed);
    for (int n = 0; n < n_ids; n++) {
        int t = n % 64;
        ids[n] = t == 0 ? CLS : t == 51 ? SEP : t > 51 ? PAD : 1000 + (int32_t)rng_below(&r, V - 1000);
    }
}

/* |x - n p| <= 5 sqrt(n p (1 - p)) */
static void within(const char *what, long x, long n, double p)
{
    double mean = (double)n * p, sd = sqrt((double)n * p * (1.0 - p));
    printf("  %s: %ld of %ld (%.4f, expected %.4f +- %.4f)\n", what, x, n, (double)x / n, p,
           5.0 * sd / n);
    assert_true(fabs((double)x - mean) <= 5.0 * sd);
}

static void test_statistics(void **s)
{
    (void)s;
    int32_t *ids = malloc(N * 4), *orig = malloc(N * 4), *pos = malloc(N * 4),
            *lab = malloc(N * 4);
    fill(ids, N, 1);
    memcpy(orig, ids, N * 4);
    struct rng r;
    rng_init(&r, 7);
    int M = pretrain_mask(ids, N, &SP, 0.15, &r, pos, lab, N);
    long eligible = 0, n_mask = 0, n_rand = 0, n_kept = 0;
    for (int n = 0; n < N; n++)
        eligible += orig[n] != CLS && orig[n] != SEP && orig[n] != PAD;
    within("selected", M, eligible, 0.15);
    for (int k = 0; k < M; k++) {
        int n = pos[k];
        if (k > 0)
            assert_true(pos[k] > pos[k - 1]);
        assert_int_equal(lab[k], orig[n]);
        assert_true(orig[n] != CLS && orig[n] != SEP && orig[n] != PAD);
        if (ids[n] == MASK)
            n_mask++;
        else if (ids[n] == orig[n])
            n_kept++;
        else
            n_rand++;
    }
    /* a random replacement equals the original with probability 1/V */
    within("mask token", n_mask, M, 0.8);
    within("random token", n_rand, M, 0.1 * (1.0 - 1.0 / V));
    within("kept", n_kept, M, 0.1 + 0.1 / V);
    /* nothing else changed */
    int k = 0;
    for (int n = 0; n < N; n++) {
        if (k < M && pos[k] == n) {
            k++;
            continue;
        }
        assert_int_equal(ids[n], orig[n]);
    }
    /* same state, same masks */
    int32_t *ids2 = malloc(N * 4), *pos2 = malloc(N * 4), *lab2 = malloc(N * 4);
    memcpy(ids2, orig, N * 4);
    rng_init(&r, 7);
    assert_int_equal(pretrain_mask(ids2, N, &SP, 0.15, &r, pos2, lab2, N), M);
    assert_memory_equal(ids, ids2, N * 4);
    assert_memory_equal(pos, pos2, (size_t)M * 4);
    free(ids), free(orig), free(pos), free(lab), free(ids2), free(pos2), free(lab2);
}

static void test_cap_and_fallback(void **s)
{
    (void)s;
    int32_t ids[64], pos[64], lab[64];
    fill(ids, 64, 3);
    struct rng r;
    rng_init(&r, 1);
    /* cap: p = 0.9 selects ~45 of 50, at most 5 kept */
    assert_int_equal(pretrain_mask(ids, 64, &SP, 0.9, &r, pos, lab, 5), 5);
    /* fallback: p tiny still masks exactly one eligible token */
    fill(ids, 64, 3);
    int hits = 0;
    for (int i = 0; i < 50; i++) {
        int32_t w[64];
        memcpy(w, ids, sizeof w);
        int M = pretrain_mask(w, 64, &SP, 1e-9, &r, pos, lab, 64);
        assert_int_equal(M, 1);
        assert_true(pos[0] >= 1 && pos[0] <= 50);
        hits += w[pos[0]] != ids[pos[0]];
    }
    assert_true(hits > 30); /* ~90% are changed */
    /* only specials: nothing to mask */
    int32_t sp[4] = {CLS, SEP, PAD, PAD};
    assert_int_equal(pretrain_mask(sp, 4, &SP, 0.5, &r, pos, lab, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_cap_and_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
