/* test_wfile.c - the weights file (reader, writer, checksum) and the bad
 * inputs of `idim convert`: every failure class is its own test, built in
 * a temp folder by byte edits of a good file, and each asserts the status
 * AND a message naming the file and what is wrong. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "arch.h"
#include "convert.h"
#include "tokdata.h"
#include "wfile.h"

static char tmpdir[256];
static char good[512];

/* ---- helpers ---- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void reseal(unsigned char *b, size_t n) { put64(b + 8, wfile_checksum_image(b, n)); }

/* Opens path, expects status st and a message holding the path and `what`. */
static void expect_open_fail(const char *path, enum idim_status st, const char *what)
{
    struct wfile w;
    struct idim_err err = {{0}};
    enum idim_status got = wfile_open(&w, path, &err);
    print_message("  message: %s\n", err.msg);
    assert_int_equal(got, st);
    assert_int_equal(idim_exit_code(got), IDIM_EXIT_INPUT); /* documented exit code 3 */
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, what));
    wfile_free(&w);
}

static struct arch_config tiny_cfg(void)
{
    struct arch_config c;
    memset(&c, 0, sizeof c);
    c.family = ARCH_BERT;
    c.n_layers = 1;
    c.hidden = 4;
    c.n_heads = 2;
    c.ffn = 8;
    c.vocab_size = 10;
    c.max_pos = 8;
    c.type_vocab = 2;
    c.pad_id = 0;
    c.ln_eps = 1e-12f;
    c.act = ARCH_GELU;
    c.has_pooler = 1;
    c.n_labels = 2;
    return c;
}

static const char *tiny_vocab[10] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                     "a",     "b",     "##c",   "hello", "world"};

static struct tokdata tiny_tok(struct tok_str *arr)
{
    struct tokdata t;
    memset(&t, 0, sizeof t);
    t.kind = TOK_WORDPIECE;
    t.flags = TOK_F_LOWERCASE | TOK_F_CLEAN_TEXT;
    t.pad_id = 0, t.unk_id = 1, t.cls_id = 2, t.sep_id = 3, t.mask_id = 4;
    for (int i = 0; i < 10; i++)
        arr[i] = (struct tok_str){tiny_vocab[i], (uint32_t)strlen(tiny_vocab[i])};
    t.n_vocab = 10;
    t.vocab = arr;
    return t;
}

/* Writes the good tiny file to path: value i of tensor t is t + i/64. */
static enum idim_status write_tiny(const char *path, const struct arch_config *c, int with_tok,
                                   float **block_out, struct idim_err *err)
{
    struct arch_tensor tab[64];
    size_t nt = arch_tensors(c, ARCH_TABLE_FILE, c->n_labels, tab, 64);
    size_t np = arch_n_params(c, ARCH_TABLE_FILE, c->n_labels);
    float *block = malloc(np * sizeof *block);
    struct wfile_src_tensor src[64];
    for (size_t t = 0; t < nt; t++) {
        for (size_t i = 0; i < tab[t].n_elem; i++)
            block[tab[t].offset + i] = (float)t + (float)i / 64.0f;
        src[t] = wfile_src_from_arch(&tab[t], block + tab[t].offset);
    }
    struct tok_str arr[10];
    struct tokdata tok = tiny_tok(arr);
    enum idim_status st = wfile_write(path, c, with_tok ? &tok : NULL, src, nt, err);
    if (block_out)
        *block_out = block;
    else
        free(block);
    return st;
}

static int no_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            ok = 0;
    closedir(d);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/idim_test_wfile_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(good, sizeof good, "%s/good.bin", tmpdir);
    struct arch_config c = tiny_cfg();
    struct idim_err err;
    return write_tiny(good, &c, 1, NULL, &err) == IDIM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Copy of the good file, edited by the caller, then written to name. */
static unsigned char *good_bytes(size_t *n) { return slurp(good, n); }

