/* test_mlm.c - the masked-LM head (with the encoder under it) against
 * independent references:
 *  1. golden fixtures from a plain-PyTorch float64 implementation of HF's
 *     Bert/RobertaForMaskedLM (scripts/make_mlm_reference.py): loss,
 *     accuracy and the gradient of every encoder and head tensor (the tied
 *     word embeddings get both the input and the decoder gradient), per
 *     tensor to 1e-4 of its largest value;
 *  2. central finite differences (double) of the float32 loss for every
 *     tensor;
 *  3. the file table: a head stored under HF names round-trips through
 *     wfile_write / wfile_open / mlm_load, and the classification model
 *     loading the same file ignores it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mlm.h"
#include "golden.h"
#include "model.h"

#define GOLDEN_DIR "tests/fixtures/golden/"

struct golden {
    struct arch_config cfg;
    int B, T, M, n_tensors;
    int32_t *ids, *type_ids, *mask, *pos, *labels;
    char (*names)[ARCH_NAME_MAX];
    size_t *n_elem;
    float **w, **g;
    float loss, acc;
};

static void golden_free(struct golden *gd)
{
    free(gd->ids), free(gd->type_ids), free(gd->mask), free(gd->pos), free(gd->labels);
    for (int t = 0; gd->w && t < gd->n_tensors; t++)
        free(gd->w[t]), free(gd->g[t]);
    free(gd->w), free(gd->g), free(gd->names), free(gd->n_elem);
    memset(gd, 0, sizeof *gd);
}

static void golden_load(struct golden *gd, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s.bin", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run scripts/make_mlm_reference.py)", path);
    memset(gd, 0, sizeof *gd);
    char magic[8];
    int32_t h[13];
    float eps;
    assert_true(rd(f, magic, 8) && memcmp(magic, "IDIMMLM1", 8) == 0);
    assert_true(rd(f, h, sizeof h) && rd(f, &eps, 4));
    struct arch_config *c = &gd->cfg;
    golden_cfg(c, h, eps);
    gd->B = h[9], gd->T = h[10], gd->M = h[11], gd->n_tensors = h[12];
    size_t BT = (size_t)gd->B * gd->T, M = (size_t)gd->M;
    gd->ids = malloc(BT * 4), gd->type_ids = malloc(BT * 4), gd->mask = malloc(BT * 4);
    gd->pos = malloc(M * 4), gd->labels = malloc(M * 4);
    assert_true(rd(f, gd->ids, BT * 4) && rd(f, gd->type_ids, BT * 4) && rd(f, gd->mask, BT * 4));
    assert_true(rd(f, gd->pos, M * 4) && rd(f, gd->labels, M * 4));
    golden_read_weights(f, gd->n_tensors, &gd->names, &gd->n_elem, &gd->w, &gd->g);
    assert_true(rd(f, &gd->loss, 4) && rd(f, &gd->acc, 4));
    golden_read_grads(f, gd->n_tensors, gd->n_elem, gd->g);
}

/* Parameter block and gradient of fixture tensor t: in the model (encoder
 * tensors) or in the head. */
static float *param_of(struct model *m, struct mlm_head *h, const char *name, float **grad)
{
    for (size_t t = 0; t < m->n_tensors; t++)
        if (!strcmp(m->tensors[t].name, name)) {
            *grad = m->grads + m->tensors[t].offset;
            return m->params + m->tensors[t].offset;
        }
    for (int k = 0; k < MLM_N_TENSORS; k++)
        if (!strcmp(h->tensors[k].name, name)) {
            *grad = h->grads + h->tensors[k].offset;
            return h->params + h->tensors[k].offset;
        }
    fail_msg("fixture tensor %s is in neither the model nor the head", name);
    return NULL;
}

struct rig {
    struct golden gd;
    struct model m;
    struct mlm_head h;
    struct batch b;
};

