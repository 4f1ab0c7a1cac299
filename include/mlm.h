/* mlm.h - the masked-language-model head of BertForMaskedLM /
 * RobertaForMaskedLM (Devlin et al. 2019; Liu et al. 2019), forward and
 * exact backward on the encoder's final hidden states.
 *
 *   x = hidden[masked rows]                       [M, C]  (gathered)
 *   y = LayerNorm(gelu(x Wd^T + bd))              [M, C]  (transform)
 *   logits = y E^T + bias                         [M, V]  (decoder tied to
 *                                                          the word embeddings E)
 *   loss = mean cross-entropy over the M rows
 *
 * The vocabulary softmax is computed only at the M masked positions: one
 * sgemm against E. Parameters are the head's tensors of the
 * ARCH_TABLE_FILE table (arch.h, group ARCH_G_MLM), packed in table order:
 * dense.weight [C, C], dense.bias [C], LayerNorm weight [C], bias [C],
 * bias [V]; they are stored under Hugging Face's names.
 *
 * Memory: every buffer is allocated at mlm_init for up to max_M rows and
 * max_N hidden rows; forward and backward never allocate.
 *
 * Stage: beside model (it reads model_hidden and feeds
 * model_backward_hidden). Inputs: hidden states, positions, labels. */
#ifndef IDIM_MLM_H
#define IDIM_MLM_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "status.h"
#include "wfile.h"

#define MLM_N_TENSORS 5

struct mlm_head {
    struct arch_config cfg;       /* the encoder's config (family, C, V, eps) */
    struct arch_tensor tensors[MLM_N_TENSORS]; /* names/shapes; offsets into params */
    size_t n_params;              /* C*C + 3C + V */
    float *params;                /* [n_params] */
    float *grads;                 /* [n_params] after mlm_backward (overwritten) */
    int max_M, max_N;
    /* what the last forward saw and computed */
    int M;                        /* masked rows */
    const int32_t *pos;           /* [M] borrowed: row of hidden for each masked token */
    const int32_t *labels;        /* [M] borrowed: the original token ids */
    const float *wte;             /* borrowed: the tied decoder weight [V, C] */
    double loss;                  /* mean cross-entropy of the last forward (double) */
    int n_correct;                /* rows whose argmax logit is the label */
    float *x, *f, *g, *xhat, *rstd, *y; /* [M, C] ([M] for rstd) saved activations */
    float *logits;                /* [M, V]: logits, then dLoss/dlogits after forward */
    double *row_loss;             /* [M] */
    int32_t *row_hit;             /* [M] */
    float *dy, *dx;               /* [M, C] scratch */
    float *dhidden;               /* [max_N, C] gradient for model_backward_hidden */
    /* restricted output vocabulary (mlm_set_vocab); K == 0: all V ids */
    int K;
    int32_t *out_ids;             /* [K] the scored ids, column order */
    int32_t *out_col;             /* [V] column of each id, -1: not scored */
    int32_t *tgt;                 /* [max_M] label columns of the last forward */
    float *Es, *dEs;              /* [K, C] gathered decoder rows; their gradient */
    float *bs, *dbs;              /* [K] gathered decoder bias; its gradient */
};

/* Allocates a head for cfg (family, hidden, vocab, ln_eps) taking up to
 * max_M masked rows out of up to max_N hidden rows. Parameters are zero
 * until mlm_init_random or mlm_load. Returns IDIM_OK or IDIM_ERR_NOMEM /
 * IDIM_ERR_USAGE. */
enum idim_status mlm_init(struct mlm_head *h, const struct arch_config *cfg, int max_M,
                          int max_N, struct idim_err *err);

/* HF initialisation: dense weight normal(0, 0.02) from rng_key(seed,
 * MLM_INIT_STREAM), LayerNorm weight 1, biases 0. */
void mlm_init_random(struct mlm_head *h, uint64_t seed);

/* Copies the head from a file that has one (w->cfg.has_mlm_head); returns
 * IDIM_ERR_FORMAT when a tensor is missing or misshapen. */
enum idim_status mlm_load(struct mlm_head *h, const struct wfile *w, struct idim_err *err);

/* Restricts the decoder's softmax to the K ids ids[K] (distinct, in
 * 0..V-1; column j scores ids[j]): logits are y E_S^T + bias_S, so a step
 * costs M x C x K instead of M x C x V, and the gradients reach only those
 * rows of E and the bias. Every label given to mlm_forward must then be
 * one of them (mlm_keep_scored drops the others). ids == NULL: back to the
 * whole vocabulary. Allocates (once, not in a step). IDIM_ERR_USAGE for a
 * bad list, IDIM_ERR_NOMEM. */
enum idim_status mlm_set_vocab(struct mlm_head *h, const int32_t *ids, int K,
                               struct idim_err *err);

/* Keeps the masked rows whose label is scored (all of them without a
 * restriction), in order, in pos/labels; returns how many. */
int mlm_keep_scored(const struct mlm_head *h, int32_t *pos, int32_t *labels, int M);

/* Forward at M masked positions: pos[M] are row indices into hidden
 * [N, C], labels[M] the target ids (0..V-1), wte the word embeddings
 * [V, C]. Returns the mean cross-entropy (float) and sets h->loss,
 * h->n_correct. Keeps pointers to pos, labels and wte for the backward.
 * 1 <= M <= max_M. */
float mlm_forward(struct mlm_head *h, const float *hidden, const float *wte, const int32_t *pos,
                  const int32_t *labels, int M);

/* Backward of the last mlm_forward: overwrites h->grads and fills
 * h->dhidden [N, C] (zero except the masked rows) for
 * model_backward_hidden. The decoder's gradient into the tied embeddings is
 * added separately by mlm_add_decoder_grad, after the encoder's backward
 * has overwritten the model's gradients. */
void mlm_backward(struct mlm_head *h, int N);

/* dwte [V, C] += dLoss/dE from the decoder (needs the last mlm_backward's
 * inputs; call once after model_backward_hidden). */
void mlm_add_decoder_grad(const struct mlm_head *h, float *dwte);

/* Matrix-product FLOPs of forward + backward of the head for M rows. */
double mlm_flops(const struct mlm_head *h, int M);

void mlm_free(struct mlm_head *h);

#endif
