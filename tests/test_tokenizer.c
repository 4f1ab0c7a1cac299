/* test_tokenizer.c - tokenizer data loading (tokdata_load_hf) and the
 * tokenizers themselves, against reference ids from Hugging Face's
 * tokenizers (tests/fixtures/tok, made by scripts/ref_tokenize.mjs). */
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

#include "tokdata.h"
#include "tokenizer.h"

#define SHARED "../shared/data"
#define BERT_DIR SHARED "/tokenizers/bert-base-uncased"
#define ROBERTA_DIR SHARED "/tokenizers/roberta-base"

static int have_shared(void)
{
    struct stat st;
    if (stat(SHARED "/tokenizers", &st) == 0)
        return 1;
    print_message("skipped: %s is absent (shared data not available)\n", SHARED "/tokenizers");
    return 0;
}

static char tmpdir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
}

static int tok_eq(struct tok_str a, const char *s)
{
    return a.len == strlen(s) && !memcmp(a.s, s, a.len);
}

static void assert_same_tokdata(const struct tokdata *a, const struct tokdata *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->n_vocab, b->n_vocab);
    assert_int_equal(a->n_merges, b->n_merges);
    assert_int_equal(a->cls_id, b->cls_id);
    assert_int_equal(a->sep_id, b->sep_id);
    assert_int_equal(a->pad_id, b->pad_id);
    assert_int_equal(a->unk_id, b->unk_id);
    assert_int_equal(a->mask_id, b->mask_id);
    for (uint32_t i = 0; i < a->n_vocab; i++) {
        assert_int_equal(a->vocab[i].len, b->vocab[i].len);
        assert_memory_equal(a->vocab[i].s, b->vocab[i].s, a->vocab[i].len);
    }
    for (uint32_t i = 0; i < a->n_merges; i++) {
        assert_int_equal(a->merges[i].len, b->merges[i].len);
        assert_memory_equal(a->merges[i].s, b->merges[i].s, a->merges[i].len);
    }
}

/* bert-base-uncased: vocab.txt, tokenizer.json and the folder agree. */
static void test_tokdata_bert(void **state)
{
    (void)state;
    if (!have_shared())
        skip();
    struct tokdata a, b, c;
    struct idim_err err = {{0}};
    assert_int_equal(tokdata_load_hf(&a, BERT_DIR "/vocab.txt", &err), IDIM_OK);
    assert_int_equal(tokdata_load_hf(&b, BERT_DIR "/tokenizer.json", &err), IDIM_OK);
    assert_int_equal(tokdata_load_hf(&c, BERT_DIR, &err), IDIM_OK);
    assert_int_equal(a.kind, TOK_WORDPIECE);
    assert_int_equal(a.n_vocab, 30522);
    assert_int_equal(a.n_merges, 0);
    assert_int_equal(a.flags, TOK_F_LOWERCASE | TOK_F_STRIP_ACCENTS | TOK_F_CHINESE |
                                  TOK_F_CLEAN_TEXT);
    assert_int_equal(a.pad_id, 0);
    assert_int_equal(a.unk_id, 100);
    assert_int_equal(a.cls_id, 101);
    assert_int_equal(a.sep_id, 102);
    assert_int_equal(a.mask_id, 103);
    assert_true(tok_eq(a.vocab[1996], "the"));
    assert_true(tok_eq(a.vocab[30521], "##\xef\xbd\x9e")); /* last line, "##～" */
    assert_same_tokdata(&a, &b);
    assert_same_tokdata(&a, &c);
    tokdata_free(&a);
    tokdata_free(&b);
    tokdata_free(&c);
}