static const char *tpath(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* ---- good files ---- */

static void test_xxh64_vectors(void **state)
{
    (void)state;
    /* Reference values of the xxHash project (XXH64, seed 0). */
    assert_true(wfile_xxh64("", 0, 0) == 0xEF46DB3751D8E999ull);
    assert_true(wfile_xxh64("a", 1, 0) == 0xD24EC4F1A98C6E5Bull);
    assert_true(wfile_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
    const char *s = "Nobody inspects the spammish repetition";
    assert_true(wfile_xxh64(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ull);
}

/* Ctrl-C while the checksum is verified: IDIM_ERR_INTERRUPTED, nothing
 * kept open (issue 12: a long checksum answers Ctrl-C within a second). */
static void test_open_interrupted(void **state)
{
    (void)state;
    struct arch_config c = tiny_cfg();
    float *block = NULL;
    struct idim_err err = {{0}};
    const char *p = tpath("intr.bin");
    assert_int_equal(write_tiny(p, &c, 1, &block, &err), IDIM_OK);
    struct wfile w;
    idim_interrupted = 1;
    assert_int_equal(wfile_open(&w, p, &err), IDIM_ERR_INTERRUPTED);
    idim_interrupted = 0;
    printf("  expected error: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "interrupted"));
    assert_int_equal(wfile_open(&w, p, &err), IDIM_OK);
    wfile_free(&w);
    free(block);
    unlink(p);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct arch_config c = tiny_cfg();
    float *block = NULL;
    struct idim_err err = {{0}};
    const char *p = tpath("rt.bin");
    assert_int_equal(write_tiny(p, &c, 1, &block, &err), IDIM_OK);
    struct wfile w;
    assert_int_equal(wfile_open(&w, p, &err), IDIM_OK);
    assert_int_equal(w.cfg.family, ARCH_BERT);
    assert_int_equal(w.cfg.n_layers, 1);
    assert_int_equal(w.cfg.hidden, 4);
    assert_int_equal(w.cfg.n_heads, 2);
    assert_int_equal(w.cfg.ffn, 8);
    assert_int_equal(w.cfg.vocab_size, 10);
    assert_int_equal(w.cfg.max_pos, 8);
    assert_int_equal(w.cfg.type_vocab, 2);
    assert_int_equal(w.cfg.n_labels, 2);
    assert_int_equal(w.cfg.has_pooler, 1);
    assert_true(w.cfg.ln_eps == 1e-12f);
    assert_int_equal(w.version_major, 1);
    assert_int_equal(wfile_has_tokenizer(&w), 1);
    assert_int_equal(w.tok.kind, TOK_WORDPIECE);
    assert_int_equal(w.tok.flags, TOK_F_LOWERCASE | TOK_F_CLEAN_TEXT);
    assert_int_equal(w.tok.n_vocab, 10);
    assert_int_equal(w.tok.cls_id, 2);
    assert_int_equal(w.tok.mask_id, 4);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(w.tok.vocab[i].len, strlen(tiny_vocab[i]));
        assert_memory_equal(w.tok.vocab[i].s, tiny_vocab[i], w.tok.vocab[i].len);
    }
    struct arch_tensor tab[64];
    size_t nt = arch_tensors(&c, ARCH_TABLE_FILE, 2, tab, 64);
    assert_int_equal(w.n_tensors, nt);
    for (size_t t = 0; t < nt; t++) {
        assert_string_equal(w.tensors[t].name, tab[t].name);
        assert_int_equal(w.tensors[t].n_elem, tab[t].n_elem);
        assert_int_equal((uintptr_t)w.tensors[t].data % 64, 0);
        assert_memory_equal(w.tensors[t].data, block + tab[t].offset, tab[t].n_elem * 4);
    }
    assert_non_null(wfile_find(&w, "classifier.weight"));
    assert_null(wfile_find(&w, "nope"));
    assert_int_equal(wfile_n_params(&w), arch_n_params(&c, ARCH_TABLE_FILE, 2));
    /* The stored checksum is the XXH64 of bytes [16, end). */
    size_t n;
    unsigned char *b = slurp(p, &n);
    assert_true(get64(b + 8) == wfile_checksum_image(b, n));
    assert_true(w.checksum == get64(b + 8));
    assert_int_equal(strlen(w.checksum_hex), 16);
    free(b);
    wfile_free(&w);
    wfile_free(&w); /* idempotent on a zeroed struct */
    free(block);
    assert_true(no_tmp_files(tmpdir));
}

static void test_no_tokenizer(void **state)
{
    (void)state;
    struct arch_config c = tiny_cfg();
    struct idim_err err = {{0}};
    const char *p = tpath("notok.bin");
    assert_int_equal(write_tiny(p, &c, 0, NULL, &err), IDIM_OK);
    struct wfile w;
    assert_int_equal(wfile_open(&w, p, &err), IDIM_OK);
    assert_int_equal(wfile_has_tokenizer(&w), 0);
    assert_int_equal(wfile_need_tokenizer(&w, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "holds no tokenizer"));
    wfile_free(&w);
}

/* ---- reader: bad files ---- */

static void test_missing_file(void **state)
{
    (void)state;
    expect_open_fail(tpath("does-not-exist.bin"), IDIM_ERR_IO, "cannot open");
}

static void test_not_a_model_file(void **state)
{
    (void)state;
    const char *p = tpath("text.bin");
    const char *txt = "this is a text file, not a model, but long enough for a header......"
                      "........................................................................";
    spit(p, txt, strlen(txt));
    expect_open_fail(p, IDIM_ERR_FORMAT, "not an idim model file");
}

static void test_empty_file(void **state)
{
    (void)state;
    const char *p = tpath("empty.bin");
    spit(p, "", 0);
    expect_open_fail(p, IDIM_ERR_FORMAT, "empty file");
}

static void truncate_to(const char *name, size_t keep, const char *what)
{
    size_t n;
    unsigned char *b = good_bytes(&n);
    assert_true(keep < n);
    const char *p = tpath(name);
    spit(p, b, keep);
    expect_open_fail(p, IDIM_ERR_FORMAT, what);
    free(b);
}

static void test_truncated_header(void **state)
{
    (void)state;
    truncate_to("tr_hdr.bin", 100, "truncated inside the header");
}

static void test_truncated_arch(void **state)
{
    (void)state;
    truncate_to("tr_arch.bin", 128 + 10, "truncated inside the architecture section");
}

static void test_truncated_tokenizer(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    size_t tok_off = (size_t)get64(b + 48);
    free(b);
    truncate_to("tr_tok.bin", tok_off + 20, "truncated inside the tokenizer section");
}

static void test_truncated_index(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    size_t idx_off = (size_t)get64(b + 64);
    free(b);
    truncate_to("tr_idx.bin", idx_off + 170, "truncated inside the tensor index");
}

static void test_truncated_data(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    free(b);
    truncate_to("tr_data.bin", n - 1, "truncated inside the tensor data");
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    unsigned char *b2 = calloc(n + 3, 1);
    memcpy(b2, b, n);
    const char *p = tpath("trail.bin");
    spit(p, b2, n + 3);
    expect_open_fail(p, IDIM_ERR_FORMAT, "trailing data");
    free(b);
    free(b2);
}

static void test_checksum_mismatch(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    b[n - 5] ^= 0x01; /* one bit of the last tensor */
    const char *p = tpath("flip.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "checksum mismatch");
    free(b);
}

static void test_newer_major_version(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    b[16] = 2, b[17] = 0, b[18] = 3, b[19] = 0; /* 2.3 */
    reseal(b, n);
    const char *p = tpath("v2.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "format version 2.3 is newer");
    expect_open_fail(p, IDIM_ERR_FORMAT, "reads version 1.x");
    free(b);
}

static void test_newer_minor_version_accepted(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    b[18] = 7; /* 1.7: same major, readable */
    reseal(b, n);
    const char *p = tpath("v17.bin");
    spit(p, b, n);
    struct wfile w;
    struct idim_err err = {{0}};
    assert_int_equal(wfile_open(&w, p, &err), IDIM_OK);
    assert_int_equal(w.version_minor, 7);
    wfile_free(&w);
    free(b);
}

static void test_big_endian_file(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    b[20] = 1, b[21] = 2, b[22] = 3, b[23] = 4;
    reseal(b, n);
    const char *p = tpath("be.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "written big-endian");
    free(b);
}

static void test_arch_field_out_of_range(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(b + 128 + 4, 0); /* n_layers = 0 */
    reseal(b, n);
    const char *p = tpath("layers0.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "n_layers is 0");
    free(b);
}

static void test_shape_contradicts_config(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(b + 128 + 20, 11); /* vocab_size 10 -> 11: embeddings are [10, 4] */
    reseal(b, n);
    const char *p = tpath("vocab11.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT,
                     "tensor 'bert.embeddings.word_embeddings.weight' contradicts the header: "
                     "expected shape [11, 4]");
    expect_open_fail(p, IDIM_ERR_FORMAT, "found [10, 4]");
    free(b);
}

static void test_layers_more_than_tensors(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(b + 128 + 4, 2); /* 2 layers, but the file holds one */
    reseal(b, n);
    const char *p = tpath("layers2.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT,
                     "header says bert with 2 layers, a pooler and a classification head but the "
                     "file lacks tensor 'bert.encoder.layer.1.");
    free(b);
}

static void test_head_without_labels(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(b + 128 + 48, 0); /* n_labels 0 but the classifier is in the file */
    reseal(b, n);
    const char *p = tpath("labels0.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "holds tensor 'classifier.weight' that the header's");
    free(b);
}

static unsigned char *rec(unsigned char *b, int i) { return b + get64(b + 64) + 160 * (size_t)i; }

static void test_offset_past_eof(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    int last = (int)get64(b + 80) - 1;
    put64(rec(b, last) + 136, (uint64_t)n + 64 * 10); /* offset after the end */
    reseal(b, n);
    const char *p = tpath("off_eof.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "with its end within the file");
    free(b);
}

static void test_size_past_eof(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    int last = (int)get64(b + 80) - 1;
    unsigned char *r = rec(b, last);
    put64(r + 104, get64(r + 104) + 1000); /* shape grows, size follows: past the end */
    put64(r + 144, get64(r + 104) * 4);
    reseal(b, n);
    const char *p = tpath("size_eof.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "with its end within the file");
    free(b);
}

static void test_overlapping_tensors(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put64(rec(b, 1) + 136, get64(rec(b, 0) + 136)); /* tensor 1 starts where tensor 0 does */
    reseal(b, n);
    const char *p = tpath("overlap.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "at or after byte");
    free(b);
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(rec(b, 2) + 96, 7);
    reseal(b, n);
    const char *p = tpath("dtype7.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "unknown dtype 7");
    free(b);
}

static void test_shape_product_overflow(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    unsigned char *r = rec(b, 0);
    put64(r + 104, 1ull << 40);
    put64(r + 112, 1ull << 40);
    reseal(b, n);
    const char *p = tpath("ovf.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "shape product overflows 64 bits");
    free(b);
}

static void test_size_field_lies(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    unsigned char *r = rec(b, 3);
    put64(r + 144, get64(r + 144) + 4);
    reseal(b, n);
    const char *p = tpath("sizelie.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "elements x 4 bytes");
    free(b);
}

static void test_tensor_count_mismatch(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put64(b + 80, get64(b + 80) + 1); /* n_tensors no longer matches index_bytes */
    reseal(b, n);
    const char *p = tpath("ntens.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "tensors of 160 bytes each");
    free(b);
}

static void test_section_offset_bad(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put64(b + 88, get64(b + 88) + 8); /* data offset no longer 64-aligned */
    reseal(b, n);
    const char *p = tpath("dataoff.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "tensor data spans");
    free(b);
}

static void test_tokenizer_id_out_of_range(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(b + get64(b + 48) + 16, 99); /* cls_id */
    reseal(b, n);
    const char *p = tpath("cls99.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "tokenizer cls_id is 99");
    free(b);
}

static void test_tokenizer_lengths_lie(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    put32(b + get64(b + 48) + 48, 500); /* first vocab string length */
    reseal(b, n);
    const char *p = tpath("toklen.bin");
    spit(p, b, n);
    expect_open_fail(p, IDIM_ERR_FORMAT, "runs past the");
    free(b);
}

/* Every one-bit change (bits 0 and 7) of every byte before the tensor data,
 * resealed so the checksum passes: the reader must either accept the file
 * or return IDIM_ERR_FORMAT naming it, never crash (run under ASan). */
static void test_resealed_bit_flips(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = good_bytes(&n);
    size_t data_off = (size_t)get64(b + 88);
    const char *p = tpath("flipped.bin");
    spit(p, b, n);
    FILE *f = fopen(p, "r+b"); /* edit in place: rewriting whole files is slow on busy disks */
    assert_non_null(f);
    size_t n_ok = 0, n_bad = 0;
    for (size_t i = 16; i < data_off; i++) {
        for (int k = 0; k < 2; k++) {
            unsigned char keep = b[i];
            b[i] ^= (unsigned char)(k ? 0x80 : 0x01);
            reseal(b, n);
            assert_int_equal(fseek(f, 8, SEEK_SET), 0);
            assert_int_equal(fwrite(b + 8, 1, 8, f), 8);
            assert_int_equal(fseek(f, (long)i, SEEK_SET), 0);
            assert_int_equal(fwrite(b + i, 1, 1, f), 1);
            assert_int_equal(fflush(f), 0);
            struct wfile w;
            struct idim_err err = {{0}};
            enum idim_status st = wfile_open(&w, p, &err);
            if (st == IDIM_OK) {
                n_ok++;
            } else {
                if (st != IDIM_ERR_FORMAT || !strstr(err.msg, p))
                    print_message("byte %zu bit %d: status %d: %s\n", i, k ? 7 : 0, (int)st,
                                  err.msg);
                assert_int_equal(st, IDIM_ERR_FORMAT);
                assert_non_null(strstr(err.msg, p));
                n_bad++;
            }
            wfile_free(&w);
            b[i] = keep;
            assert_int_equal(fseek(f, (long)i, SEEK_SET), 0);
            assert_int_equal(fwrite(b + i, 1, 1, f), 1);
        }
    }
    fclose(f);
    print_message("  %zu edits rejected, %zu accepted (string bytes, padding, unused fields)\n",
                  n_bad, n_ok);
    assert_true(n_bad > n_ok);
    free(b);
}

/* ---- writer ---- */

static void test_writer_rejects_bad_shape(void **state)
{
    (void)state;
    struct arch_config c = tiny_cfg();
    struct arch_tensor tab[64];
    size_t nt = arch_tensors(&c, ARCH_TABLE_FILE, 2, tab, 64);
    float *block = calloc(arch_n_params(&c, ARCH_TABLE_FILE, 2) + 64, sizeof *block);
    struct wfile_src_tensor src[64];
    for (size_t t = 0; t < nt; t++) {
        src[t] = wfile_src_from_arch(&tab[t], block);
    }
    src[5].shape[0] += 1;
    const char *p = tpath("wbad.bin");
    struct idim_err err = {{0}};
    assert_int_equal(wfile_write(p, &c, NULL, src, nt, &err), IDIM_ERR_FORMAT);
    print_message("  message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "contradicts the header"));
    assert_int_not_equal(access(p, F_OK), 0);
    assert_true(no_tmp_files(tmpdir));
    free(block);
}

static void test_writer_unwritable(void **state)
{
    (void)state;
    struct arch_config c = tiny_cfg();
    struct idim_err err = {{0}};
    const char *p = "/nonexistent-dir-idim/x.bin";
    assert_int_equal(write_tiny(p, &c, 1, NULL, &err), IDIM_ERR_WRITE);
    assert_int_equal(idim_exit_code(IDIM_ERR_WRITE), IDIM_EXIT_OUTPUT);
    assert_non_null(strstr(err.msg, "/nonexistent-dir-idim/x.bin"));
    assert_non_null(strstr(err.msg, "cannot create"));
}

/* ---- convert: bad Hugging Face folders ---- */

#define FIX "tests/fixtures/hf"

static int have_fixtures(void)
{
    struct stat sb;
    return stat(FIX "/bert_f32/model.safetensors", &sb) == 0;
}

/* Copies a fixture folder to tmpdir/name and returns its path. */
static const char *copy_fixture(const char *fixture, const char *name)
{
    static char dst[512];
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, name);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/%s' '%s'", dst, FIX, fixture, dst);
    assert_int_equal(system(cmd), 0);
    return dst;
}

static void expect_convert_fail(const char *dir, enum idim_status st, const char *file_part,
                                const char *what)
{
    char out[600];
    snprintf(out, sizeof out, "%s.out.bin", dir);
    struct convert_report rep;
    struct idim_err err = {{0}};
    enum idim_status got = convert_hf(dir, out, &rep, &err);
    print_message("  message: %s\n", err.msg);
    convert_report_free(&rep);
    assert_int_equal(got, st);
    assert_int_equal(idim_exit_code(got), IDIM_EXIT_INPUT); /* documented exit code 3 */
    assert_non_null(strstr(err.msg, file_part));
    assert_non_null(strstr(err.msg, what));
    assert_int_not_equal(access(out, F_OK), 0); /* no output, no temp file */
    assert_true(no_tmp_files(tmpdir));
}

static void write_text(const char *dir, const char *file, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    spit(p, text, strlen(text));
}

/* Rewrites dir/file (a safetensors file) after edit() changes its JSON header. */
static void edit_safetensors(const char *dir, const char *file, void (*edit)(cJSON *))
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    size_t n;
    unsigned char *b = slurp(p, &n);
    uint64_t hn = get64(b);
    cJSON *j = cJSON_ParseWithLength((const char *)b + 8, (size_t)hn);
    assert_non_null(j);
    edit(j);
    char *s = cJSON_PrintUnformatted(j);
    size_t sl = strlen(s);
    FILE *f = fopen(p, "wb");
    unsigned char len[8];
    put64(len, sl);
    fwrite(len, 1, 8, f);
    fwrite(s, 1, sl, f);
    fwrite(b + 8 + hn, 1, n - 8 - hn, f);
    fclose(f);
    cJSON_free(s);
    cJSON_Delete(j);
    free(b);
}

static void set_offsets(cJSON *j, const char *name, double b, double e)
{
    cJSON *t = cJSON_GetObjectItem(j, name);
    assert_non_null(t);
    cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(b));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(e));
}

static double get_off(cJSON *j, const char *name, int k)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, name), "data_offsets"), k)
        ->valuedouble;
}

static void ed_drop_tensor(cJSON *j) { cJSON_DeleteItemFromObject(j, "bert.encoder.layer.1.output.dense.weight"); }
static void ed_size_lie(cJSON *j)
{
    const char *n = "bert.pooler.dense.bias";
    set_offsets(j, n, get_off(j, n, 0), get_off(j, n, 1) + 4);
}
static void ed_past_eof(cJSON *j)
{
    const char *n = "bert.pooler.dense.bias";
    set_offsets(j, n, 1e9, 1e9 + 32);
}
static void ed_overlap(cJSON *j)
{
    const char *a = "bert.pooler.dense.bias", *b = "classifier.bias";
    (void)a;
    /* classifier.bias (8 bytes) placed inside the pooler bias */
    set_offsets(j, b, get_off(j, a, 0), get_off(j, a, 0) + 8);
}
static void ed_unknown_dtype(cJSON *j)
{
    cJSON *t = cJSON_GetObjectItem(j, "bert.pooler.dense.bias");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("F13"));
}
static void ed_i32_dtype(cJSON *j)
{
    /* same element size, so sizes and offsets stay true: only the dtype is unusable */
    cJSON *t = cJSON_GetObjectItem(j, "bert.pooler.dense.bias");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I32"));
}
static void ed_overflow(cJSON *j)
{
    cJSON *t = cJSON_GetObjectItem(j, "bert.pooler.dense.bias");
    cJSON *sh = cJSON_CreateArray();
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(4294967296.0));
    cJSON_ReplaceItemInObject(t, "shape", sh);
}

static void test_convert_malformed_config(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "cfg_bad");
    write_text(d, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 8,,}");
    expect_convert_fail(d, IDIM_ERR_FORMAT, "cfg_bad/config.json", "not valid JSON at byte");
}

static void test_convert_config_trailing_text(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "cfg_trail");
    write_text(d, "config.json", "{\"model_type\": \"bert\"} {\"second\": 1}\n");
    expect_convert_fail(d, IDIM_ERR_FORMAT, "cfg_trail/config.json",
                        "unexpected text after the object at byte 23");
}

static void test_convert_config_missing_field(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "cfg_nolayers");
    write_text(d, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 8}");
    expect_convert_fail(d, IDIM_ERR_FORMAT, "cfg_nolayers/config.json",
                        "\"num_hidden_layers\" is missing");
}

static void test_convert_unsupported_model_type(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "cfg_gpt2");
    write_text(d, "config.json", "{\"model_type\": \"gpt2\", \"n_layer\": 2}");
    expect_convert_fail(d, IDIM_ERR_FORMAT, "cfg_gpt2/config.json",
                        "unsupported model_type 'gpt2'");
}

static void test_convert_electra_embedding_size(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("electra_f32", "electra_proj");
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    b[n] = 0;
    cJSON *j = cJSON_Parse((const char *)b);
    cJSON_ReplaceItemInObject(j, "embedding_size", cJSON_CreateNumber(2));
    char *s = cJSON_Print(j);
    write_text(d, "config.json", s);
    cJSON_free(s);
    cJSON_Delete(j);
    free(b);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "electra_proj/config.json",
                        "embedding_size 2 differs from hidden_size 4");
}

static void test_convert_shape_contradicts_config(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "cfg_ffn");
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    b[n] = 0;
    cJSON *j = cJSON_Parse((const char *)b);
    cJSON_ReplaceItemInObject(j, "intermediate_size", cJSON_CreateNumber(32));
    char *s = cJSON_Print(j);
    write_text(d, "config.json", s);
    cJSON_free(s);
    cJSON_Delete(j);
    free(b);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "cfg_ffn/model.safetensors",
                        "'bert.encoder.layer.0.intermediate.dense.weight' contradicts config.json: "
                        "expected shape [32, 8], found [16, 8]");
}

static void test_convert_header_not_json(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_notjson");
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    memcpy(b + 8, "[[[ not json", 12);
    spit(p, b, n);
    free(b);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_notjson/model.safetensors",
                        "safetensors header is not valid JSON");
}

