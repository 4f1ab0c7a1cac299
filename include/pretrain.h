/* pretrain.h - masked-language-model pretraining of a BERT/RoBERTa encoder
 * (RoBERTa's recipe, Liu et al. 2019: dynamic masking, documents packed
 * into full blocks, no next-sentence task).
 *
 * Corpus: plain UTF-8 files; documents are lines or blank-line-separated
 * blocks. Every document is tokenized (no special tokens) and the
 * documents are concatenated into one token stream, each followed by the
 * separator ([SEP] / </s>). Block i is [CLS] stream[i*(T-2) .. +T-2) [SEP]
 * (the last one padded). A held-out slice (every k-th block) is scored at
 * each checkpoint with masks drawn once.
 *
 * Determinism and resume: everything random is keyed by (seed, step): the
 * training order (a permutation of the training blocks per epoch, keyed by
 * the epoch), the masks of step s and the dropout of step s. The state file
 * (out_dir/state.bin, written atomically at every checkpoint and on
 * Ctrl-C) holds the parameters, the AdamW moments, the step and the log's
 * length, so a run resumed after Ctrl-C or kill -9 continues bit for bit
 * (same thread count).
 *
 * Stage: after model and mlm. Inputs: a model file with a tokenizer, corpus
 * files. Outputs: checkpoints (ordinary model files with the MLM head and
 * the step), log.jsonl, state.bin. */
#ifndef IDIM_PRETRAIN_H
#define IDIM_PRETRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "status.h"

struct tokenizer;

/* ---- corpus ------------------------------------------------------------ */

struct pretrain_corpus {
    int32_t *tok;      /* [n_tok] the token stream, separators included (owned) */
    size_t n_tok;
    size_t n_docs;
    size_t n_bytes;    /* text bytes read */
};

/* Reads and tokenizes the files (doc_lines: 1 = one document per
 * non-empty line, 0 = blank-line-separated blocks). Returns IDIM_ERR_IO for
 * a missing/unreadable file, IDIM_ERR_FORMAT for a file that is binary
 * (NUL bytes), not UTF-8 (line and byte named) or holds no text. */
enum idim_status pretrain_corpus_load(struct pretrain_corpus *c, struct tokenizer *tk,
                                      const char *const *paths, int n_paths, int doc_lines,
                                      int32_t sep_id, struct idim_err *err);
void pretrain_corpus_free(struct pretrain_corpus *c);

/* ---- masking ----------------------------------------------------------- */

struct pretrain_specials {
    int32_t cls_id, sep_id, pad_id, mask_id;
    int32_t n_vocab;    /* random replacements are drawn from 0..n_vocab-1 */
};

/* Dynamic masking (BERT/RoBERTa): each token that is not [CLS], [SEP] or
 * padding is selected with probability p; a selected token becomes the
 * mask token (80%), a random token (10%) or stays (10%). ids[N] is changed
 * in place; the selected rows go to pos[] (ascending) and their original
 * ids to labels[]. At most max_M are kept (later ones are left unmasked:
 * max_M is set far above the mean); when none is selected one eligible
 * token is, so every batch has a loss. Returns M (0 only when no token is
 * eligible). */
int pretrain_mask(int32_t *ids, int N, const struct pretrain_specials *sp, double p,
                  struct rng *r, int32_t *pos, int32_t *labels, int max_M);

/* ---- the run ----------------------------------------------------------- */

struct pretrain_progress {
    long step, steps;           /* steps done / total */
    double loss;                /* mean train loss since the last report */
    double lr;
    double tokens_per_s;        /* over this session */
    double eta_s;               /* seconds left at this pace */
    int checkpoint;             /* 1: held-out scored at this step */
    double heldout_loss, heldout_acc;
    const char *note;           /* a one-off message (resume, checkpoint path) or NULL */
};
typedef void (*pretrain_progress_fn)(const struct pretrain_progress *p, void *user);

struct pretrain_opts {
    const char *model;          /* model file to start from (tokenizer required) */
    const char *out_dir;        /* checkpoints, log.jsonl, state.bin */
    const char *const *corpus;  /* [n_corpus] files */
    int n_corpus;
    int doc_lines;              /* 1: a document per line; 0: blank-line blocks */
    long steps, batch, seq_len;
    long warmup;                /* steps; < 0: 6% of steps */
    double lr, weight_decay, clip, dropout, mask_prob;
    long checkpoint_every, log_every;
    long heldout;               /* held-out blocks; 0: 1% of blocks (1..256) */
    long mlm_vocab;             /* > 0: the softmax over the K most frequent corpus
                                   tokens only; masked rarer tokens are not scored */
    uint64_t seed;
    int threads;
    /* --objective wordvec (wordvec.h): the K most frequent tokens, the
     * window, subspace iterations, the std of the written rows */
    long wv_vocab, wv_window, wv_power;
    double wv_std;
    pretrain_progress_fn progress; /* may be NULL */
    void *user;
};

/* Defaults: mlm, 1000 steps, batch 32, seq-len 128, lr 5e-4, warmup 6%,
 * weight decay 0.01, clip 1.0, dropout 0.1, mask 0.15, checkpoint every
 * 500, log every 10, seed 0, 1 thread, one document per line; word
 * vectors: 16384 tokens, window 5, 8 subspace iterations, std 0.0325. */
void pretrain_opts_default(struct pretrain_opts *o);

struct pretrain_result {
    long step;                  /* steps done */
    long resumed_from;          /* step the run resumed at (0: fresh) */
    double heldout_loss, heldout_acc; /* at the last checkpoint */
    double tokens_per_s;
    size_t n_tok, n_train_blocks, n_heldout_blocks;
    char last_checkpoint[4096];
};

/* Matrix-product FLOPs of one pretraining step (forward, backward = 2x
 * forward) of the encoder cfg on B x T tokens with M masked rows: the
 * layers' linear maps and attention products, the MLM transform and the
 * decoder (M x C x V). */
struct arch_config;
double pretrain_flops_step(const struct arch_config *cfg, int B, int T, int M);

/* Runs (or resumes, when out_dir/state.bin exists with the same options
 * and corpus) the pretraining. Returns IDIM_OK, IDIM_ERR_IO /
 * IDIM_ERR_FORMAT (model or corpus), IDIM_ERR_USAGE (bad options, or a
 * state from other options), IDIM_ERR_WRITE, IDIM_ERR_NOMEM,
 * IDIM_ERR_DIVERGED (non-finite loss) or IDIM_ERR_INTERRUPTED (state
 * saved). */
enum idim_status pretrain_run(const struct pretrain_opts *o, struct pretrain_result *r,
                              struct idim_err *err);

#endif
