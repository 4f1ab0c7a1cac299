/* arch.c - architecture validation and the canonical tensor table. */
#include "arch.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum idim_status arch_validate(const struct arch_config *c, const char *what,
                               struct idim_err *err)
{
#define RANGE(field, lo, hi)                                                         \
    do {                                                                             \
        if ((long long)(c->field) < (long long)(lo) || (long long)(c->field) > (long long)(hi)) \
            return idim_fail(err, IDIM_ERR_FORMAT,                                  \
                             "%s: " #field " is %lld: expected %lld..%lld", what,   \
                             (long long)(c->field), (long long)(lo), (long long)(hi)); \
    } while (0)
    if (c->family != ARCH_BERT && c->family != ARCH_ROBERTA)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: family is %d: expected bert (1) or roberta (2)",
                         what, (int)c->family);
    RANGE(n_layers, 1, ARCH_MAX_LAYERS);
    RANGE(hidden, 1, 65536);
    RANGE(n_heads, 1, 1024);
    RANGE(ffn, 1, 1 << 20);
    RANGE(vocab_size, 1, 1 << 24);
    RANGE(max_pos, 1, 1 << 20);
    RANGE(type_vocab, 1, 1024);
    RANGE(pad_id, 0, c->vocab_size - 1);
    RANGE(has_pooler, 0, 1);
    RANGE(n_labels, 0, 1024);
    RANGE(has_mlm_head, 0, 1);
    RANGE(pretrain_steps, 0, UINT32_MAX);
    RANGE(act, ARCH_GELU, ARCH_GELU);
    if (c->hidden % c->n_heads != 0)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: hidden size %d is not a multiple of the %d heads", what,
                         c->hidden, c->n_heads);
    if (!(c->ln_eps > 0.0f && c->ln_eps < 1.0f))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: layer_norm_eps is %g: expected 0 < eps < 1",
                         what, (double)c->ln_eps);
    if (c->family == ARCH_ROBERTA && c->max_pos <= c->pad_id + 1)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: max_position_embeddings %d leaves no positions after pad id %d",
                         what, c->max_pos, c->pad_id);
    return IDIM_OK;
#undef RANGE
}

const char *arch_family_name(enum arch_family f)
{
    return f == ARCH_ROBERTA ? "roberta" : "bert";
}

struct table_builder {
    struct arch_tensor *out;
    size_t cap, n, off;
};