static void test_convert_header_length_past_eof(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_hlen");
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    put64(b, (uint64_t)n * 2);
    spit(p, b, n);
    free(b);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_hlen/model.safetensors",
                        "header says its JSON is");
}

static void test_convert_truncated_safetensors(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_trunc");
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    spit(p, b, n - 100);
    free(b);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_trunc/model.safetensors",
                        "past the end of the data");
}

static void test_convert_offsets_lie_size(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_sizelie");
    edit_safetensors(d, "model.safetensors", ed_size_lie);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_sizelie/model.safetensors",
                        "'bert.pooler.dense.bias' data_offsets");
}

static void test_convert_offsets_past_eof(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_eof");
    edit_safetensors(d, "model.safetensors", ed_past_eof);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_eof/model.safetensors",
                        "past the end of the data");
}

static void test_convert_offsets_overlap(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_overlap");
    edit_safetensors(d, "model.safetensors", ed_overlap);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_overlap/model.safetensors", "overlap");
}

static void test_convert_unknown_dtype(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_dtype");
    edit_safetensors(d, "model.safetensors", ed_unknown_dtype);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_dtype/model.safetensors",
                        "unknown dtype 'F13'");
}

static void test_convert_unsupported_dtype(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_i32");
    edit_safetensors(d, "model.safetensors", ed_i32_dtype);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_i32/model.safetensors",
                        "has dtype I32: expected F32, F16 or BF16");
}