/* roberta-base: vocab.json + merges.txt, tokenizer.json and the folder agree. */
static void test_tokdata_roberta(void **state)
{
    (void)state;
    if (!have_shared())
        skip();
    struct tokdata a, b, c;
    struct idim_err err = {{0}};
    assert_int_equal(tokdata_load_hf(&a, ROBERTA_DIR "/vocab.json", &err), IDIM_OK);
    assert_int_equal(tokdata_load_hf(&b, ROBERTA_DIR "/tokenizer.json", &err), IDIM_OK);
    assert_int_equal(tokdata_load_hf(&c, ROBERTA_DIR, &err), IDIM_OK);
    assert_int_equal(a.kind, TOK_BPE);
    assert_int_equal(a.n_vocab, 50265);
    assert_int_equal(a.n_merges, 50000);
    assert_int_equal(a.flags, 0);
    assert_int_equal(a.cls_id, 0);
    assert_int_equal(a.pad_id, 1);
    assert_int_equal(a.sep_id, 2);
    assert_int_equal(a.unk_id, 3);
    assert_int_equal(a.mask_id, 50264);
    assert_true(tok_eq(a.merges[0], "\xc4\xa0 t")); /* "Ġ t", first line after the header */
    assert_true(tok_eq(a.vocab[50263], "madeupword0002"));
    assert_same_tokdata(&a, &b);
    assert_same_tokdata(&a, &c);
    tokdata_free(&a);
    tokdata_free(&b);
    tokdata_free(&c);
}

/* Small handmade files: flags from tokenizer_config.json, both merges forms. */
static void test_tokdata_small(void **state)
{
    (void)state;
    struct tokdata td;
    struct idim_err err = {{0}};
    char path[512];
    write_file("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\r\nlast");
    snprintf(path, sizeof path, "%s/vocab.txt", tmpdir);
    assert_int_equal(tokdata_load_hf(&td, path, &err), IDIM_OK);
    assert_int_equal(td.n_vocab, 7);
    assert_true(tok_eq(td.vocab[5], "##s")); /* CR stripped */
    assert_true(tok_eq(td.vocab[6], "last")); /* no final newline */
    assert_int_equal(td.mask_id, -1);
    assert_int_equal(td.flags, TOK_F_LOWERCASE | TOK_F_STRIP_ACCENTS | TOK_F_CHINESE |
                                   TOK_F_CLEAN_TEXT);
    tokdata_free(&td);

    write_file("tokenizer_config.json", "{\"do_lower_case\": false}");
    assert_int_equal(tokdata_load_hf(&td, path, &err), IDIM_OK);
    assert_int_equal(td.flags, TOK_F_CHINESE | TOK_F_CLEAN_TEXT);
    tokdata_free(&td);
    write_file("tokenizer_config.json", "{\"do_lower_case\": true, \"strip_accents\": false}");
    assert_int_equal(tokdata_load_hf(&td, path, &err), IDIM_OK);
    assert_int_equal(td.flags, TOK_F_LOWERCASE | TOK_F_CHINESE | TOK_F_CLEAN_TEXT);
    tokdata_free(&td);
    remove_file("tokenizer_config.json");

    /* tokenizer.json with array-form merges and add_prefix_space */
    write_file("tokenizer.json",
               "{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
               "\"add_prefix_space\":true},\"added_tokens\":[{\"id\":6,\"content\":\"<mask>\"}],"
               "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<s>\":0,\"<pad>\":1,\"</s>\":2,"
               "\"<unk>\":3,\"a\":4,\"b\":5},\"merges\":[[\"a\",\"b\"]]}}");
    snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
    assert_int_equal(tokdata_load_hf(&td, path, &err), IDIM_OK);
    assert_int_equal(td.kind, TOK_BPE);
    assert_int_equal(td.flags, TOK_F_ADD_PREFIX_SPACE);
    assert_int_equal(td.n_vocab, 7);
    assert_int_equal(td.mask_id, 6);
    assert_int_equal(td.n_merges, 1);
    assert_true(tok_eq(td.merges[0], "a b"));
    tokdata_free(&td);
    /* the folder prefers tokenizer.json over vocab.txt */
    assert_int_equal(tokdata_load_hf(&td, tmpdir, &err), IDIM_OK);
    assert_int_equal(td.kind, TOK_BPE);
    tokdata_free(&td);
    remove_file("tokenizer.json");
    remove_file("vocab.txt");
}

static void expect_fail_in(const char *name, const char *named, enum idim_status want,
                           const char *needle)
{
    struct tokdata td;
    struct idim_err err = {{0}};
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    enum idim_status st = tokdata_load_hf(&td, path, &err);
    if (st != want || !strstr(err.msg, needle) || !strstr(err.msg, named))
        fail_msg("%s: status %d, message \"%s\"; wanted %d and \"%s\"", name, st, err.msg, want,
                 needle);
    tokdata_free(&td); /* must accept the zeroed struct */
}

