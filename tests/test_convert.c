/* test_convert.c - `idim convert` on the committed Hugging Face fixtures
 * (tests/fixtures/hf, written by scripts/make_hf_fixture.py from PyTorch):
 * every tensor's name (table order), shape and f32 bytes are compared with
 * what torch computed (FNV-1a 64 of the f32 bytes, first value's bits, and
 * every bit of the special-value tensors). f32 sources must match bit for
 * bit; F16/BF16 sources must be torch's exact widening. The half/bfloat16
 * widening is also checked for all 65536 inputs against an independent
 * formula (ldexp on the decoded fields). */
#include <math.h>
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

#include "arch.h"
#include "convert.h"
#include "tokdata.h"
#include "wfile.h"

#define FIX "tests/fixtures/hf"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/idim_test_convert_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t fnv1a64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

/* Converts fixture `name` and checks it against expected.txt. */
static void check_fixture(const char *name, const char *model_type, int n_shards, int pooler,
                          int labels, int tok_kind, uint32_t n_merges)
{
    struct stat sb;
    if (stat(FIX "/expected.txt", &sb) != 0) {
        print_message("skipped: %s/expected.txt is absent\n", FIX);
        skip();
    }
    char dir[256], out[512];
    snprintf(dir, sizeof dir, FIX "/%s", name);
    snprintf(out, sizeof out, "%s/%s.bin", tmpdir, name);
    struct convert_report rep;
    struct idim_err err = {{0}};
    enum idim_status st = convert_hf(dir, out, &rep, &err);
    if (st)
        print_message("convert %s: %s\n", dir, err.msg);
    assert_int_equal(st, IDIM_OK);
    assert_string_equal(rep.model_type, model_type);
    assert_int_equal(rep.n_shards, n_shards);
    convert_report_free(&rep);

    struct wfile w;
    st = wfile_open(&w, out, &err);
    if (st)
        print_message("open %s: %s\n", out, err.msg);
    assert_int_equal(st, IDIM_OK);
    assert_int_equal(w.cfg.has_pooler, pooler);
    assert_int_equal(w.cfg.n_labels, labels);
    assert_int_equal(w.tok.kind, tok_kind);
    assert_int_equal(w.tok.n_merges, n_merges);
    assert_int_equal((int)w.tok.n_vocab, w.cfg.vocab_size); /* the real vocabulary sizes */

    /* The stored tokenizer is the folder's, string for string. */
    struct tokdata ref;
    assert_int_equal(tokdata_load_hf(&ref, dir, &err), IDIM_OK);
    assert_int_equal(w.tok.kind, ref.kind);
    assert_int_equal(w.tok.flags, ref.flags);
    assert_int_equal(w.tok.unk_id, ref.unk_id);
    assert_int_equal(w.tok.cls_id, ref.cls_id);
    assert_int_equal(w.tok.sep_id, ref.sep_id);
    assert_int_equal(w.tok.pad_id, ref.pad_id);
    assert_int_equal(w.tok.mask_id, ref.mask_id);
    assert_int_equal(w.tok.n_vocab, ref.n_vocab);
    assert_int_equal(w.tok.n_merges, ref.n_merges);
    for (uint32_t i = 0; i < ref.n_vocab; i++) {
        assert_int_equal(w.tok.vocab[i].len, ref.vocab[i].len);
        assert_memory_equal(w.tok.vocab[i].s, ref.vocab[i].s, ref.vocab[i].len);
    }
    for (uint32_t i = 0; i < ref.n_merges; i++) {
        assert_int_equal(w.tok.merges[i].len, ref.merges[i].len);
        assert_memory_equal(w.tok.merges[i].s, ref.merges[i].s, ref.merges[i].len);
    }
    tokdata_free(&ref);

    FILE *f = fopen(FIX "/expected.txt", "r");
    assert_non_null(f);
    char line[8192];
    int in = 0;
    size_t idx = 0, want_n = 0, n_checked = 0, n_bits = 0;
    while (fgets(line, sizeof line, f)) {
        char kw[16], a[160];
        if (sscanf(line, "%15s %159s", kw, a) != 2)
            continue;
        if (!strcmp(kw, "fixture")) {
            in = !strcmp(a, name);
            if (in)
                sscanf(line, "%*s %*s %zu", &want_n);
            continue;
        }
        if (!in)
            continue;
        if (!strcmp(kw, "tensor")) {
            char shape[64], hash[32], first[16];
            assert_int_equal(sscanf(line, "%*s %*s %63s %31s %15s", shape, hash, first), 3);
            assert_true(idx < w.n_tensors);
            const struct wfile_tensor *t = &w.tensors[idx++];
            assert_string_equal(t->name, a); /* table order */
            char got[64];
            if (t->n_dims == 2)
                snprintf(got, sizeof got, "%lldx%lld", (long long)t->shape[0],
                         (long long)t->shape[1]);
            else
                snprintf(got, sizeof got, "%lld", (long long)t->shape[0]);
            assert_string_equal(got, shape);
            char h[32], fb[16];
            uint32_t bits;
            memcpy(&bits, t->data, 4);
            snprintf(h, sizeof h, "%016llx", (unsigned long long)fnv1a64(t->data, t->n_elem * 4));
            snprintf(fb, sizeof fb, "%08x", (unsigned)bits);
            if (strcmp(h, hash))
                print_message("%s: tensor %s: f32 bytes hash %s, torch says %s\n", name, a, h, hash);
            assert_string_equal(h, hash);
            assert_string_equal(fb, first);
            n_checked++;
        } else if (!strcmp(kw, "bits")) {
            const struct wfile_tensor *t = wfile_find(&w, a);
            assert_non_null(t);
            char *p = strstr(line, a) + strlen(a);
            for (size_t i = 0; i < t->n_elem; i++) {
                char *end;
                unsigned long v = strtoul(p, &end, 16);
                assert_true(end != p);
                p = end;
                uint32_t got;
                memcpy(&got, &t->data[i], 4);
                assert_int_equal(got, (uint32_t)v);
                n_bits++;
            }
        }
    }
    fclose(f);
    assert_int_equal(n_checked, want_n);
    assert_int_equal(w.n_tensors, want_n); /* nothing extra either */
    print_message("%s: %zu tensors equal torch's f32 bytes; %zu special values bit-exact\n", name,
                  n_checked, n_bits);
    wfile_free(&w);
}