static void rig_init(struct rig *r, const char *name)
{
    struct idim_err err = {{0}};
    golden_load(&r->gd, name);
    assert_int_equal(model_init(&r->m, &r->gd.cfg, 2, r->gd.B, r->gd.T, &err), IDIM_OK);
    assert_int_equal(mlm_init(&r->h, &r->gd.cfg, r->gd.M, r->gd.B * r->gd.T, &err), IDIM_OK);
    model_init_random(&r->m, 5); /* pooler/classifier: unused by the MLM loss */
    r->m.dropout = 0.0f;
    for (int t = 0; t < r->gd.n_tensors; t++) {
        float *g, *p = param_of(&r->m, &r->h, r->gd.names[t], &g);
        memcpy(p, r->gd.w[t], r->gd.n_elem[t] * 4);
    }
    r->b = (struct batch){.B = r->gd.B, .T = r->gd.T, .ids = r->gd.ids,
                          .type_ids = r->gd.type_ids, .mask = r->gd.mask};
}

static void rig_free(struct rig *r)
{
    model_free(&r->m);
    mlm_free(&r->h);
    golden_free(&r->gd);
}

static double loss_of(struct rig *r)
{
    model_forward(&r->m, &r->b, 0);
    const float *wte = r->m.params + r->m.tensors[0].offset;
    mlm_forward(&r->h, model_hidden(&r->m), wte, r->gd.pos, r->gd.labels, r->gd.M);
    return r->h.loss;
}

static void loss_grad(struct rig *r)
{
    loss_of(r);
    mlm_backward(&r->h, r->b.B * r->b.T);
    model_backward_hidden(&r->m, r->h.dhidden);
    mlm_add_decoder_grad(&r->h, r->m.grads + r->m.tensors[0].offset);
}

static double max_abs(const float *x, size_t n)
{
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)x[i]));
    return mx;
}

static void check_golden(const char *name)
{
    struct rig r;
    rig_init(&r, name);
    loss_grad(&r);
    double e_loss = fabs(r.h.loss - r.gd.loss) / fabs((double)r.gd.loss);
    double acc = (double)r.h.n_correct / r.gd.M;
    printf("  %s: loss %.7f vs %.7f (rel %.2e), accuracy %.3f vs %.3f\n", name, r.h.loss,
           r.gd.loss, e_loss, acc, r.gd.acc);
    assert_true(e_loss <= 1e-4);
    assert_true(fabs(acc - r.gd.acc) < 1e-6);
    double worst = 0.0;
    int n_zero = 0;
    for (int t = 0; t < r.gd.n_tensors; t++) {
        float *g;
        param_of(&r.m, &r.h, r.gd.names[t], &g);
        double ref = max_abs(r.gd.g[t], r.gd.n_elem[t]), d = 0.0;
        for (size_t i = 0; i < r.gd.n_elem[t]; i++)
            d = fmax(d, fabs((double)g[i] - r.gd.g[t][i]));
        if (ref < 1e-12) { /* the key biases: softmax ignores them */
            assert_true(d < 1e-6);
            assert_non_null(strstr(r.gd.names[t], "attention.self.key.bias"));
            n_zero++;
            continue;
        }
        worst = fmax(worst, d / ref);
        if (d / ref > 1e-4)
            printf("  %s: %-52s rel %.2e FAIL\n", name, r.gd.names[t], d / ref);
        assert_true(d / ref <= 1e-4);
    }
    assert_int_equal(n_zero, r.gd.cfg.n_layers);
    printf("  %s: %d gradients, worst max|diff|/max|ref| = %.2e\n", name, r.gd.n_tensors, worst);
    rig_free(&r);
}

static void test_golden_bert(void **s) { (void)s; check_golden("bert_mlm"); }
static void test_golden_roberta(void **s) { (void)s; check_golden("roberta_mlm"); }

/* Fourth-order central differences as in test_model.c (h = 1e-2 on
 * weights ~0.3): for each tensor the 8 entries with the largest analytic
 * gradient and 8 spread evenly. Tolerance 5e-5 (1 + |L|) + 1e-3 max|g|. */