static void add(struct table_builder *tb, enum arch_group g, int layer, int64_t d0, int64_t d1,
                const char *fmt, const char *prefix, int idx)
{
    if (tb->out && tb->n < tb->cap) {
        struct arch_tensor *t = &tb->out[tb->n];
        memset(t, 0, sizeof *t);
        if (idx >= 0)
            snprintf(t->name, sizeof t->name, fmt, prefix, idx);
        else
            snprintf(t->name, sizeof t->name, fmt, prefix);
        t->n_dims = d1 > 0 ? 2 : 1;
        t->shape[0] = d0;
        t->shape[1] = d1 > 0 ? d1 : 0;
        t->n_elem = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
        t->offset = tb->off;
        t->group = g;
        t->layer = layer;
    }
    tb->n++;
    tb->off += (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
}

/* Walks the table once; fills tb->out when given, and counts tensors (tb->n)
 * and floats (tb->off) either way. */
static void build(const struct arch_config *c, enum arch_table which, int n_labels,
                  struct table_builder *t)
{
    struct table_builder tb = *t;
    const char *p = c->family == ARCH_ROBERTA ? "roberta" : "bert";
    int64_t C = c->hidden, F = c->ffn;
    add(&tb, ARCH_G_EMBED, -1, c->vocab_size, C, "%s.embeddings.word_embeddings.weight", p, -1);
    add(&tb, ARCH_G_EMBED, -1, c->max_pos, C, "%s.embeddings.position_embeddings.weight", p, -1);
    add(&tb, ARCH_G_EMBED, -1, c->type_vocab, C, "%s.embeddings.token_type_embeddings.weight", p, -1);
    add(&tb, ARCH_G_EMBED, -1, C, 0, "%s.embeddings.LayerNorm.weight", p, -1);
    add(&tb, ARCH_G_EMBED, -1, C, 0, "%s.embeddings.LayerNorm.bias", p, -1);
    for (int i = 0; i < c->n_layers; i++) {
        static const char *qkv[3] = {"query", "key", "value"};
        char fmt[ARCH_NAME_MAX];
        for (int k = 0; k < 3; k++) {
            snprintf(fmt, sizeof fmt, "%%s.encoder.layer.%%d.attention.self.%s.weight", qkv[k]);
            add(&tb, ARCH_G_LAYER, i, C, C, fmt, p, i);
            snprintf(fmt, sizeof fmt, "%%s.encoder.layer.%%d.attention.self.%s.bias", qkv[k]);
            add(&tb, ARCH_G_LAYER, i, C, 0, fmt, p, i);
        }
        add(&tb, ARCH_G_LAYER, i, C, C, "%s.encoder.layer.%d.attention.output.dense.weight", p, i);
        add(&tb, ARCH_G_LAYER, i, C, 0, "%s.encoder.layer.%d.attention.output.dense.bias", p, i);
        add(&tb, ARCH_G_LAYER, i, C, 0, "%s.encoder.layer.%d.attention.output.LayerNorm.weight", p, i);
        add(&tb, ARCH_G_LAYER, i, C, 0, "%s.encoder.layer.%d.attention.output.LayerNorm.bias", p, i);
        add(&tb, ARCH_G_LAYER, i, F, C, "%s.encoder.layer.%d.intermediate.dense.weight", p, i);
        add(&tb, ARCH_G_LAYER, i, F, 0, "%s.encoder.layer.%d.intermediate.dense.bias", p, i);
        add(&tb, ARCH_G_LAYER, i, C, F, "%s.encoder.layer.%d.output.dense.weight", p, i);
        add(&tb, ARCH_G_LAYER, i, C, 0, "%s.encoder.layer.%d.output.dense.bias", p, i);
        add(&tb, ARCH_G_LAYER, i, C, 0, "%s.encoder.layer.%d.output.LayerNorm.weight", p, i);
        add(&tb, ARCH_G_LAYER, i, C, 0, "%s.encoder.layer.%d.output.LayerNorm.bias", p, i);
    }
    int pooler = which == ARCH_TABLE_FILE ? c->has_pooler : c->family == ARCH_BERT;
    if (pooler) {
        add(&tb, ARCH_G_POOLER, -1, C, C, "%s.pooler.dense.weight", p, -1);
        add(&tb, ARCH_G_POOLER, -1, C, 0, "%s.pooler.dense.bias", p, -1);
    }
    int nl = which == ARCH_TABLE_FILE ? c->n_labels : n_labels;
    if (nl > 0) {
        if (c->family == ARCH_BERT) {
            add(&tb, ARCH_G_HEAD, -1, nl, C, "classifier.weight%s", "", -1);
            add(&tb, ARCH_G_HEAD, -1, nl, 0, "classifier.bias%s", "", -1);
        } else {
            add(&tb, ARCH_G_HEAD, -1, C, C, "classifier.dense.weight%s", "", -1);
            add(&tb, ARCH_G_HEAD, -1, C, 0, "classifier.dense.bias%s", "", -1);
            add(&tb, ARCH_G_HEAD, -1, nl, C, "classifier.out_proj.weight%s", "", -1);
            add(&tb, ARCH_G_HEAD, -1, nl, 0, "classifier.out_proj.bias%s", "", -1);
        }
    }
    if (which == ARCH_TABLE_FILE && c->has_mlm_head) {
        if (c->family == ARCH_BERT) {
            add(&tb, ARCH_G_MLM, -1, C, C, "%scls.predictions.transform.dense.weight", "", -1);
            add(&tb, ARCH_G_MLM, -1, C, 0, "%scls.predictions.transform.dense.bias", "", -1);
            add(&tb, ARCH_G_MLM, -1, C, 0, "%scls.predictions.transform.LayerNorm.weight", "", -1);
            add(&tb, ARCH_G_MLM, -1, C, 0, "%scls.predictions.transform.LayerNorm.bias", "", -1);
            add(&tb, ARCH_G_MLM, -1, c->vocab_size, 0, "%scls.predictions.bias", "", -1);
        } else {
            add(&tb, ARCH_G_MLM, -1, C, C, "%slm_head.dense.weight", "", -1);
            add(&tb, ARCH_G_MLM, -1, C, 0, "%slm_head.dense.bias", "", -1);
            add(&tb, ARCH_G_MLM, -1, C, 0, "%slm_head.layer_norm.weight", "", -1);
            add(&tb, ARCH_G_MLM, -1, C, 0, "%slm_head.layer_norm.bias", "", -1);
            add(&tb, ARCH_G_MLM, -1, c->vocab_size, 0, "%slm_head.bias", "", -1);
        }
    }
    *t = tb;
}

size_t arch_tensors(const struct arch_config *c, enum arch_table which, int n_labels,
                    struct arch_tensor *out, size_t cap)
{
    struct table_builder tb = {out, cap, 0, 0};
    build(c, which, n_labels, &tb);
    return tb.n;
}

size_t arch_n_params(const struct arch_config *c, enum arch_table which, int n_labels)
{
    struct table_builder tb = {NULL, 0, 0, 0};
    build(c, which, n_labels, &tb);
    return tb.off;
}

int arch_preset(const char *name, struct arch_config *c)
{
    static const struct {
        const char *name;
        int L, H, A, F;
    } presets[] = {
        {"tiny", 2, 128, 2, 512},     {"mini", 4, 256, 4, 1024},   {"small", 4, 512, 8, 2048},
        {"medium", 8, 512, 8, 2048},  {"base", 12, 768, 12, 3072},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(name, presets[i].name) == 0) {
            c->n_layers = presets[i].L;
            c->hidden = presets[i].H;
            c->n_heads = presets[i].A;
            c->ffn = presets[i].F;
            return 1;
        }
    }
    return 0;
}

void arch_init_tensor(float *x, const struct arch_tensor *t, const struct arch_config *c,
                      uint64_t seed, uint64_t key)
{
    size_t n = t->n_elem, len = strlen(t->name);
    if (t->n_dims == 2) {
        struct rng r;
        rng_init(&r, rng_key(seed, key));
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(0.02 * rng_normal(&r));
        int word = strstr(t->name, ".embeddings.word_embeddings.") != NULL;
        int pos = c->family == ARCH_ROBERTA && strstr(t->name, ".embeddings.position_embeddings.");
        if ((word || pos) && c->pad_id >= 0 && c->pad_id < t->shape[0])
            memset(x + (size_t)c->pad_id * (size_t)t->shape[1], 0,
                   (size_t)t->shape[1] * sizeof *x);
    } else {
        float v = len >= 16 && !strcmp(t->name + len - 16, "LayerNorm.weight") ? 1.0f : 0.0f;
        for (size_t i = 0; i < n; i++)
            x[i] = v;
    }
}