static void test_bert_f32(void **state)
{
    (void)state;
    check_fixture("bert_f32", "bert", 1, 1, 2, TOK_WORDPIECE, 0);
}

static void test_roberta_f16(void **state)
{
    (void)state;
    check_fixture("roberta_f16", "roberta", 1, 1, 3, TOK_BPE, 50000);
}

static void test_bert_bf16_sharded(void **state)
{
    (void)state;
    check_fixture("bert_bf16_sharded", "bert", 2, 0, 0, TOK_WORDPIECE, 0);
}

static void test_electra_f32(void **state)
{
    (void)state;
    check_fixture("electra_f32", "electra", 1, 0, 0, TOK_WORDPIECE, 0);
}

static void test_report_lists_dropped(void **state)
{
    (void)state;
    char out[512];
    snprintf(out, sizeof out, "%s/rep.bin", tmpdir);
    struct convert_report rep;
    struct idim_err err = {{0}};
    assert_int_equal(convert_hf(FIX "/bert_f32", out, &rep, &err), IDIM_OK);
    const char *want[3] = {"bert.embeddings.position_ids", "cls.predictions.bias",
                           "cls.predictions.transform.dense.weight"};
    assert_int_equal(rep.n_dropped, 3);
    for (int k = 0; k < 3; k++) {
        int found = 0;
        for (size_t i = 0; i < rep.n_dropped; i++)
            found |= !strcmp(rep.dropped[i].src, want[k]) && rep.dropped[i].reason != NULL;
        assert_true(found);
    }
    assert_int_equal(rep.n_kept, 41);
    assert_string_equal(rep.kept[rep.n_kept - 1].dst, "classifier.bias");
    convert_report_free(&rep);
}

/* Independent decoding of binary16: (-1)^s * 2^(e-15) * (1 + m/1024), or
 * 2^-14 * m/1024 for subnormals. */
static void test_f16_widening_all(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float got = convert_f16_to_f32((uint16_t)h);
        if (e == 31) {
            if (m == 0)
                assert_true(isinf(got) && (signbit(got) != 0) == s);
            else
                assert_true(isnan(got));
            continue;
        }
        double v = e == 0 ? ldexp((double)m, -24) : ldexp(1.0 + m / 1024.0, e - 15);
        float want = (float)(s ? -v : v);
        uint32_t gb, wb;
        memcpy(&gb, &got, 4);
        memcpy(&wb, &want, 4);
        if (gb != wb)
            print_message("f16 0x%04x: got 0x%08x want 0x%08x\n", h, gb, wb);
        assert_int_equal(gb, wb);
    }
    /* NaN payload kept in the top mantissa bits */
    float q = convert_f16_to_f32(0x7e01);
    uint32_t qb;
    memcpy(&qb, &q, 4);
    assert_int_equal(qb, 0x7fc02000u);
}

static void test_bf16_widening_all(void **state)
{
    (void)state;
    for (uint32_t b = 0; b < 65536; b++) {
        int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
        float got = convert_bf16_to_f32((uint16_t)b);
        if (e == 255) {
            assert_true(m == 0 ? isinf(got) : isnan(got));
            continue;
        }
        double v = e == 0 ? ldexp((double)m, -133) : ldexp(1.0 + m / 128.0, e - 127);
        float want = (float)(s ? -v : v);
        uint32_t gb, wb;
        memcpy(&gb, &got, 4);
        memcpy(&wb, &want, 4);
        assert_int_equal(gb, wb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_widening_all),  cmocka_unit_test(test_bf16_widening_all),
        cmocka_unit_test(test_bert_f32),          cmocka_unit_test(test_roberta_f16),
        cmocka_unit_test(test_bert_bf16_sharded), cmocka_unit_test(test_electra_f32),
        cmocka_unit_test(test_report_lists_dropped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