/* Restricts r's head to the fixture's labels and every third other id,
 * listed from the highest id down (columns in another order than ids). */
static int restrict_vocab(struct rig *r, int32_t *ids)
{
    int V = r->gd.cfg.vocab_size, K = 0;
    for (int v = V - 1; v >= 0; v--) {
        int lab = 0;
        for (int i = 0; i < r->gd.M; i++)
            lab |= r->gd.labels[i] == v;
        if (lab || v % 3 == 0)
            ids[K++] = v;
    }
    struct idim_err err = {{0}};
    assert_int_equal(mlm_set_vocab(&r->h, ids, K, &err), IDIM_OK);
    assert_true(K < V);
    return K;
}

static void check_fd(const char *name, int restricted)
{
    struct rig r;
    rig_init(&r, name);
    int32_t *ids = malloc((size_t)r.gd.cfg.vocab_size * sizeof *ids);
    if (restricted)
        printf("  %s: softmax over %d of %d ids\n", name, restrict_vocab(&r, ids),
               r.gd.cfg.vocab_size);
    loss_grad(&r);
    double l0 = r.h.loss;
    const double h = 1e-2;
    for (int t = 0; t < r.gd.n_tensors; t++) {
        float *g, *p = param_of(&r.m, &r.h, r.gd.names[t], &g);
        size_t n = r.gd.n_elem[t];
        float *an = malloc(n * sizeof(float));
        memcpy(an, g, n * sizeof(float));
        double gmax = max_abs(an, n), dmax = 0.0;
        size_t idx[16], k = 0;
        for (int q = 0; q < 8 && (size_t)q < n; q++) { /* largest, distinct */
            size_t best = 0;
            double bv = -1.0;
            for (size_t i = 0; i < n; i++) {
                int used = 0;
                for (size_t j = 0; j < k; j++)
                    used |= idx[j] == i;
                if (!used && fabs(an[i]) > bv)
                    bv = fabs(an[i]), best = i;
            }
            idx[k++] = best;
        }
        for (int q = 0; q < 8 && n > 16; q++)
            idx[k++] = (size_t)q * n / 8 + n / 16;
        for (size_t j = 0; j < k; j++) {
            size_t i = idx[j];
            float old = p[i];
            double l[4];
            const double st[4] = {h, -h, 2 * h, -2 * h};
            for (int q = 0; q < 4; q++) {
                p[i] = (float)((double)old + st[q]);
                l[q] = loss_of(&r);
            }
            p[i] = old;
            double fd = (8.0 * (l[0] - l[1]) - (l[2] - l[3])) / (12.0 * h);
            double d = fabs(fd - (double)an[i]);
            double tol = 5e-5 * (1.0 + fabs(l0)) + 1e-3 * gmax;
            dmax = fmax(dmax, d);
            if (d > tol)
                printf("  %s: %s[%zu]: fd %.6e analytic %.6e\n", name, r.gd.names[t], i, fd,
                       (double)an[i]);
            assert_true(d <= tol);
        }
        free(an);
        if (strncmp(r.gd.names[t], "cls.", 4) == 0 || strncmp(r.gd.names[t], "lm_head", 7) == 0 ||
            t == 0)
            printf("  %s fd: %-45s %2zu entries, max abs diff %.2e (max |grad| %.2e)\n", name,
                   r.gd.names[t], k, dmax, gmax);
    }
    free(ids);
    rig_free(&r);
}

static void test_fd_bert(void **s) { (void)s; check_fd("bert_mlm", 0); }
static void test_fd_roberta(void **s) { (void)s; check_fd("roberta_mlm", 0); }
static void test_fd_restricted(void **s) { (void)s; check_fd("bert_mlm", 1); }

/* The restricted softmax equals the full one with the bias of every other
 * id at -1e30 (their probabilities exactly 0): loss, accuracy and every
 * gradient (the decoder's into the embeddings included); unscored rows of
 * E and of the bias get no gradient; mlm_keep_scored drops the rows whose
 * label is not scored; bad lists are refused. */