static void expect_fail(const char *name, enum idim_status want, const char *needle)
{
    expect_fail_in(name, name, want, needle);
}

static void test_tokdata_errors(void **state)
{
    (void)state;
    write_file("vocab.txt", "[PAD]\n[UNK]\n[CLS]\nhello\n");
    expect_fail("vocab.txt", IDIM_ERR_FORMAT, "[SEP]");
    remove_file("vocab.txt");
    expect_fail("vocab.txt", IDIM_ERR_IO, "no such file");
    write_file("vocab.json", "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3}");
    expect_fail("vocab.json", IDIM_ERR_IO, "merges.txt");
    write_file("merges.txt", "#version: 0.2\nab\n");
    expect_fail_in("vocab.json", "merges.txt", IDIM_ERR_FORMAT, "line 2");
    write_file("vocab.json", "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":5}");
    expect_fail("vocab.json", IDIM_ERR_FORMAT, "no token has id 3");
    write_file("vocab.json", "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":2}");
    expect_fail("vocab.json", IDIM_ERR_FORMAT, "id 2 is given to two tokens");
    write_file("vocab.json", "{\"<s>\":0,");
    expect_fail("vocab.json", IDIM_ERR_FORMAT, "not valid JSON");
    remove_file("vocab.json");
    remove_file("merges.txt");
    write_file("tokenizer.json", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}");
    expect_fail("tokenizer.json", IDIM_ERR_FORMAT, "Unigram");
    remove_file("tokenizer.json");
}


/* ---- reference comparisons ---- */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    buf[sz] = 0;
    *n = (size_t)sz;
    return buf;
}

/* Splits buf in place into lines (LF; a CR before it is removed when
 * strip_cr); lens receives each line's length when not NULL. */
static size_t split_lines_len(char *buf, size_t n, char **lines, size_t *lens, size_t cap,
                              int strip_cr)
{
    size_t k = 0;
    char *p = buf, *end = buf + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        *le = 0;
        if (strip_cr && le > p && le[-1] == '\r')
            *--le = 0;
        assert_true(k < cap);
        if (lens)
            lens[k] = (size_t)(le - p);
        lines[k++] = p;
        p = (nl ? nl : end) + 1;
    }
    return k;
}

static size_t split_lines(char *buf, size_t n, char **lines, size_t cap, int strip_cr)
{
    return split_lines_len(buf, n, lines, NULL, cap, strip_cr);
}

/* Field `col` (tab-separated) of line, copied into out. */
static const char *field(const char *line, int col, char *out, size_t cap)
{
    const char *p = line;
    for (int c = 0; c < col; c++) {
        p = strchr(p, '\t');
        assert_non_null(p);
        p++;
    }
    size_t len = strcspn(p, "\t");
    assert_true(len < cap);
    memcpy(out, p, len);
    out[len] = 0;
    return out;
}

struct ref_case {
    const char *model;   /* folder under ../shared/data/tokenizers */
    const char *fixture; /* file under tests/fixtures/tok */
    const char *data;    /* GLUE file under ../shared/data/glue, or NULL for edge.txt */
    int col_a, col_b, header, max_len;
};

static struct tokenizer *load_tok(const char *model, struct tokdata *td)
{
    char path[512];
    struct idim_err err = {{0}};
    snprintf(path, sizeof path, SHARED "/tokenizers/%s", model);
    if (tokdata_load_hf(td, path, &err) != IDIM_OK)
        fail_msg("%s", err.msg);
    struct tokenizer *tk;
    if (tokenizer_new(&tk, td, &err) != IDIM_OK)
        fail_msg("%s", err.msg);
    return tk;
}

static size_t parse_ids(char *line, int32_t *ids, size_t cap)
{
    size_t n = 0;
    char *p = line, *end;
    while (*p) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        assert_true(n < cap);
        ids[n++] = (int32_t)v;
        p = end;
    }
    return n;
}

