/* test_theta.c - the theta file reader (docs/THETA.md, issue 12 finding 5):
 * a file written by theta_save reads back field for field; every field set
 * to a value the writer never produces - and re-checksummed, so only the
 * field check can catch it - is refused with IDIM_ERR_FORMAT naming the
 * field's byte offset; a flipped byte fails the checksum; a folder is
 * IDIM_ERR_IO (finding 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "theta.h"

#define D 10

static char dir[64];
static unsigned char good[136 + 4 * D + 8];

/* FNV-1a 64, written here from its definition, to re-seal corrupted files */
static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void seal(unsigned char *b, size_t n)
{
    uint64_t h = fnv(b, n - 8);
    for (int i = 0; i < 8; i++)
        b[n - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void put(unsigned char *b, size_t off, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        b[off + i] = (unsigned char)(v >> (8 * i));
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/idim-test-theta.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    float theta[D];
    for (int i = 0; i < D; i++)
        theta[i] = 0.25f * (float)i - 1.0f;
    struct theta_file tf = {
        .mode = TRAIN_SAID, .scope = FF_SCOPE_TENSOR, .grad_compat = 1, .d = D, .n_tensors = 3,
        .n_labels = 2, .max_len = 64, .seed = 7, .proj_seed = 9, .metric = 0.75, .n_dev = 40,
        .batch = 32, .projection = PROJ_DENSE, .norm = PROJ_NORM_ROWS, .theta = theta};
    memcpy(tf.model_checksum, "0123456789abcdef", 17);
    snprintf(tf.task, sizeof tf.task, "sst2");
    char path[128];
    snprintf(path, sizeof path, "%s/t.theta", dir);
    struct idim_err err;
    if (theta_save(path, &tf, &err) != IDIM_OK)
        return -1;
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(good, 1, sizeof good + 1, f) : 0;
    if (f)
        fclose(f);
    return n == sizeof good ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char path[128];
    snprintf(path, sizeof path, "%s/t.theta", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
    return 0;
}

static void test_roundtrip(void **st)
{
    (void)st;
    struct theta_file tf;
    struct idim_err err = {{0}};
    char path[128];
    snprintf(path, sizeof path, "%s/t.theta", dir);
    assert_int_equal(theta_load(path, &tf, &err), IDIM_OK);
    assert_int_equal(tf.mode, TRAIN_SAID);
    assert_int_equal(tf.scope, FF_SCOPE_TENSOR);
    assert_int_equal(tf.grad_compat, 1);
    assert_int_equal(tf.d, D);
    assert_int_equal(tf.n_tensors, 3);
    assert_int_equal(tf.n_labels, 2);
    assert_int_equal(tf.max_len, 64);
    assert_int_equal(tf.seed, 7);
    assert_int_equal(tf.proj_seed, 9);
    assert_string_equal(tf.model_checksum, "0123456789abcdef");
    assert_string_equal(tf.task, "sst2");
    assert_true(tf.metric == 0.75);
    assert_int_equal(tf.n_dev, 40);
    assert_int_equal(tf.batch, 32);
    assert_int_equal(tf.projection, PROJ_DENSE);
    assert_int_equal(tf.norm, PROJ_NORM_ROWS);
    for (int i = 0; i < D; i++)
        assert_true(tf.theta[i] == 0.25f * (float)i - 1.0f);
    theta_free(&tf);
}

struct corruption {
    size_t off;
    int width;
    uint64_t value;
    const char *want; /* substring of the message */
};

static void test_each_field(void **st)
{
    (void)st;
    double eight = 8.0, nan_v = NAN, inf_v = INFINITY;
    uint64_t b8, bnan, binf;
    memcpy(&b8, &eight, 8);
    memcpy(&bnan, &nan_v, 8);
    memcpy(&binf, &inf_v, 8);
    const struct corruption c[] = {
        {8, 4, 2, "at byte 8"},          /* version */
        {12, 4, 1, "at byte 12"},        /* method: full fine-tuning has no theta */
        {12, 4, 7, "at byte 12"},
        {16, 4, 0, "at byte 16"},        /* scope */
        {16, 4, 3, "at byte 16"},
        {20, 4, 5, "at byte 20"},        /* grad_compat (finding 5) */
        {24, 8, D + 1, "at byte 24"},    /* d disagrees with the size */
        {24, 8, 0, "at byte 24"},
        {32, 8, 0, "at byte 32"},        /* m */
        {32, 8, D, "at byte 32"},        /* SAID needs m < d */
        {40, 4, 0, "at byte 40"},        /* n_labels */
        {40, 4, 0x80000000u, "at byte 40"},
        {44, 4, 2, "at byte 44"},        /* max_len */
        {64, 1, 'G', "at byte 64"},      /* model checksum */
        {79, 1, 0, "at byte 79"},
        {80, 1, 0, "at byte 80"},        /* task: empty */
        {81, 1, 0x1b, "at byte 81"},     /* task: a control character */
        {100, 1, 'x', "at byte 100"},    /* task: padding not zero */
        {112, 8, b8, "at byte 112"},     /* metric 8.0 (finding 5) */
        {112, 8, bnan, "at byte 112"},
        {112, 8, binf, "at byte 112"},
        {120, 8, (uint64_t)1 << 41, "at byte 120"},
        {128, 4, 0, "at byte 128"},      /* batch */
        {128, 4, 65537, "at byte 128"},
        {132, 4, 1, "at byte 132"},      /* projection word: kind 1 is written as 0 */
        {132, 4, 4, "at byte 132"},      /* no such kind */
        {132, 4, 0x200, "at byte 132"},  /* no such norm */
        {132, 4, 0x10000, "at byte 132"}, /* bits that must stay 0 (finding 5) */
        {136 + 4 * 3, 4, 0x7fc00000u, "theta[3] at byte 148 is NaN"},
        {136, 4, 0xff800000u, "theta[0] at byte 136 is infinite"},
        {136 + 4 * (D - 1), 4, 0x7f800000u, "is infinite"},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        unsigned char b[sizeof good];
        memcpy(b, good, sizeof b);
        put(b, c[k].off, c[k].value, c[k].width);
        seal(b, sizeof b);
        struct theta_file tf;
        struct idim_err err = {{0}};
        enum idim_status s = theta_parse(b, sizeof b, "x.theta", &tf, &err);
        if (s != IDIM_ERR_FORMAT || !strstr(err.msg, c[k].want) || !strstr(err.msg, "x.theta"))
            fail_msg("corruption %zu (byte %zu = %llu): status %d, message '%s', want '%s'", k,
                     c[k].off, (unsigned long long)c[k].value, s, err.msg, c[k].want);
        assert_null(tf.theta);
    }
}

static void test_framing(void **st)
{
    (void)st;
    struct theta_file tf;
    struct idim_err err = {{0}};
    unsigned char b[sizeof good];
    /* one flipped bit anywhere in the body fails the checksum, naming its offset */
    for (size_t off = 12; off < sizeof b - 8; off += 13) {
        if (off >= 24 && off < 32)
            continue; /* d: refused by the size check, above */
        memcpy(b, good, sizeof b);
        b[off] ^= 0x10;
        assert_int_equal(theta_parse(b, sizeof b, "x.theta", &tf, &err), IDIM_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "checksum at byte 176"));
    }
    memcpy(b, good, sizeof b);
    b[0] = 'J';
    assert_int_equal(theta_parse(b, sizeof b, "x.theta", &tf, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "magic"));
    /* every truncation is refused */
    for (size_t n = 0; n < sizeof good; n++) {
        assert_int_equal(theta_parse(good, n, "x.theta", &tf, &err), IDIM_ERR_FORMAT);
        assert_null(tf.theta);
    }
    assert_int_equal(theta_parse(good, sizeof good, "x.theta", &tf, &err), IDIM_OK);
    theta_free(&tf);
}

/* finding 3: a folder given as --theta is an input error, not an allocation of its size */
static void test_not_a_file(void **st)
{
    (void)st;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    struct theta_file tf;
    struct idim_err err = {{0}};
    assert_int_equal(theta_load(sub, &tf, &err), IDIM_ERR_IO);
    assert_non_null(strstr(err.msg, "is a folder"));
    assert_null(tf.theta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_each_field),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_not_a_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
