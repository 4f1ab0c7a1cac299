/* model.h - the BERT/RoBERTa encoder with a sequence-classification head:
 * exact float32 forward and backward on CPU.
 *
 * Parameters, gradients and activations each live in one allocation,
 * carved by the ARCH_TABLE_MODEL tensor table (arch.h) and sized for the
 * largest batch (max_B x max_T) at model_init; nothing is allocated in
 * model_forward / model_backward. Matrix products go through cblas_sgemm.
 *
 * Stage: after wfile. Inputs: struct batch (batch.h); no task or tokenizer
 * code. */
#ifndef IDIM_MODEL_H
#define IDIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "batch.h"
#include "rng.h"
#include "status.h"
#include "wfile.h"

/* Dropout draws from rng_key(seed, MODEL_DROP_STREAM) after model_load /
 * model_init_random (model_init keys it with seed 0). */
#define MODEL_DROP_STREAM 2000000u

struct model {
    struct arch_config cfg;      /* cfg.n_labels = the head this model uses */
    int n_labels;                /* classes, or 1 for regression (MSE loss) */
    size_t n_tensors;            /* m = tensors in the model table */
    struct arch_tensor *tensors; /* [n_tensors], ARCH_TABLE_MODEL order, offsets into params */
    size_t n_params;             /* D */
    float *params;               /* [D] current weights */
    float *grads;                /* [D] dLoss/dparams after model_backward */
    const float **theta0;        /* [n_tensors] starting weights per tensor: borrowed from
                                    the wfile mapping, or into `created` for tensors the file
                                    lacks (head, BERT pooler); read-only */
    float *created;              /* owned block for tensors created from the seed */
    int *tensor_created;         /* [n_tensors] 1 when created from the seed */
    int max_B, max_T;
    float dropout;               /* hidden and attention dropout probability (train only);
                                    0.1 after model_init, callers may set it */
    struct rng drop_rng;         /* dropout stream */
    float *logits;               /* [max_B * n_labels] after model_forward */
    float loss;                  /* mean loss of the last forward */
    double loss_f64;             /* the same before rounding to float (finite differences) */
    void *priv;                  /* activations and scratch (owned) */
    const volatile int *stop;    /* NULL (model_init), or a flag polled between the passes'
                                    steps (layers, products): once *stop is set, model_forward
                                    returns NAN and model_backward returns early, leaving
                                    logits and grads incomplete; the caller checks *stop and
                                    drops the step (Ctrl-C within a second on large models) */
};

/* Allocates a model for cfg with an n_labels head and batches up to
 * max_B x max_T (max_T <= cfg->max_pos, minus 2 for RoBERTa). Parameters
 * are zero until model_load or model_init_random. */
enum idim_status model_init(struct model *m, const struct arch_config *cfg, int n_labels,
                            int max_B, int max_T, struct idim_err *err);

/* The bytes model_init(m, cfg, n_labels, max_B, max_T) allocates:
 * weights, gradients and the activation block (for memguard.h totals; the
 * arguments must be ones model_init accepts). */
size_t model_memory_bytes(const struct arch_config *cfg, int n_labels, int max_B, int max_T);

/* Copies the file's tensors into params and points theta0 at them; tensors
 * the file lacks (classification head, BERT pooler) are created with
 * normal(0, 0.02) weights and zero biases from rng_key(seed, 1000000 + t).
 * A file head with another label count is an error (IDIM_ERR_FORMAT). */
enum idim_status model_load(struct model *m, const struct wfile *w, uint64_t seed,
                            struct idim_err *err);

/* BERT initialisation of every tensor: normal(0, 0.02) weights (embeddings
 * and linear weights), LayerNorm weight 1, all biases 0; theta0 -> params. */
void model_init_random(struct model *m, uint64_t seed);

/* Forward pass on b (b->B <= max_B, b->T <= max_T). train != 0 enables
 * dropout (0 <= m->dropout < 1) drawn from m->drop_rng. Fills m->logits,
 * sets and returns m->loss (mean cross-entropy over labels >= 0, or mean
 * squared error against b->targets for regression; 0 without labels).
 * The model keeps a pointer to b: leave it unchanged until model_backward. */
float model_forward(struct model *m, const struct batch *b, int train);

/* Backward pass of the last model_forward: overwrites m->grads with the
 * gradient of m->loss for every parameter (heads included). */
void model_backward(struct model *m);

/* The last layer's output [b->B * b->T, C] (row n = token n of the batch,
 * row-major) of the last model_forward; valid until the next forward. For
 * heads that live outside the model (the masked-LM head, mlm.h). */
const float *model_hidden(const struct model *m);

/* Backward of the last model_forward from a given gradient of the last
 * layer's output, dhidden [B*T, C] (the classification head is skipped: its
 * gradients are 0): overwrites m->grads. dhidden is copied, not kept. */
void model_backward_hidden(struct model *m, const float *dhidden);

/* Sets the thread count of our own loops and matrix products (a
 * process-wide pool of workers that sleep between calls; see ops.h): every
 * sgemm runs in fixed row blocks over the pool and OpenBLAS itself runs on one
 * thread (openblas_set_num_threads(1)). Work is split so that results do
 * not depend on n. The pool is shared: run one model computation at a time
 * per process. */
void model_set_threads(int n);

/* Matrix-product FLOPs (2 per multiply-add) of one forward pass on a
 * B x T batch: the linear layers, attention scores and context, and the
 * head. A backward costs twice this. */
double model_flops_forward(const struct model *m, int B, int T);

void model_free(struct model *m);

#endif