/* Encodes every example of a case and compares with the reference ids;
 * returns the number of rows compared. */
static size_t run_ref_case(const struct ref_case *rc)
{
    struct tokdata td;
    struct tokenizer *tk = load_tok(rc->model, &td);
    char path[512];
    size_t nd, nf;
    if (rc->data)
        snprintf(path, sizeof path, SHARED "/glue/%s", rc->data);
    else
        snprintf(path, sizeof path, "tests/fixtures/tok/edge.txt");
    char *data = slurp(path, &nd);
    assert_non_null(data);
    snprintf(path, sizeof path, "tests/fixtures/tok/%s", rc->fixture);
    char *fix = slurp(path, &nf);
    if (!fix)
        fail_msg("%s is missing: run sh scripts/make_tok_fixtures.sh", path);
    static char *dl[20000], *fl[20000];
    static size_t dlen[20000];
    char *d = data;
    size_t dn = nd;
    if (dn >= 3 && !memcmp(d, "\xef\xbb\xbf", 3))
        d += 3, dn -= 3;
    size_t n_data = split_lines_len(d, dn, dl, dlen, 20000, rc->data != NULL);
    size_t n_fix = split_lines(fix, nf, fl, 20000, 0);
    size_t first = rc->header ? 1 : 0;
    assert_int_equal(n_data - first, n_fix);
    int32_t *ids = malloc(4096 * sizeof *ids), *types = malloc(4096 * sizeof *types);
    int32_t *want = malloc(4096 * sizeof *want);
    char *fa = malloc(1 << 16), *fb = malloc(1 << 16);
    size_t bad = 0;
    for (size_t i = 0; i < n_fix; i++) {
        const char *line = dl[first + i];
        const char *a, *b = NULL;
        if (rc->data) {
            a = field(line, rc->col_a, fa, 1 << 16);
            if (rc->col_b >= 0)
                b = field(line, rc->col_b, fb, 1 << 16);
        } else {
            a = field(line, 0, fa, 1 << 16);
            if (strchr(line, '\t'))
                b = field(line, 1, fb, 1 << 16);
        }
        long n;
        if (!rc->data && !b) {
            /* a line may hold NUL bytes: encode it by length, add the specials here */
            long k = tokenizer_encode(tk, line, dlen[first + i], ids + 1, 4000);
            assert_true(k >= 0 && k < 4000);
            if (k > rc->max_len - 2)
                k = rc->max_len - 2;
            ids[0] = td.cls_id;
            ids[k + 1] = td.sep_id;
            n = k + 2;
            memset(types, 0, (size_t)n * sizeof *types);
        } else {
            n = tokenizer_encode_pair(tk, a, b, rc->max_len, ids, types);
        }
        size_t nw = parse_ids(fl[i], want, 4096);
        int same = n == (long)nw && !memcmp(ids, want, nw * sizeof *ids);
        /* token types: BERT pairs 1 after the first [SEP], else 0 (not checked on the
         * edge row whose first text is a literal "[SEP]") */
        int after_sep = 0;
        int check_types = !(b && strstr(a, "[SEP]"));
        for (long k = 0; same && check_types && k < n; k++) {
            int32_t t = (b && td.kind == TOK_WORDPIECE && after_sep) ? 1 : 0;
            if (types[k] != t)
                same = 0;
            if (ids[k] == td.sep_id)
                after_sep = 1;
        }
        if (!same && bad++ < 5) {
            print_message("%s row %zu differs: got", rc->fixture, i + 1);
            for (long k = 0; k < n; k++)
                print_message(" %d", ids[k]);
            print_message("\n    want %s\n", fl[i]);
        }
    }
    if (bad)
        fail_msg("%s: %zu of %zu sequences differ from the reference", rc->fixture, bad, n_fix);
    free(ids);
    free(types);
    free(want);
    free(fa);
    free(fb);
    free(data);
    free(fix);
    tokenizer_free(tk);
    tokdata_free(&td);
    return n_fix;
}

