/* test_task.c - task registry, loaders (GLUE rules, CSV, JSONL, custom),
 * bad input with file and line, data-folder resolution, SHA-256, encoded
 * sets and padded batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "task.h"
#include "tokenizer.h"

static char tmp[256];

static void put(const char *rel, const char *text, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    for (char *q = path + strlen(tmp) + 1; (q = strchr(q, '/')) != NULL; q++) {
        *q = 0;
        mkdir(path, 0755);
        *q = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(text, 1, n, f);
    fclose(f);
}
#define PUT(rel, lit) put(rel, lit, sizeof(lit) - 1)

static void path_of(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", tmp, rel);
}

/* FIPS 180-2 examples and the one-million-'a' vector. */
static void test_sha256(void **state)
{
    (void)state;
    char h[65];
    task_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    task_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    task_sha256_hex(m, strlen(m), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    task_sha256_hex(a, 1000000, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* The shared GLUE files: counts, labels and checksums from its README. */
static void test_glue_shared(void **state)
{
    (void)state;
    struct stat st;
    if (stat("../shared/data/glue", &st) != 0) {
        print_message("skipped: ../shared/data/glue is absent\n");
        skip();
    }
    static const struct {
        const char *task;
        size_t n;
        size_t ones; /* rows with label id 1 */
        const char *sha;
    } cases[4] = {
        {"mrpc", 408, 279, "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7"},
        {"sst2", 872, 444, "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"},
        {"cola", 1043, 721, "8c013e21dc39957cac37378d87bebe225b694a0d5fe13eded66c2856628833fd"},
        {"qnli", 5463, 2761, "763e95932dd3578251de71582e06829015f9c3815a518c751dc537219b159de4"},
    };
    for (int k = 0; k < 4; k++) {
        struct task_spec s;
        struct dataset ds;
        struct idim_err err = {{0}};
        /* --data names the parent: the task folder is found below it */
        assert_int_equal(task_resolve(&s, cases[k].task, "../shared/data/glue", &err), IDIM_OK);
        assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
        assert_int_equal(ds.n, cases[k].n);
        size_t ones = 0;
        for (size_t i = 0; i < ds.n; i++)
            ones += ds.labels[i] == 1;
        assert_int_equal(ones, cases[k].ones);
        assert_string_equal(ds.sha256, cases[k].sha);
        dataset_free(&ds);
    }
    /* MRPC: the BOM is stripped with the header; row 1 is as in the file */
    struct task_spec s;
    struct dataset ds;
    struct idim_err err = {{0}};
    assert_int_equal(task_resolve(&s, "mrpc", "../shared/data/glue/MRPC", &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "train", &err), IDIM_OK);
    assert_int_equal(ds.n, 3668);
    assert_string_equal(ds.text_a[0], "Amrozi accused his brother, whom he called \"the "
                                      "witness\", of deliberately distorting his evidence.");
    dataset_free(&ds);
    /* CoLA: no header, no final newline: last row kept */
    assert_int_equal(task_resolve(&s, "cola", "../shared/data/glue/CoLA", &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_string_equal(ds.text_a[0], "The sailors rode the breeze clear of the rocks.");
    assert_string_equal(ds.text_a[1042], "John talked to Bill about himself.");
    assert_null(ds.text_b);
    dataset_free(&ds);
}

/* GLUE parsing rules on a handmade MRPC-layout file: BOM, CRLF, unbalanced
 * quotes, empty sentence, invalid UTF-8 kept as bytes, no final newline. */
static void test_tsv_rules(void **state)
{
    (void)state;
    PUT("MRPC/dev.tsv", "\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
                        "1\t1\t2\tHe said \"yes.\tShe \"said\" no\r\n"
                        "0\t3\t4\t\tsecond only\n"
                        "\n"
                        "1\t5\t6\tbad \xff utf8\tx \"");
    struct task_spec s;
    struct dataset ds;
    struct idim_err err = {{0}};
    char dir[512];
    path_of(dir, sizeof dir, "MRPC");
    assert_int_equal(task_resolve(&s, "mrpc", dir, &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.text_a[0], "He said \"yes.");
    assert_string_equal(ds.text_b[0], "She \"said\" no"); /* CR gone */
    assert_string_equal(ds.text_a[1], "");               /* empty sentence kept */
    assert_string_equal(ds.text_a[2], "bad \xff utf8");
    assert_string_equal(ds.text_b[2], "x \"");
    assert_int_equal(ds.labels[0], 1);
    assert_int_equal(ds.labels[1], 0);
    assert_int_equal(ds.labels[2], 1);
    assert_null(ds.targets);
    dataset_free(&ds);
    /* no train file: that split fails naming the file */
    enum idim_status st = task_load(&ds, &s, "train", &err);
    assert_int_equal(st, IDIM_ERR_IO);
    assert_non_null(strstr(err.msg, "MRPC/train.tsv"));
    assert_int_equal(task_load(&ds, &s, "test", &err), IDIM_ERR_USAGE);
}

static void expect_load_error(const char *task, const char *rel, const char *content, size_t n,
                              const char *split, const char *n1, const char *n2)
{
    put(rel, content, n);
    char dir[512]; /* the data folder: the first component of rel */
    path_of(dir, sizeof dir, rel);
    *strchr(dir + strlen(tmp) + 1, '/') = 0;
    struct task_spec s;
    struct dataset ds;
    struct idim_err err = {{0}};
    if (task_resolve(&s, task, dir, &err) != IDIM_OK)
        fail_msg("%s", err.msg);
    enum idim_status st = task_load(&ds, &s, split, &err);
    if (st != IDIM_ERR_FORMAT || !strstr(err.msg, rel) || !strstr(err.msg, n1) ||
        !strstr(err.msg, n2))
        fail_msg("status %d, message \"%s\"; wanted IDIM_ERR_FORMAT naming %s, \"%s\", \"%s\"",
                 st, err.msg, rel, n1, n2);
    dataset_free(&ds); /* zeroed on failure */
    char p[512];
    path_of(p, sizeof p, rel);
    unlink(p);
}
#define BAD(task, rel, lit, split, a, b) expect_load_error(task, rel, lit, sizeof(lit) - 1, split, a, b)

static void test_bad_input(void **state)
{
    (void)state;
    /* a row with missing columns: file and line */
    BAD("mrpc", "B1/dev.tsv", "h\th\th\th\th\n1\t1\t2\ta\tb\n0\t1\t2\tonly a\n", "dev", "line 3",
        "found 4");
    /* a label outside the task's set: file, line and label */
    BAD("mrpc", "B2/dev.tsv", "h\th\th\th\th\n1\t1\t2\ta\tb\n2\t1\t2\ta\tb\n", "dev", "line 3",
        "label '2'");
    BAD("qnli", "B3/dev.tsv", "i\tq\ts\tl\n0\tq\ts\tmaybe\n", "dev", "line 2", "'maybe'");
    /* an empty split: header only, and a file of nothing */
    BAD("sst2", "B4/dev.tsv", "sentence\tlabel\n", "dev", "no examples", "empty");
    BAD("cola", "B5/dev.tsv", "", "dev", "no examples", "dev");
    /* a binary file */
    BAD("sst2", "B6/dev.tsv", "sentence\tlabel\nab\0\x01\x02\xff\t1\n", "dev", "NUL byte",
        "binary");
    /* stsb: a score that is not a number */
    BAD("stsb", "B7/dev.tsv", "h\th\th\th\th\th\th\th\th\th\n0\tg\tf\ty\to\ts\ts\ta\tb\tx1\n",
        "dev", "line 2", "not a number");
    /* jsonl: not an object, and a missing field */
    BAD("anli-r1", "B8/R1/dev.jsonl", "{\"premise\":\"p\",\"hypothesis\":\"h\",\"label\":\"e\"}\n[1]\n",
        "dev", "line 2", "not a JSON object");
    BAD("anli-r1", "B9/R1/dev.jsonl", "{\"premise\":\"p\",\"label\":\"e\"}\n", "dev", "line 1",
        "hypothesis");
    /* csv: an unclosed quote */
    BAD("yelp-polarity", "B10/test.csv", "\"1\",\"fine\"\n\"2\",\"never closed\n", "dev",
        "line 2", "never closed");
}

static void test_other_formats(void **state)
{
    (void)state;
    struct task_spec s;
    struct dataset ds;
    struct idim_err err = {{0}};
    char dir[512];
    /* yelp: CSV label,text with quotes, doubled quotes, commas and a newline inside */
    PUT("yelp_review_polarity_csv/test.csv",
        "\"1\",\"bad, \"\"really\"\" bad\"\n\"2\",\"good\nsecond line\"\r\n2,plain\n");
    path_of(dir, sizeof dir, "yelp_review_polarity_csv");
    assert_int_equal(task_resolve(&s, "yelp-polarity", dir, &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.text_a[0], "bad, \"really\" bad");
    assert_string_equal(ds.text_a[1], "good\nsecond line");
    assert_string_equal(ds.text_a[2], "plain");
    assert_int_equal(ds.labels[0], 0);
    assert_int_equal(ds.labels[1], 1);
    assert_int_equal(ds.labels[2], 1);
    dataset_free(&ds);
    /* anli: one round, and all rounds concatenated in order */
    PUT("anli_v1.0/R1/dev.jsonl", "{\"uid\":\"a\",\"premise\":\"p1\",\"hypothesis\":\"h1\",\"label\":\"e\"}\n");
    PUT("anli_v1.0/R2/dev.jsonl", "{\"premise\":\"p2\",\"hypothesis\":\"h2\",\"label\":\"n\"}\n\n");
    PUT("anli_v1.0/R3/dev.jsonl", "{\"premise\":\"p3\",\"hypothesis\":\"h\\u00e9\",\"label\":\"c\"}");
    path_of(dir, sizeof dir, "anli_v1.0");
    assert_int_equal(task_resolve(&s, "anli", dir, &err), IDIM_OK);
    assert_int_equal(s.n_labels, 3);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.text_a[2], "p3");
    assert_string_equal(ds.text_b[2], "h\xc3\xa9");
    assert_int_equal(ds.labels[0], 0);
    assert_int_equal(ds.labels[1], 1);
    assert_int_equal(ds.labels[2], 2);
    dataset_free(&ds);
    assert_int_equal(task_resolve(&s, "anli-r2", dir, &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_int_equal(ds.n, 1);
    assert_string_equal(ds.text_a[0], "p2");
    dataset_free(&ds);
    /* mnli: label in the last column; dev-mm split; stsb: float targets */
    PUT("MNLI/dev_matched.tsv", "h\n0\t1\t2\tg\tx\tx\tx\tx\tprem\thyp\tneutral\tneutral\n");
    PUT("MNLI/dev_mismatched.tsv",
        "h\n0\t1\t2\tg\tx\tx\tx\tx\tprem\thyp\tneutral\tneutral\tx\tx\tx\tcontradiction\n");
    path_of(dir, sizeof dir, "MNLI");
    assert_int_equal(task_resolve(&s, "mnli", dir, &err), IDIM_OK);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_int_equal(ds.labels[0], 2);
    dataset_free(&ds);
    assert_int_equal(task_load(&ds, &s, "dev-mm", &err), IDIM_OK);
    assert_int_equal(ds.labels[0], 0);
    assert_string_equal(ds.text_b[0], "hyp");
    dataset_free(&ds);
    PUT("STS-B/dev.tsv", "h\n0\tg\tf\ty\to\ts\ts\ta\tb\t3.800\n1\tg\tf\ty\to\ts\ts\tc\td\t0\n");
    path_of(dir, sizeof dir, "STS-B");
    assert_int_equal(task_resolve(&s, "stsb", dir, &err), IDIM_OK);
    assert_int_equal(s.n_labels, 1);
    assert_int_equal(s.metric, METRIC_PEARSON);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_OK);
    assert_non_null(ds.targets);
    assert_true(ds.targets[0] == 3.8f && ds.targets[1] == 0.0f);
    dataset_free(&ds);
}

/* --data, then $IDIM_DATA/<folder>, then ./data/<folder>; the message
 * says where idim looked and how to point elsewhere. */
static void test_resolution(void **state)
{
    (void)state;
    struct task_spec s;
    struct idim_err err = {{0}};
    PUT("env/RTE/train.tsv", "i\ts1\ts2\tl\n0\ta\tb\tentailment\n");
    char env[512];
    path_of(env, sizeof env, "env");
    setenv("IDIM_DATA", env, 1);
    assert_int_equal(task_resolve(&s, "rte", NULL, &err), IDIM_OK);
    assert_non_null(strstr(s.train_path, "env/RTE/train.tsv"));
    assert_int_equal(task_resolve(&s, "wnli", NULL, &err), IDIM_ERR_IO);
    assert_non_null(strstr(err.msg, "/env/WNLI"));
    assert_non_null(strstr(err.msg, "./data/WNLI"));
    assert_non_null(strstr(err.msg, "--data"));
    assert_non_null(strstr(err.msg, "IDIM_DATA"));
    unsetenv("IDIM_DATA");
    assert_int_equal(task_resolve(&s, "rte", NULL, &err), IDIM_ERR_IO);
    assert_non_null(strstr(err.msg, "./data/RTE"));
    assert_non_null(strstr(err.msg, "not set"));
    assert_int_equal(task_resolve(&s, "rte", "/nonexistent/folder", &err), IDIM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/folder"));
    assert_int_equal(task_resolve(&s, "nosuchtask", NULL, &err), IDIM_ERR_USAGE);
    assert_non_null(strstr(err.msg, "mrpc"));
    assert_non_null(strstr(task_list(), "yelp-polarity"));
}

static void test_custom(void **state)
{
    (void)state;
    struct task_spec s;
    struct dataset ds;
    struct idim_err err = {{0}};
    char tr[512], dv[512];
    PUT("c/train.tsv", "id\tq\tanswer\ty\n1\tw\tx\t10\n2\ty\tz\t2\n3\tu\tv\t10\n");
    PUT("c/dev.tsv", "id\tq\tanswer\ty\n1\tw\tx\t2\n2\ty\tz\t7\n");
    path_of(tr, sizeof tr, "c/train.tsv");
    path_of(dv, sizeof dv, "c/dev.tsv");
    assert_int_equal(task_custom(&s, tr, dv, "q,answer", "y", NULL, NULL, &err), IDIM_OK);
    assert_int_equal(s.n_labels, 2);
    assert_string_equal(s.label_names[0], "2"); /* numeric order, not byte order */
    assert_string_equal(s.label_names[1], "10");
    assert_int_equal(task_load(&ds, &s, "train", &err), IDIM_OK);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.text_b[1], "z");
    assert_int_equal(ds.labels[0], 1);
    dataset_free(&ds);
    /* dev label unseen in train: file, line, label */
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "c/dev.tsv: line 3: label '7'"));
    /* columns by number; a single text */
    assert_int_equal(task_custom(&s, tr, NULL, "1", "3", "tsv", "mcc", &err), IDIM_OK);
    assert_int_equal(s.metric, METRIC_MCC);
    assert_int_equal(s.text_col_b, -1);
    /* unknown column, bad metric, bad format */
    assert_int_equal(task_custom(&s, tr, dv, "nope", "y", NULL, NULL, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_int_equal(task_custom(&s, tr, dv, "q", "y", NULL, "bleu", &err), IDIM_ERR_USAGE);
    assert_int_equal(task_custom(&s, tr, dv, "q", "y", "xml", NULL, &err), IDIM_ERR_USAGE);
    assert_int_equal(task_custom(&s, NULL, NULL, "q", "y", NULL, NULL, &err), IDIM_ERR_USAGE);
    /* regression from a CSV with a header */
    PUT("c/r.csv", "text,score\n\"a, b\",1.5\nc,2\n");
    path_of(tr, sizeof tr, "c/r.csv");
    assert_int_equal(task_custom(&s, tr, NULL, "text", "score", NULL, "spearman", &err), IDIM_OK);
    assert_int_equal(s.n_labels, 1);
    assert_int_equal(task_load(&ds, &s, "train", &err), IDIM_OK);
    assert_string_equal(ds.text_a[0], "a, b");
    assert_true(ds.targets[0] == 1.5f);
    dataset_free(&ds);
    /* jsonl with string and numeric labels */
    PUT("c/t.jsonl", "{\"s\":\"x\",\"l\":\"pos\"}\n{\"s\":\"y\",\"l\":\"neg\"}\n");
    path_of(tr, sizeof tr, "c/t.jsonl");
    assert_int_equal(task_custom(&s, tr, NULL, "s", "l", NULL, NULL, &err), IDIM_OK);
    assert_string_equal(s.label_names[0], "neg");
    assert_int_equal(task_load(&ds, &s, "train", &err), IDIM_OK);
    assert_int_equal(ds.labels[0], 1);
    dataset_free(&ds);
    assert_int_equal(task_load(&ds, &s, "dev", &err), IDIM_ERR_USAGE); /* no dev given */
}

/* encoded_build + batch_fill with a tiny WordPiece vocabulary. */
static void test_encode_and_batch(void **state)
{
    (void)state;
    static const char *const v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c"};
    struct tok_str vs[7];
    for (int i = 0; i < 7; i++)
        vs[i] = (struct tok_str){v[i], (uint32_t)strlen(v[i])};
    struct tokdata td = {.kind = TOK_WORDPIECE, .flags = TOK_F_LOWERCASE | TOK_F_CLEAN_TEXT,
                         .unk_id = 1, .cls_id = 2, .sep_id = 3, .pad_id = 0, .mask_id = -1,
                         .n_vocab = 7, .vocab = vs};
    struct tokenizer *tk;
    struct idim_err err = {{0}};
    assert_int_equal(tokenizer_new(&tk, &td, &err), IDIM_OK);
    char *ta[3] = {"a b c", "A", ""}, *tb[3] = {"c", "b b", "zz"};
    int32_t labels[3] = {1, 0, 1};
    struct dataset ds = {.n = 3, .text_a = ta, .text_b = tb, .labels = labels};
    struct encoded enc;
    assert_int_equal(encoded_build(&enc, &ds, tk, 6, &err), IDIM_OK);
    /* row 0: [CLS] a b c [SEP] c [SEP] = 7 > 6: longest first -> a b | c (m = 3) */
    static const int32_t r0[6] = {2, 4, 5, 3, 6, 3}, t0[6] = {0, 0, 0, 0, 1, 1};
    static const int32_t r1[6] = {2, 4, 3, 5, 5, 3}, r2[4] = {2, 3, 1, 3};
    assert_int_equal(enc.off[1] - enc.off[0], 6);
    assert_memory_equal(enc.ids, r0, sizeof r0);
    assert_memory_equal(enc.type_ids, t0, sizeof t0);
    assert_memory_equal(enc.ids + enc.off[1], r1, sizeof r1);
    assert_int_equal(enc.off[3] - enc.off[2], 4); /* empty first sentence, "zz" = [UNK] */
    assert_memory_equal(enc.ids + enc.off[2], r2, sizeof r2);
    assert_int_equal(enc.max_len, 6);
    assert_null(enc.targets);

    struct batch b;
    assert_int_equal(batch_alloc(&b, 4, 6, &err), IDIM_OK);
    size_t idx[2] = {2, 2};
    batch_fill(&b, &enc, idx, 2, 0);
    assert_int_equal(b.B, 2);
    assert_int_equal(b.T, 4); /* padded to the longest row of this batch only */
    size_t idx2[2] = {2, 0};
    batch_fill(&b, &enc, idx2, 2, 77);
    assert_int_equal(b.T, 6);
    static const int32_t want_ids[12] = {2, 3, 1, 3, 77, 77, 2, 4, 5, 3, 6, 3};
    static const int32_t want_mask[12] = {1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1};
    static const int32_t want_types[12] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1};
    assert_memory_equal(b.ids, want_ids, sizeof want_ids);
    assert_memory_equal(b.mask, want_mask, sizeof want_mask);
    assert_memory_equal(b.type_ids, want_types, sizeof want_types);
    assert_int_equal(b.labels[0], 1);
    assert_int_equal(b.labels[1], 1);
    assert_null(b.targets);
    batch_free(&b);
    batch_free(&b); /* zeroed: second free is harmless */
    assert_int_equal(batch_alloc(&b, 0, 6, &err), IDIM_ERR_USAGE);
    encoded_free(&enc);
    assert_int_equal(encoded_build(&enc, &ds, tk, 3, &err), IDIM_ERR_USAGE);
    tokenizer_free(tk);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/idim_test_task.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),        cmocka_unit_test(test_glue_shared),
        cmocka_unit_test(test_tsv_rules),     cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_other_formats), cmocka_unit_test(test_resolution),
        cmocka_unit_test(test_custom),        cmocka_unit_test(test_encode_and_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
