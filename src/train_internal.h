/* train_internal.h - what the trainer's source files share (not a public
 * contract): one run's scratch, the model sizing, dev evaluation, the data
 * order. Included only by src/train*.c. */
#ifndef IDIM_TRAIN_INTERNAL_H
#define IDIM_TRAIN_INTERNAL_H

#include "rng.h"
#include "train.h"

/* rng stream ids used by the trainer (keyed with opts->seed). */
#define STREAM_SHUFFLE 2000000u
#define STREAM_DROPOUT 3000000u

/* Scratch of one run: everything allocated before the first step. */
struct run {
    struct model m;
    int have_model;
    struct subspace s;
    struct batch b;
    int have_batch;
    size_t *idx;     /* [n_train] this epoch's order */
    size_t *order_scratch; /* [train_order_scratch] bucket batching, or NULL */
    size_t *eval_idx; /* [n_dev] 0..n_dev-1 (dev is scored in order) */
    int32_t *pred;   /* [n_dev] */
    float *score;    /* [n_dev] */
    float *opt;      /* optimizer state: 2 x trained floats */
    float *best_theta; /* [d] subspace: theta at the best epoch */
    uint8_t *decay;  /* [m] full FT: tensor gets weight decay */
    unsigned char *ckpt; /* [train_ckpt_bytes] checkpoint buffer, or NULL */
};

/* Releases everything in r; accepts a zeroed or half-built run. */
void train_scratch_free(struct run *r);

/* Longest batch the model is sized for: --max-len (clamped to the
 * positions the model has). Not the data's longest row, so that eval,
 * which loads only the dev split, builds exactly the same model. */
int train_model_T(const struct train_data *td);

/* Builds the model (from the file, or random when td has no file). */
enum idim_status train_build_model(struct run *r, struct train_data *td, int B, uint64_t seed,
                           float dropout, struct idim_err *err);


/* Everything a run with options o holds at once on model m (theta_d and
 * update buffer, projection tables, optimizer state, best theta, step
 * statistics, checkpoint, and the model itself) against memguard.h's limit;
 * IDIM_ERR_NOMEM listing the parts. Arguments later steps refuse (d > D)
 * pass, so their messages win. In train.c. */
enum idim_status train_memory_check(const struct model *m, const struct train_data *td,
                                    const struct train_opts *o, int threads,
                                    struct idim_err *err);


/* Scores the first n_dev dev examples with dropout off, in order, in
 * batches of B (the padding, hence the float sums, depend on B). For
 * subspace runs the caller has applied theta first. */
void train_evaluate(struct run *r, struct train_data *td, size_t n_dev, int B,
              struct metrics *met);

/* idx[0..n) = a permutation of 0..n-1 drawn from shuf (Fisher-Yates, the
 * draws of rng_below in order from the top). */
void train_shuffle(size_t *idx, size_t n, struct rng *shuf);


/* A run's state for a checkpoint (train_ckpt.c; layout and what each
 * method keeps there). The vectors and res are borrowed from the run. */
struct train_ckpt {
    int mode, optimizer, threads;
    uint64_t proj_seed, seed;
    size_t d;
    double lr;
    long total, step;      /* steps of the schedule; steps done */
    int epoch;             /* the epoch the next step belongs to (1-based) */
    struct rng shuf;       /* the shuffle generator before that epoch's shuffle */
    struct rng drop;       /* the model's dropout generator */
    double loss_sum;       /* this epoch's loss sum and count so far */
    long loss_n;
    uint64_t seen;         /* training examples seen */
    double t_train, seconds; /* timing so far */
    size_t n_theta, n_mom, n_aux, n_best; /* vector lengths (0: absent) */
    float *theta;          /* [n_theta] theta_d, or the weights (full fine-tuning) */
    float *mom, *vel;      /* [n_mom] AdamW moments (of theta_d, or per weight) */
    float *aux_m, *aux_v;  /* [n_aux] adamw-proj SAID: the lambdas' moments */
    float *best_theta;     /* [n_best] theta at the best evaluation (subspace) */
    struct train_result *res; /* partial result (curve, best, epochs) */
};

/* Bytes of c's checkpoint (from its vector lengths). */
size_t train_ckpt_bytes(const struct train_ckpt *c);

/* Writes c into buf[0..train_ckpt_bytes(c)). */
void train_ckpt_encode(unsigned char *buf, const struct train_ckpt *c);

/* Reads a checkpoint that train_ckpt_parse accepted into c (the vector
 * pointers set by the caller, each long enough for the lengths the parse
 * returned; NULL vectors are skipped). */
void train_ckpt_restore(const unsigned char *buf, struct train_ckpt *c);

/* Monotonic seconds. */
double train_now_s(void);

#endif