static void run_cases(const char *model, const char *s)
{
    char f[9][64];
    const char *names[9] = {"mrpc.128", "sst2.128", "cola.128", "mrpc.24", "mrpc.13",
                            "sst2.16",  "cola.8",   "edge.512", "edge.9"};
    for (int k = 0; k < 9; k++)
        snprintf(f[k], sizeof f[k], "%s.%s.ids", s, names[k]);
    const struct ref_case cases[9] = {
        {model, f[0], "MRPC/dev.tsv", 3, 4, 1, 128}, {model, f[1], "SST-2/dev.tsv", 0, -1, 1, 128},
        {model, f[2], "CoLA/dev.tsv", 3, -1, 0, 128}, {model, f[3], "MRPC/dev.tsv", 3, 4, 1, 24},
        {model, f[4], "MRPC/dev.tsv", 3, 4, 1, 13},  {model, f[5], "SST-2/dev.tsv", 0, -1, 1, 16},
        {model, f[6], "CoLA/dev.tsv", 3, -1, 0, 8},  {model, f[7], NULL, 0, -1, 0, 512},
        {model, f[8], NULL, 0, -1, 0, 9},
    };
    size_t total = 0;
    for (int k = 0; k < 9; k++)
        total += run_ref_case(&cases[k]);
    print_message("%s: %zu of %zu sequences identical to the reference\n", model, total, total);
}

static void test_ref_bert(void **state)
{
    (void)state;
    if (!have_shared())
        skip();
    run_cases("bert-base-uncased", "bert");
}

static void test_ref_roberta(void **state)
{
    (void)state;
    if (!have_shared())
        skip();
    run_cases("roberta-base", "roberta");
}

/* The tokenizers crate's own table (utils/truncation.rs tests, max 7). */
static void test_truncate_lengths(void **state)
{
    (void)state;
    static const size_t lens[4] = {0, 2, 4, 8};
    static const size_t want[4][4][2] = {
        {{0, 0}, {0, 2}, {0, 4}, {0, 7}},
        {{2, 0}, {2, 2}, {2, 4}, {2, 5}},
        {{4, 0}, {4, 2}, {3, 4}, {3, 4}},
        {{7, 0}, {5, 2}, {4, 3}, {3, 4}},
    };
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            size_t na, nb;
            tokenizer_truncate_lengths(lens[i], lens[j], 7, &na, &nb);
            assert_int_equal(na, want[i][j][0]);
            assert_int_equal(nb, want[i][j][1]);
        }
    size_t na, nb;
    tokenizer_truncate_lengths(10, 10, 0, &na, &nb);
    assert_int_equal(na + nb, 0);
    tokenizer_truncate_lengths(100, 3, 8, &na, &nb); /* only the longer is cut */
    assert_int_equal(na, 5);
    assert_int_equal(nb, 3);
}