static void test_convert_shape_overflow(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_ovf");
    edit_safetensors(d, "model.safetensors", ed_overflow);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_ovf/model.safetensors",
                        "shape product overflows");
}

static void test_convert_missing_tensor(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "st_missing");
    edit_safetensors(d, "model.safetensors", ed_drop_tensor);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "st_missing",
                        "lacks tensor 'bert.encoder.layer.1.output.dense.weight'");
}

static void test_convert_missing_tokenizer(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "no_vocab");
    char p[700];
    snprintf(p, sizeof p, "%s/vocab.txt", d);
    unlink(p);
    expect_convert_fail(d, IDIM_ERR_IO, "no_vocab", "no tokenizer.json, vocab.json or vocab.txt");
}

static void test_convert_missing_weights(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "no_weights");
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    expect_convert_fail(d, IDIM_ERR_IO, "no_weights/model.safetensors", "missing");
}

static void test_convert_missing_config(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_f32", "no_config");
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    expect_convert_fail(d, IDIM_ERR_IO, "no_config/config.json", "cannot open");
}

static void test_convert_index_lies(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_bf16_sharded", "idx_lie");
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    b[n] = 0;
    cJSON *j = cJSON_Parse((const char *)b);
    cJSON *wm = cJSON_GetObjectItem(j, "weight_map");
    cJSON_AddStringToObject(wm, "bert.extra.weight", "model-00001-of-00002.safetensors");
    char *s = cJSON_Print(j);
    write_text(d, "model.safetensors.index.json", s);
    cJSON_free(s);
    cJSON_Delete(j);
    free(b);
    expect_convert_fail(d, IDIM_ERR_FORMAT, "idx_lie/model.safetensors.index.json",
                        "'bert.extra.weight' is in model-00001-of-00002.safetensors, but that "
                        "file does not hold it");
}

