/* arch.h - the encoder architecture and its canonical tensor table.
 *
 * One table, derived from the config alone, names every parameter tensor
 * with its Hugging Face name and shape, in a fixed order. The weights file,
 * `idim init`, `idim convert`, the model and the projection all use this
 * table, so "tensor index t" means the same tensor everywhere (the Fastfood
 * tables of tensor t are keyed by t).
 *
 * Names carry the family prefix of the *ForSequenceClassification models:
 *   bert.embeddings.word_embeddings.weight              [V, C]
 *   bert.embeddings.position_embeddings.weight          [P, C]
 *   bert.embeddings.token_type_embeddings.weight        [TV, C]
 *   bert.embeddings.LayerNorm.{weight,bias}             [C]
 *   bert.encoder.layer.{i}.attention.self.{query,key,value}.weight [C, C], .bias [C]
 *   bert.encoder.layer.{i}.attention.output.dense.weight [C, C], .bias [C]
 *   bert.encoder.layer.{i}.attention.output.LayerNorm.{weight,bias} [C]
 *   bert.encoder.layer.{i}.intermediate.dense.weight    [F, C], .bias [F]
 *   bert.encoder.layer.{i}.output.dense.weight          [C, F], .bias [C]
 *   bert.encoder.layer.{i}.output.LayerNorm.{weight,bias} [C]
 *   bert.pooler.dense.weight [C, C], .bias [C]
 * (RoBERTa: prefix "roberta." instead of "bert.")
 * Classification heads (ARCH_WITH_HEAD), n_labels = NL (1 for regression):
 *   BERT:    classifier.weight [NL, C], classifier.bias [NL]
 *   RoBERTa: classifier.dense.weight [C, C], classifier.dense.bias [C],
 *            classifier.out_proj.weight [NL, C], classifier.out_proj.bias [NL]
 * Masked-LM head (has_mlm_head; the decoder weight is tied to the word
 * embeddings and its bias is the head's bias, so neither is stored twice):
 *   BERT:    cls.predictions.transform.dense.weight [C, C], .bias [C],
 *            cls.predictions.transform.LayerNorm.weight [C], .bias [C],
 *            cls.predictions.bias [V]
 *   RoBERTa: lm_head.dense.weight [C, C], lm_head.dense.bias [C],
 *            lm_head.layer_norm.weight [C], lm_head.layer_norm.bias [C],
 *            lm_head.bias [V]
 * Linear weights are [out, in], row-major, as PyTorch stores them.
 *
 * Which tensors a table holds depends on its purpose (enum arch_table):
 *   ARCH_TABLE_FILE:  the encoder, plus the pooler when cfg.has_pooler, plus
 *                     the head when cfg.n_labels > 0, then the masked-LM
 *                     head when cfg.has_mlm_head (what a file holds).
 *   ARCH_TABLE_MODEL: what the classifier uses and trains: the encoder; for
 *                     BERT the pooler (always: created when missing); the
 *                     head for n_labels. RoBERTa's classifier ignores the
 *                     pooler, so it is not in the model table. The MLM
 *                     head is never in it (mlm.h holds it while pretraining;
 *                     fine-tuning ignores it). */
#ifndef IDIM_ARCH_H
#define IDIM_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum arch_family { ARCH_BERT = 1, ARCH_ROBERTA = 2 };
enum arch_act { ARCH_GELU = 1 /* erf form, HF "gelu" */ };
enum arch_table { ARCH_TABLE_FILE = 1, ARCH_TABLE_MODEL = 2 };

/* Group of a tensor, for parameter counts by group in `idim info`. */
enum arch_group {
    ARCH_G_EMBED = 1, ARCH_G_LAYER = 2, ARCH_G_POOLER = 3, ARCH_G_HEAD = 4,
    ARCH_G_MLM = 5 /* masked-LM head (file table only, when has_mlm_head) */
};

#define ARCH_NAME_MAX 96
#define ARCH_MAX_LAYERS 256

struct arch_config {
    enum arch_family family;
    int n_layers;    /* L, 1..256 */
    int hidden;      /* C, multiple of n_heads */
    int n_heads;     /* NH */
    int ffn;         /* F, intermediate size */
    int vocab_size;  /* V */
    int max_pos;     /* P, max_position_embeddings (RoBERTa: 514 for 512 tokens) */
    int type_vocab;  /* TV, >= 1 */
    int pad_id;      /* padding token id (BERT 0, RoBERTa 1) */
    float ln_eps;    /* LayerNorm epsilon (BERT 1e-12, RoBERTa 1e-5) */
    enum arch_act act;
    int has_pooler;  /* file holds {prefix}.pooler.dense.* */
    int n_labels;    /* 0 = no classification head; 1 = regression; >= 2 classes */
    int has_mlm_head; /* file holds the masked-LM head (format 1.1; 0 in 1.0 files) */
    int64_t pretrain_steps; /* optimizer steps of `idim pretrain` behind these weights
                               (0 = unknown / not pretrained by idim) */
};

struct arch_tensor {
    char name[ARCH_NAME_MAX];
    int n_dims;        /* 1 or 2 */
    int64_t shape[2];  /* [out, in] or [n] */
    size_t n_elem;     /* product of shape */
    size_t offset;     /* in floats, from the start of a packed parameter block */
    enum arch_group group;
    int layer;         /* layer index for ARCH_G_LAYER, else -1 */
};

/* Checks every field's range and consistency (hidden % n_heads == 0, ...).
 * Returns IDIM_OK or IDIM_ERR_FORMAT with the field named; `what` (a path or
 * "--hidden") prefixes the message. */
enum idim_status arch_validate(const struct arch_config *c, const char *what,
                               struct idim_err *err);

/* Fills out[0..n) with the tensor table (see above) and returns n; with
 * out == NULL only counts. Offsets pack the tensors in table order.
 * n_labels overrides c->n_labels for ARCH_TABLE_MODEL (pass c->n_labels to
 * keep it). The config must have passed arch_validate. */
size_t arch_tensors(const struct arch_config *c, enum arch_table which,
                    int n_labels, struct arch_tensor *out, size_t cap);

/* Total floats in the table (sum of n_elem). */
size_t arch_n_params(const struct arch_config *c, enum arch_table which, int n_labels);

/* "bert" or "roberta" / the family prefix "bert." or "roberta.". */
const char *arch_family_name(enum arch_family f);

/* The BERT-style presets of `idim init` (tiny, mini, small, medium, base):
 * fills layers/hidden/heads/ffn and returns 1, or returns 0 when unknown. */
int arch_preset(const char *name, struct arch_config *c);

/* BERT's random initialisation of one tensor, the one copy of the rule
 * (Devlin et al. 2019; Hugging Face BertPreTrainedModel._init_weights):
 * a 2-D tensor ~ normal(0, 0.02), drawn in row-major order from
 * rng_init(rng_key(seed, key)) as (float)(0.02 * rng_normal); LayerNorm
 * weight 1; every other 1-D tensor 0; the padding row (pad_id) of the word
 * embeddings, and for RoBERTa of the position embeddings, 0 (as
 * nn.Embedding(padding_idx) init does). Keys: tensor t of a table draws
 * from key t (`idim init`, model_init_random); a tensor created when a file
 * lacks it (a new classification head, a missing pooler) from
 * ARCH_CREATED_KEY + t, so a model built at random equals `idim init` with
 * the same seed followed by loading. x: [t->n_elem]. */
#define ARCH_CREATED_KEY 1000000u
void arch_init_tensor(float *x, const struct arch_tensor *t, const struct arch_config *c,
                      uint64_t seed, uint64_t key);

#endif
