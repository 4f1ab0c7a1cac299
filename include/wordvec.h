/* wordvec.h - word vectors to initialise the embedding table (`idim
 * pretrain --objective wordvec`): positive pointwise mutual information of
 * windowed co-occurrence counts over a token stream, factored by a
 * randomized truncated SVD (Levy, Goldberg & Dagan 2015: context
 * distribution smoothing 0.75, symmetric window, E = U sqrt(S)).
 *
 * Counts: every pair of tokens at distance 1..window in the stream (both
 * orders) counts once; the stream is the corpus as `idim pretrain` packs
 * it (documents separated by [SEP] / </s>, windows cross documents). Only
 * the K most frequent ids get a row and a column (ties: lower id first);
 * the marginals are over the whole vocabulary:
 *   w(a)   = number of (a, any) pairs,  c(b) = w(b)^alpha / sum_v w(v)^alpha
 *   PPMI(a, b) = max(0, log(n(a, b) / w(a)) - log c(b))
 * SVD: Halko, Martinsson & Tropp (2011), algorithm 4.4: a Gaussian test
 * matrix of k + oversample columns (seeded; the command uses 2k, since a
 * PPMI spectrum is flat near the k-th value), `power` subspace iterations
 * with re-orthonormalisation (Gram-Schmidt, two passes, double sums), the
 * products through ops.h's sgemm (results independent of the thread
 * count), then the eigenvectors of the small Gram matrix B B^T (B = Q^T A)
 * by cyclic Jacobi in double. Same inputs and seed: the same bits.
 *
 * Stage: before pretraining (writes a model file). Inputs: a model file
 * with a tokenizer, corpus files. Output: DIR/wordvec.bin. */
#ifndef IDIM_WORDVEC_H
#define IDIM_WORDVEC_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct pretrain_opts;

struct wordvec_ppmi {
    int K;           /* rows and columns */
    int32_t *ids;    /* [K] token id of row i: by count, descending (owned) */
    float *m;        /* [K * K] row-major PPMI (owned) */
    size_t covered;  /* stream tokens whose id has a row */
};

/* The PPMI matrix of tok[n] (ids in 0..n_vocab-1) over the max_vocab most
 * frequent ids. IDIM_ERR_FORMAT when the stream holds fewer than
 * min_vocab distinct ids (a corpus too small for the SVD asked for) or
 * fewer than 2 tokens; IDIM_ERR_USAGE for a bad window / alpha;
 * IDIM_ERR_NOMEM. */
enum idim_status wordvec_ppmi(struct wordvec_ppmi *p, const int32_t *tok, size_t n,
                              int n_vocab, int window, double alpha, int max_vocab,
                              int min_vocab, struct idim_err *err);
void wordvec_ppmi_free(struct wordvec_ppmi *p);

/* The k leading left singular vectors of A [m, n] (row-major) into U
 * [m, k] (row-major; each column has unit norm, its largest-magnitude
 * entry positive) and the singular values into s[k], descending.
 * k <= min(m, n); the sketch has min(k + oversample, m, n) columns.
 * IDIM_ERR_USAGE for bad sizes, IDIM_ERR_NOMEM. */
enum idim_status wordvec_svd(const float *A, int m, int n, int k, int oversample, int power,
                             uint64_t seed, float *U, float *s, struct idim_err *err);

/* Rows of the embedding table from the factor: E = U sqrt(s) [K, C],
 * each column centred, then all entries scaled to standard deviation std;
 * row i goes to wte[ids[i] * C ..]. Other rows of wte are left alone.
 * Returns 0, -1 when E is constant or -2 out of memory (nothing written). */
int wordvec_embed(float *wte, int C, const int32_t *ids, int K, const float *U,
                  const float *s, double std);

struct wordvec_result {
    char out[4096];          /* the model file written */
    size_t n_tok, n_docs;    /* corpus */
    int K;                   /* rows of the PPMI matrix */
    double coverage;         /* share of the stream's tokens with a vector */
    double sv_first, sv_last; /* the largest and the C-th singular value */
};

/* `idim pretrain --objective wordvec`: reads o->model and o->corpus, sets
 * the word-embedding rows of the o->wv_vocab most frequent tokens to the
 * PPMI-SVD vectors (every other tensor, and the rows of rarer tokens, as in
 * o->model) and writes o->out_dir/wordvec.bin atomically. */
enum idim_status wordvec_run(const struct pretrain_opts *o, struct wordvec_result *r,
                             struct idim_err *err);

#endif
