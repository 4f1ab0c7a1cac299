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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