static void test_convert_missing_shard(void **state)
{
    (void)state;
    if (!have_fixtures())
        skip();
    const char *d = copy_fixture("bert_bf16_sharded", "shard_gone");
    char p[700];
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", d);
    unlink(p);
    expect_convert_fail(d, IDIM_ERR_IO, "shard_gone/model-00002-of-00002.safetensors",
                        "cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xxh64_vectors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_open_interrupted),
        cmocka_unit_test(test_no_tokenizer),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_a_model_file),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_arch),
        cmocka_unit_test(test_truncated_tokenizer),
        cmocka_unit_test(test_truncated_index),
        cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_checksum_mismatch),
        cmocka_unit_test(test_newer_major_version),
        cmocka_unit_test(test_newer_minor_version_accepted),
        cmocka_unit_test(test_big_endian_file),
        cmocka_unit_test(test_arch_field_out_of_range),
        cmocka_unit_test(test_shape_contradicts_config),
        cmocka_unit_test(test_layers_more_than_tensors),
        cmocka_unit_test(test_head_without_labels),
        cmocka_unit_test(test_offset_past_eof),
        cmocka_unit_test(test_size_past_eof),
        cmocka_unit_test(test_overlapping_tensors),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_shape_product_overflow),
        cmocka_unit_test(test_size_field_lies),
        cmocka_unit_test(test_tensor_count_mismatch),
        cmocka_unit_test(test_section_offset_bad),
        cmocka_unit_test(test_tokenizer_id_out_of_range),
        cmocka_unit_test(test_tokenizer_lengths_lie),
        cmocka_unit_test(test_resealed_bit_flips),
        cmocka_unit_test(test_writer_rejects_bad_shape),
        cmocka_unit_test(test_writer_unwritable),
        cmocka_unit_test(test_convert_malformed_config),
        cmocka_unit_test(test_convert_config_trailing_text),
        cmocka_unit_test(test_convert_config_missing_field),
        cmocka_unit_test(test_convert_unsupported_model_type),
        cmocka_unit_test(test_convert_electra_embedding_size),
        cmocka_unit_test(test_convert_shape_contradicts_config),
        cmocka_unit_test(test_convert_header_not_json),
        cmocka_unit_test(test_convert_header_length_past_eof),
        cmocka_unit_test(test_convert_truncated_safetensors),
        cmocka_unit_test(test_convert_offsets_lie_size),
        cmocka_unit_test(test_convert_offsets_past_eof),
        cmocka_unit_test(test_convert_offsets_overlap),
        cmocka_unit_test(test_convert_unknown_dtype),
        cmocka_unit_test(test_convert_unsupported_dtype),
        cmocka_unit_test(test_convert_shape_overflow),
        cmocka_unit_test(test_convert_missing_tensor),
        cmocka_unit_test(test_convert_missing_tokenizer),
        cmocka_unit_test(test_convert_missing_weights),
        cmocka_unit_test(test_convert_missing_config),
        cmocka_unit_test(test_convert_index_lies),
        cmocka_unit_test(test_convert_missing_shard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