/* A tiny handmade WordPiece vocabulary: rules checked without ../shared. */
static void test_wordpiece_small(void **state)
{
    (void)state;
    static const char *const v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un",  "##aff",
                                    "##able", "runn", "##ing", ",",     "!",   "cafe",
                                    "\xe4\xb8\xad", "a", "##a"};
    struct tok_str vs[15];
    for (int i = 0; i < 15; i++)
        vs[i] = (struct tok_str){v[i], (uint32_t)strlen(v[i])};
    struct tokdata td = {.kind = TOK_WORDPIECE,
                         .flags = TOK_F_LOWERCASE | TOK_F_STRIP_ACCENTS | TOK_F_CHINESE |
                                  TOK_F_CLEAN_TEXT,
                         .unk_id = 1, .cls_id = 2, .sep_id = 3, .pad_id = 0, .mask_id = -1,
                         .n_vocab = 15, .vocab = vs};
    struct tokenizer *tk;
    struct idim_err err = {{0}};
    assert_int_equal(tokenizer_new(&tk, &td, &err), IDIM_OK);
    int32_t ids[256];
    /* "UNAFFABLE, Running!": lower-cased, punctuation isolated, "##" pieces */
    const char *t1 = "UNAFFABLE, Running!";
    static const int32_t want1[7] = {4, 5, 6, 9, 7, 8, 10}; /* un ##aff ##able , runn ##ing ! */
    assert_int_equal(tokenizer_encode(tk, t1, strlen(t1), ids, 256), 7);
    assert_memory_equal(ids, want1, sizeof want1);
    /* no "##n" piece: "runs" cannot be split, so the whole word is [UNK] */
    assert_int_equal(tokenizer_encode(tk, "a runs", 6, ids, 256), 2);
    assert_int_equal(ids[0], 13);
    assert_int_equal(ids[1], 1);
    /* accents stripped, CJK split out, controls and U+FFFD dropped */
    const char *t2 = "CAF\xc3\x89\xe4\xb8\xad" "a\x01\xff";
    assert_int_equal(tokenizer_encode(tk, t2, strlen(t2), ids, 256), 3);
    assert_int_equal(ids[0], 11);
    assert_int_equal(ids[1], 12);
    assert_int_equal(ids[2], 13);
    /* 100 characters is a word; 101 is [UNK] */
    char w[202];
    memset(w, 'a', 101);
    assert_int_equal(tokenizer_encode(tk, w, 100, ids, 256), 100);
    assert_int_equal(tokenizer_encode(tk, w, 101, ids, 256), 1);
    assert_int_equal(ids[0], 1);
    /* cap smaller than the count: the count is still returned */
    assert_int_equal(tokenizer_encode(tk, w, 100, ids, 3), 100);
    /* empty and blank text: no tokens; pairs still get their specials */
    assert_int_equal(tokenizer_encode(tk, "", 0, ids, 256), 0);
    assert_int_equal(tokenizer_encode(tk, " \t\n", 3, ids, 256), 0);
    int32_t types[16];
    assert_int_equal(tokenizer_encode_pair(tk, "", "", 16, ids, types), 3);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 3);
    assert_int_equal(types[2], 1);
    assert_int_equal(tokenizer_encode_pair(tk, "a", "a", 2, ids, types), -1); /* max_len < 3 */
    tokenizer_free(tk);
}

/* Any bytes at all (a binary file): no crash, and the same ids as the text
 * with each invalid sequence replaced by U+FFFD, as the reference does. */
static void test_binary_input(void **state)
{
    (void)state;
    if (!have_shared())
        skip();
    const char *models[2] = {"bert-base-uncased", "roberta-base"};
    for (int m = 0; m < 2; m++) {
        struct tokdata td;
        struct tokenizer *tk = load_tok(models[m], &td);
        uint64_t x = 88172645463325252ULL;
        char buf[4097];
        int32_t *ids = malloc(20000 * sizeof *ids), *ids2 = malloc(20000 * sizeof *ids2);
        for (int round = 0; round < 50; round++) {
            size_t n = 1 + (size_t)(round * 81 % 4096);
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = (char)(x >> 24);
            }
            long k = tokenizer_encode(tk, buf, n, ids, 20000);
            assert_true(k >= 0 && k <= 20000);
            for (long i = 0; i < k; i++)
                assert_true(ids[i] >= 0 && (uint32_t)ids[i] < td.n_vocab);
            buf[n] = 0;
            int32_t types[64];
            long p = tokenizer_encode_pair(tk, buf, buf, 64, ids2, types);
            assert_true(p >= 3 && p <= 64);
        }
        /* invalid sequences -> U+FFFD, one per maximal subpart */
        const char *bad = "x\xc3(\xe2\x82y\xed\xa0\x80z";
        const char *good = "x\xef\xbf\xbd(\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz";
        long k1 = tokenizer_encode(tk, bad, strlen(bad), ids, 20000);
        long k2 = tokenizer_encode(tk, good, strlen(good), ids2, 20000);
        assert_int_equal(k1, k2);
        assert_memory_equal(ids, ids2, (size_t)k1 * sizeof *ids);
        free(ids);
        free(ids2);
        tokenizer_free(tk);
        tokdata_free(&td);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/idim_test_tok.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokdata_bert),
        cmocka_unit_test(test_tokdata_roberta),
        cmocka_unit_test(test_tokdata_small),
        cmocka_unit_test(test_tokdata_errors),
        cmocka_unit_test(test_truncate_lengths),
        cmocka_unit_test(test_wordpiece_small),
        cmocka_unit_test(test_binary_input),
        cmocka_unit_test(test_ref_bert),
        cmocka_unit_test(test_ref_roberta),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