static void test_restricted_equals_masked_full(void **s)
{
    (void)s;
    struct rig a, b;
    rig_init(&a, "bert_mlm");
    rig_init(&b, "bert_mlm");
    int V = a.gd.cfg.vocab_size, C = a.gd.cfg.hidden;
    int32_t *ids = malloc((size_t)V * sizeof *ids);
    int K = restrict_vocab(&a, ids);
    float *bias = b.h.params + b.h.tensors[4].offset;
    for (int v = 0; v < V; v++)
        if (a.h.out_col[v] < 0)
            bias[v] = -1e30f;
    memset(a.m.grads, 0, a.m.n_params * sizeof(float));
    memset(b.m.grads, 0, b.m.n_params * sizeof(float));
    loss_grad(&a);
    loss_grad(&b);
    printf("  restricted (%d of %d ids): loss %.7f, masked full %.7f\n", K, V, a.h.loss, b.h.loss);
    assert_true(fabs(a.h.loss - b.h.loss) <= 1e-6 * fabs(b.h.loss));
    assert_int_equal(a.h.n_correct, b.h.n_correct);
    double worst = 0.0;
    for (size_t i = 0; i < a.m.n_params; i++)
        worst = fmax(worst, fabs((double)a.m.grads[i] - b.m.grads[i]));
    for (size_t i = 0; i < a.h.n_params; i++)
        worst = fmax(worst, fabs((double)a.h.grads[i] - b.h.grads[i]));
    printf("  max |gradient difference| %.2e (max |grad| %.2e)\n", worst,
           max_abs(b.h.grads, b.h.n_params));
    assert_true(worst <= 1e-5 * max_abs(b.h.grads, b.h.n_params));
    /* unscored ids: no decoder gradient into their bias; the embedding rows
     * get only the encoder's input gradient, as in the masked full run */
    const float *ga = a.h.grads + a.h.tensors[4].offset;
    for (int v = 0; v < V; v++)
        if (a.h.out_col[v] < 0)
            assert_true(ga[v] == 0.0f);
    /* keep_scored: an unscored label is dropped, order kept */
    int unscored = 0;
    while (a.h.out_col[unscored] >= 0)
        unscored++;
    int32_t pos[3] = {4, 7, 9}, lab[3] = {ids[0], unscored, ids[1]};
    assert_int_equal(mlm_keep_scored(&a.h, pos, lab, 3), 2);
    assert_int_equal(pos[1], 9);
    assert_int_equal(lab[1], ids[1]);
    /* refused lists: repeated id, out of range, empty */
    struct idim_err err = {{0}};
    int32_t rep[2] = {3, 3}, out[1] = {V};
    assert_int_equal(mlm_set_vocab(&a.h, rep, 2, &err), IDIM_ERR_USAGE);
    assert_int_equal(mlm_set_vocab(&a.h, out, 1, &err), IDIM_ERR_USAGE);
    assert_int_equal(mlm_set_vocab(&a.h, ids, 0, &err), IDIM_ERR_USAGE);
    assert_int_equal(a.h.K, 0);
    assert_int_equal(mlm_keep_scored(&a.h, pos, lab, 2), 2);
    (void)C;
    free(ids);
    rig_free(&a);
    rig_free(&b);
}

/* A file with the head: HF names in the table, round trip, and the
 * classification model ignores the head. */
