/* golden.h - the parts of the PyTorch golden-fixture layout that
 * scripts/make_reference.py and scripts/make_mlm_reference.py share: the
 * architecture header, the table of named weights and the gradients that
 * follow it. Include after cmocka.h and arch.h. */
#ifndef IDIM_TEST_GOLDEN_H
#define IDIM_TEST_GOLDEN_H

static int rd(FILE *f, void *p, size_t bytes) { return fread(p, 1, bytes, f) == bytes; }

/* h[0..8]: family, layers, hidden, heads, ffn, vocab, max_pos, type_vocab,
 * pad id; eps the LayerNorm epsilon. */
static void golden_cfg(struct arch_config *c, const int32_t *h, float eps)
{
    c->family = (enum arch_family)h[0];
    c->n_layers = h[1], c->hidden = h[2], c->n_heads = h[3], c->ffn = h[4];
    c->vocab_size = h[5], c->max_pos = h[6], c->type_vocab = h[7], c->pad_id = h[8];
    c->ln_eps = eps, c->act = ARCH_GELU;
}

/* n tensors, each: i32 name length, name, i32 element count, f32 values.
 * Allocates names, n_elem, w and (empty, for golden_read_grads) g. */
static void golden_read_weights(FILE *f, int n, char (**names)[ARCH_NAME_MAX],
                                size_t **n_elem, float ***w, float ***g)
{
    *names = calloc((size_t)n, ARCH_NAME_MAX);
    *n_elem = calloc((size_t)n, sizeof(size_t));
    *w = calloc((size_t)n, sizeof(float *));
    *g = calloc((size_t)n, sizeof(float *));
    for (int t = 0; t < n; t++) {
        int32_t len, k;
        assert_true(rd(f, &len, 4) && len > 0 && len < ARCH_NAME_MAX);
        assert_true(rd(f, (*names)[t], (size_t)len));
        assert_true(rd(f, &k, 4) && k > 0);
        (*n_elem)[t] = (size_t)k;
        (*w)[t] = malloc((size_t)k * 4);
        assert_true(rd(f, (*w)[t], (size_t)k * 4));
    }
}

/* One gradient per tensor, in table order, then nothing: closes f. */
static void golden_read_grads(FILE *f, int n, const size_t *n_elem, float **g)
{
    for (int t = 0; t < n; t++) {
        g[t] = malloc(n_elem[t] * 4);
        assert_true(rd(f, g[t], n_elem[t] * 4));
    }
    char extra;
    assert_true(fread(&extra, 1, 1, f) == 0); /* nothing after the last gradient */
    fclose(f);
}

#endif