static void check_file(enum arch_family fam)
{
    struct idim_err err = {{0}};
    struct arch_config c = {.family = fam, .n_layers = 1, .hidden = 8, .n_heads = 2, .ffn = 16,
                            .vocab_size = 20, .max_pos = 12, .type_vocab = 1,
                            .pad_id = fam == ARCH_ROBERTA ? 1 : 0,
                            .ln_eps = 1e-5f, .act = ARCH_GELU, .has_mlm_head = 1,
                            .pretrain_steps = 1234};
    struct model m;
    struct mlm_head h;
    assert_int_equal(model_init(&m, &c, 2, 1, 4, &err), IDIM_OK);
    assert_int_equal(mlm_init(&h, &c, 2, 4, &err), IDIM_OK);
    model_init_random(&m, 3);
    mlm_init_random(&h, 3);
    for (size_t i = 0; i < h.n_params; i++)
        h.params[i] += 0.001f * (float)i; /* distinct values */
    const char *want = fam == ARCH_BERT ? "cls.predictions.transform.LayerNorm.weight"
                                        : "lm_head.layer_norm.weight";
    assert_string_equal(h.tensors[2].name, want);
    assert_int_equal(h.tensors[4].n_elem, 20);
    /* the file table: encoder, then the head (no pooler, no classifier) */
    size_t nt = arch_tensors(&c, ARCH_TABLE_FILE, 0, NULL, 0);
    struct arch_tensor *tab = calloc(nt, sizeof *tab);
    arch_tensors(&c, ARCH_TABLE_FILE, 0, tab, nt);
    struct wfile_src_tensor *src = calloc(nt, sizeof *src);
    size_t k = 0;
    for (size_t t = 0; t < nt; t++) {
        const float *data = t < 5 + 16 ? m.params + m.tensors[t].offset
                                       : h.params + h.tensors[k++].offset;
        assert_string_equal(tab[t].name, t < 5 + 16 ? m.tensors[t].name : h.tensors[k - 1].name);
        src[t] = wfile_src_from_arch(&tab[t], data);
    }
    assert_int_equal(k, MLM_N_TENSORS);
    char path[] = "/tmp/idim-test-mlm-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(wfile_write(path, &c, NULL, src, nt, &err), IDIM_OK);
    struct wfile w;
    assert_int_equal(wfile_open(&w, path, &err), IDIM_OK);
    assert_int_equal(w.cfg.has_mlm_head, 1);
    assert_int_equal((int)w.cfg.pretrain_steps, 1234);
    assert_int_equal(w.version_minor, 1);
    struct mlm_head h2;
    assert_int_equal(mlm_init(&h2, &c, 2, 4, &err), IDIM_OK);
    assert_int_equal(mlm_load(&h2, &w, &err), IDIM_OK);
    assert_memory_equal(h2.params, h.params, h.n_params * sizeof(float));
    struct model m2;
    struct arch_config c2 = w.cfg;
    assert_int_equal(model_init(&m2, &c2, 2, 1, 4, &err), IDIM_OK);
    assert_int_equal(model_load(&m2, &w, 1, &err), IDIM_OK);
    assert_memory_equal(m2.params, m.params, m.tensors[21].offset * sizeof(float));
    /* a file without the head: mlm_load names it */
    c.has_mlm_head = 0;
    assert_int_equal(wfile_write(path, &c, NULL, src, 5 + 16, &err), IDIM_OK);
    wfile_free(&w);
    assert_int_equal(wfile_open(&w, path, &err), IDIM_OK);
    assert_int_equal(mlm_load(&h2, &w, &err), IDIM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "masked-LM head"));
    wfile_free(&w);
    unlink(path);
    free(tab);
    free(src);
    model_free(&m);
    model_free(&m2);
    mlm_free(&h);
    mlm_free(&h2);
}

static void test_file_bert(void **s) { (void)s; check_file(ARCH_BERT); }
static void test_file_roberta(void **s) { (void)s; check_file(ARCH_ROBERTA); }

int main(void)
{
    model_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bert), cmocka_unit_test(test_golden_roberta),
        cmocka_unit_test(test_fd_bert),     cmocka_unit_test(test_fd_roberta),
        cmocka_unit_test(test_fd_restricted),
        cmocka_unit_test(test_restricted_equals_masked_full),
        cmocka_unit_test(test_file_bert),   cmocka_unit_test(test_file_roberta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
