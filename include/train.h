/* train.h - full fine-tuning and subspace training (DID / SAID), evaluation,
 * and the theta file.
 *
 * Stage: after model and fastfood. Inputs: a model file (wfile) or a config
 * to initialise at random, a task (task.h), options. Outputs: struct
 * train_result (dev metric per epoch, best/final, timings) and, for subspace
 * runs, a theta file: theta_d, the lambdas, the seeds and the model checksum
 * ("the task encoded in a few kilobytes", docs/THETA.md).
 *
 * Subspace training (Li et al. 2018; Aghajanyan et al. 2021): every weight
 * frozen at theta0;
 *   DID:  theta_t = theta0_t + P_t theta_d
 *   SAID: theta_t = theta0_t + lambda_t P_t theta_{d-m}, m = model tensors,
 *         lambda_t trained, starting at 1; d counts the lambdas.
 * theta_d starts at 0, so step 0 is exactly the starting model. Gradients:
 *   dL/dtheta = sum_t lambda_t P_t^T g_t (fastfood_adjoint), dL/dlambda_t =
 *   <g_t, P_t theta> (in double), g = model gradients.
 *
 * Nothing is allocated inside a training step: the model, the projection,
 * the optimizer state and the batch are sized once per run.
 * Same inputs + seeds + thread count => identical results.
 *
 * Sources: train.c (the run loop), train_data.c (loading, data order),
 * train_eval.c (dev evaluation), train_json.c (the result JSON),
 * subspace.c (the reparametrisation); the theta file is theta.h. */
#ifndef IDIM_TRAIN_H
#define IDIM_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "memguard.h"
#include "arch.h"
#include "fastfood.h"
#include "projection.h"
#include "model.h"
#include "status.h"
#include "task.h"
#include "tokenizer.h"
#include "wfile.h"

enum train_mode { TRAIN_FULL = 1, TRAIN_DID = 2, TRAIN_SAID = 3 };
/* TRAIN_ADAMW_PROJ (DID only; docs/LR.md): AdamW's moments are kept per
 * weight, from the weight gradient g (clipped by its global norm), and the
 * step is the adaptive direction a = mhat / (sqrt(vhat) + eps) projected
 * into the subspace: theta_d -= lr P^T a. A diagonal preconditioner in
 * weight space: P P^T a is the part of full fine-tuning's AdamW step that
 * the subspace can take, so Adam's per-weight adaptivity (lost when AdamW
 * runs on the rotated coordinates theta_d) is restored. State: 3 D floats. */
enum train_optim { TRAIN_ADAMW = 1, TRAIN_SGD = 2, TRAIN_ADAMW_PROJ = 3 };

/* How the subspace learning rate depends on d (README "Learning rate and
 * d"; measurements in docs/LR.md):
 *   FIXED   lr as given at every d (the papers' convention);
 *   SQRT    lr x sqrt(TRAIN_LR_D0 / d_proj): the weight-space step norm of
 *           AdamW (~lr sqrt(d)) stays what it is at d = TRAIN_LR_D0;
 *   WEIGHT  the projection is row-normalised (projection.h, PROJ_NORM_ROWS:
 *           P_k scaled by sqrt(n_k / d)), so lr is the rms step of each
 *           weight, as in full fine-tuning, at every d, tensor size and scope
 *           (with adamw-proj the lr is also scaled, train_lr_effective).
 * Full fine-tuning ignores the rule. */
enum train_lr_rule { TRAIN_LR_FIXED = 1, TRAIN_LR_SQRT = 2, TRAIN_LR_WEIGHT = 3 };
#define TRAIN_LR_D0 1000.0
const char *train_lr_rule_name(enum train_lr_rule r); /* "fixed", "sqrt", "weight" */
int train_lr_rule_parse(const char *s, enum train_lr_rule *out); /* 0 or -1 */

/* How an epoch's training examples are grouped into batches (--batching).
 *   RANDOM  a uniform shuffle, cut into batches in that order;
 *   BUCKET  the same shuffle; then, leaving its last n % B examples as the
 *           short last batch (as RANDOM does), chunks of TRAIN_BUCKET_CHUNK
 *           batches are sorted by token count (stable), cut into batches,
 *           and the batches are put in a random order. A batch is padded to
 *           its longest row, so similar lengths waste fewer positions.
 * Both draw only from the run's shuffle generator, so a checkpoint (which
 * keeps that generator) replays the epoch's order exactly. */
enum train_batching { TRAIN_BATCHING_RANDOM = 0, TRAIN_BATCHING_BUCKET = 1 };
#define TRAIN_BUCKET_CHUNK 50
const char *train_batching_name(enum train_batching b); /* "random", "bucket" */
int train_batching_parse(const char *s, enum train_batching *out); /* 0 or -1 */
/* The peak lr a subspace run uses: lr; times sqrt(D0 / d_proj) for SQRT;
 * for WEIGHT with TRAIN_ADAMW_PROJ times sqrt(d_proj / D) (its step lr P P^T a
 * passes P twice, so the row-normalised P's factor n_k/d must be undone once:
 * the rms step of each weight is then ~lr, as in full fine-tuning). */
double train_lr_effective(enum train_lr_rule r, enum train_optim opt, double lr, size_t d_proj,
                          size_t D);

#define TRAIN_MAX_EPOCHS 256
#define TRAIN_MAX_EVALS 512 /* evaluations kept in a result's learning curve */

/* Progress report, called after every step (and once per evaluation with
 * evaluating = 1). Called from the training thread; must not longjmp. */
struct train_progress {
    int epoch, epochs;  /* 1-based current epoch, total */
    long step, steps;   /* 1-based step within the whole run, total steps */
    double loss;        /* mean loss of the last step */
    double ex_per_s;    /* training examples per second so far */
    double eta_s;       /* estimated seconds left in this run */
    int evaluating;     /* 1 while the dev split is being scored */
    double best;        /* best dev score so far (NAN before the first evaluation) */
};
typedef void (*train_progress_fn)(const struct train_progress *p, void *user);

struct train_opts {
    enum train_mode mode;
    size_t d;               /* subspace dimension (SAID: includes the m lambdas) */
    enum ff_scope scope;    /* FF_SCOPE_TENSOR (default) or FF_SCOPE_GLOBAL */
    int grad_compat;        /* 1: the authors' released backward (adjoint / LL_t) */
    enum proj_kind projection; /* PROJ_FASTFOOD (default), PROJ_DENSE, PROJ_IDENTITY
                               (d = D; d == 0 here means D) */
    enum train_lr_rule lr_rule; /* see above; default in train_opts_default */
    enum train_optim optimizer; /* TRAIN_ADAMW (default) or TRAIN_SGD (plain, no momentum) */
    double lr;              /* peak learning rate */
    int epochs;             /* 1..TRAIN_MAX_EPOCHS; <= 0 = auto: 3 for the large GLUE
                               tasks (sst2, qnli, qqp, mnli), else 20 (subspace) / 3 (full) */
    int batch;              /* examples per step */
    enum train_batching batching; /* how batches are drawn (default RANDOM) */
    double warmup;          /* warm-up as a fraction of total steps (used when warmup_steps < 0) */
    long warmup_steps;      /* warm-up steps; < 0 = use the fraction `warmup` */
    double weight_decay;    /* AdamW decoupled decay (full FT: not on biases / LayerNorm) */
    double beta1, beta2, eps; /* AdamW moments (0.9, 0.999, 1e-8 full / 1e-8 subspace) */
    double clip;            /* global L2 gradient-norm clip; 0 = off */
    double dropout;         /* hidden and attention dropout while training */
    uint64_t seed;          /* data order, dropout, created heads (random init in tests) */
    uint64_t proj_seed;     /* Fastfood tables */
    int threads;            /* model + projection threads; <= 0 = all online cores */
    long limit_train;       /* use only the first N training examples; 0 = all */
    long limit_dev;         /* score only the first N dev examples; 0 = all */
    train_progress_fn progress; /* may be NULL */
    void *progress_user;
    const char *save_theta; /* subspace: write the best epoch's theta here (NULL = no) */
    const char *step_stats; /* subspace: write each tensor's mean weight-space step per
                               optimizer step here, TSV (NULL = no; docs/LR.md) */
    const char *save_model; /* full FT: write the final weights as an idim model file
                               without a classification head (encoder + BERT pooler), a
                               starting model for subspace runs on another task (NULL = no) */
    long eval_every;        /* also score dev every N optimizer steps (counted over the
                               whole run); 0 = only after each epoch. Dev is always scored
                               after each epoch. */
    double target;          /* a run "meets" when a dev score is strictly above this and
                               the model does not predict a single class; NAN = no target */
    int early_stop;         /* 1: stop when met, or when train_hopeless says so
                               (abandoned); 0: run the schedule in full and only record
                               the steps at which it would have stopped */
    /* In-run checkpoints (every run but full fine-tuning with sgd): at step
     * boundaries the run's state is encoded (see train_ckpt_parse) and handed
     * to ckpt_fn, which stores it (measure: the state file). A non-OK status
     * stops the run with that status. Every ckpt_every_s seconds (> 0): a
     * checkpoint is taken early enough that the work since the last one, the
     * next step (and evaluation) and the write included, stays within the
     * interval (docs/MEASURE.md); ckpt_t0 (monotonic seconds, train_now_s;
     * 0 = the start of the run) is when the caller last saved its state, so
     * the time before the run counts. ckpt_every_steps (> 0): every so many
     * optimizer steps instead. ckpt_max_bytes (> 0): a run whose checkpoint
     * would be larger is not checkpointed (r->ckpt_skipped_bytes says so). */
    double ckpt_every_s;
    long ckpt_every_steps;
    double ckpt_t0;
    size_t ckpt_max_bytes;
    enum idim_status (*ckpt_fn)(void *user, const unsigned char *ckpt, size_t len,
                                struct idim_err *err);
    void *ckpt_user;
    long max_steps;         /* > 0: stop after this many steps (timing a few real steps
                               for `measure --dry-run`); 0 = the whole schedule */
    const unsigned char *resume; /* a checkpoint of this very run to continue from (its
                                    options must match: IDIM_ERR_USAGE otherwise), or NULL */
    size_t resume_len;
};

/* What a checkpoint says it belongs to. */
struct train_ckpt_id {
    int mode, optimizer, threads;
    uint64_t proj_seed, seed;
    size_t d;
    double lr;
    long total, step; /* the schedule's steps; steps done */
    size_t n_theta, n_mom, n_aux; /* lengths of the trained vector, of each weight
                                     moment, of each lambda moment (adamw-proj SAID) */
    int version;      /* of the record (1: before full and adamw-proj runs) */
};

/* Validates a checkpoint held in buf[0..len) (pure: no I/O): magic,
 * version, sizes, and every field against its range (scores NaN or in
 * [-1, 1], losses >= 0, counts within the schedule, generator states not
 * all zero, reserved bytes zero, every vector value finite). Messages name
 * `where` and the byte offset base + offset. Fills *id (may be NULL).
 * Returns IDIM_OK or IDIM_ERR_FORMAT. */
enum idim_status train_ckpt_parse(const unsigned char *buf, size_t len, const char *where,
                                  size_t base, struct train_ckpt_id *id, struct idim_err *err);

/* How a run ended. */
enum train_outcome {
    TRAIN_COMPLETED = 0, /* the whole schedule ran */
    TRAIN_MET = 1,       /* stopped early: a dev score met the target */
    TRAIN_ABANDONED = 2, /* stopped early: train_hopeless */
    TRAIN_DIVERGED = 3   /* the loss or the gradient norm became NaN/Inf */
};
const char *train_outcome_name(enum train_outcome o); /* "completed", "met", ... */

/* The hopeless rule (docs/MEASURE.md), applied at every dev evaluation of
 * a run with a target: abandon at optimizer step `step` of `total` when
 *   1. at least 2/3 of the schedule has run (with the linear decay, what is
 *      left holds 1/9 of the learning-rate budget, a third of what the
 *      previous third of the schedule had), and
 *   2. the best valid dev score so far (`best`; NAN when none) is not above
 *      target, and
 *   3. the gap to the target is at least 3 times what the best score gained
 *      over the last third of the schedule: target - best >= 3 (best -
 *      best_before), best_before = the best valid score at or before step -
 *      total/3 (NAN when none: then it is still learning, keep it; with no
 *      valid score at all it abandons).
 * A plateau (no gain) is abandoned; a curve that rises late keeps running.
 * Returns 1 to abandon. Pure: tests feed it synthetic learning curves. */
int train_hopeless(long step, long total, double best, double best_before, double target);

/* The epochs a run of o on `task` trains: o->epochs, or when <= 0 the
 * default (3 for sst2, qnli, qqp, mnli and for full fine-tuning, else 20). */
int train_epochs(const struct train_opts *o, const char *task);

/* measure's default --eval-every (docs/MEASURE.md): one dev evaluation costs
 * about e = n_dev / (3 batch) training steps (a forward pass is ~1/3 of a
 * step); evaluating every k steps costs e/k per step and finds a met score
 * k/2 steps late on average, so for a run that meets about halfway through
 * its schedule of T steps the total is smallest at k = sqrt(e T). Returns
 * that k (>= 1), or 0 (only after each epoch) when it is not below
 * steps_per_epoch. */
long train_auto_eval_every(long steps_per_epoch, long total_steps, size_t n_dev, int batch);

/* Defaults for a mode: full FT = AdamW lr 2e-5, 3 epochs, batch 32, warm-up
 * 6%, weight decay 0.01, clip 1.0, dropout 0.1; subspace = see README /
 * train.c (train_opts_default documents every value). */
void train_opts_default(struct train_opts *o, enum train_mode mode);

/* Everything a run reads that does not change between runs: the model
 * file, the task and both splits, tokenized once, so that `measure` can run
 * many probes without reloading. */
struct train_data {
    struct wfile w;          /* owned mapping; unused when have_file == 0 */
    int have_file;           /* 0: the model is random-initialised from cfg and seed (tests) */
    struct arch_config cfg;  /* the encoder config (from the file or the caller) */
    struct task_spec spec;   /* the task */
    struct encoded train, dev; /* tokenized splits (owned) */
    int max_len;             /* tokens per example incl. special tokens */
    char checksum_hex[17];   /* the model file's checksum ("random" when no file) */
    char model_path[1024];   /* copy of the path (w.path points here) */
};

/* Opens model_path, resolves task (data_dir may be NULL: see task_resolve),
 * loads and tokenizes the train and dev splits with the file's tokenizer
 * (limit_train / limit_dev > 0: keep only the first N rows). max_len is
 * tokens per example incl. special tokens; <= 0 means 128, or the model's
 * maximum when that is smaller (td->max_len holds the value used). Returns
 * IDIM_OK, IDIM_ERR_IO, IDIM_ERR_FORMAT, IDIM_ERR_NOMEM with err naming the
 * file. On failure *td is freed. */
enum idim_status train_data_load(struct train_data *td, const char *model_path,
                                 const char *task, const char *data_dir, int max_len,
                                 long limit_train, long limit_dev, struct idim_err *err);

/* train_data_load with the task already resolved (task_resolve or
 * task_custom: --task custom); spec is copied. */
enum idim_status train_data_load_spec(struct train_data *td, const char *model_path,
                                      const struct task_spec *spec, int max_len,
                                      long limit_train, long limit_dev, struct idim_err *err);

/* Releases everything (encoded_free on both splits, wfile_free); accepts a
 * zeroed or half-built struct. Tests that fill the splits by hand zero
 * them before calling this. */
void train_data_free(struct train_data *td);

/* The parts of a run's memory that the check before allocating adds up
 * (memguard_check_parts; train.c): the model (weights, gradients,
 * activations), the mapped model file, the tokenized splits, theta_d and
 * the update, the projection, the optimizer state, the best theta with
 * step statistics and checkpoint. Fills parts[TRAIN_MEM_PARTS] (the model's
 * description is written into model_what) and returns TRAIN_MEM_PARTS, or
 * 0 for arguments a later step refuses (d > D, SAID d <= m). */
#define TRAIN_MEM_PARTS 7
size_t train_memory_parts(const struct model *m, const struct train_data *td,
                          const struct train_opts *o, int threads, struct memguard_part *parts,
                          char *model_what, size_t what_cap);

/* One epoch's order, as train_run draws it: idx[0..n) becomes a permutation
 * of 0..n-1 whose consecutive runs of B are the epoch's batches (the last
 * one short when B does not divide n). RANDOM: a Fisher-Yates shuffle from
 * *shuf; BUCKET: the same shuffle, then the length sort by enc's row
 * lengths and a shuffle of the batches, also from *shuf. scratch:
 * train_order_scratch(n, B, enc) entries (unused for RANDOM, may be NULL).
 * Allocates nothing. */
void train_order(size_t *idx, size_t n, int B, enum train_batching how,
                 const struct encoded *enc, struct rng *shuf, size_t *scratch);
size_t train_order_scratch(size_t n, int B, const struct encoded *enc);

/* The batches train_run draws for options o (seed, batch, batching,
 * limit_train) in its first `epochs` epochs of td's training split, counted:
 * *tokens = the rows' real tokens, *slots = the positions computed (each
 * batch's rows x its longest row, as batch_fill pads), both summed over the
 * epochs; slots - tokens is the padding. The same order code as training, so
 * the counts are exact. Returns IDIM_OK or IDIM_ERR_NOMEM. */
enum idim_status train_padding(const struct train_data *td, const struct train_opts *o,
                               int epochs, uint64_t *tokens, uint64_t *slots,
                               struct idim_err *err);

struct train_result {
    enum train_mode mode;
    int n_epochs;                        /* epochs completed */
    double epoch_metric[TRAIN_MAX_EPOCHS]; /* dev primary metric after each epoch */
    double epoch_loss[TRAIN_MAX_EPOCHS];   /* mean training loss of each epoch */
    double best;                         /* best dev metric of any evaluation (NAN if none);
                                            valid scores (not a single class) rank first */
    double final;                        /* last epoch's dev metric */
    int best_epoch;                      /* 1-based epoch of the best dev score; 0: none */
    struct metrics best_metrics;         /* all metrics of the best epoch */
    double majority;                     /* majority-class score on dev */
    int majority_only;                   /* best epoch predicted a single class */
    int diverged;                        /* loss became NaN/Inf: run stopped */
    char diverged_msg[256];              /* e.g. "loss became NaN at epoch 1 step 12" */
    double seconds;                      /* wall time of the run (timing field) */
    double ex_per_s;                     /* training examples per second (timing field) */
    size_t peak_rss_bytes;               /* process peak resident memory (timing field) */
    long steps;                          /* optimizer steps taken */
    double lr;                           /* the learning rate given (--lr) */
    double lr_effective;                 /* the peak lr the optimizer used (lr rule) */
    size_t d;                            /* subspace d (0 for full FT) */
    size_t d_proj;                       /* projected dimensions: d (DID), d - m (SAID) */
    size_t n_tensors;                    /* m */
    size_t n_params;                     /* D */
    size_t n_train, n_dev;               /* examples used */
    char task[32];
    char metric[16];                     /* metric_name of the task's metric */
    char model_checksum[17];
    uint64_t seed, proj_seed;
    int threads;
    enum train_outcome outcome;          /* how the run ended */
    long total_steps;                    /* steps of the full schedule */
    long best_step;                      /* step of the best dev score (0: none) */
    long met_step;                       /* first step whose dev score met the target (0: never) */
    long hopeless_step;                  /* first step where train_hopeless fired (0: never) */
    int n_evals;                         /* dev evaluations done */
    double eval_seconds;                 /* wall time spent in them (timing field) */
    long eval_step[TRAIN_MAX_EVALS];     /* the first TRAIN_MAX_EVALS evaluations: step, */
    double eval_metric[TRAIN_MAX_EVALS]; /* and dev primary metric, */
    signed char eval_valid[TRAIN_MAX_EVALS]; /* and 1 when not a single class */
    int n_ckpts;                         /* checkpoints handed to ckpt_fn (timing field) */
    double ckpt_seconds;                 /* wall time spent taking them (timing field) */
    size_t ckpt_skipped_bytes;           /* > 0: not checkpointed, a checkpoint would
                                            take this many bytes (> ckpt_max_bytes) */
};

/* Runs one training run (one learning rate) with o on td, filling *r.
 * A NaN/Inf loss stops the run and sets r->diverged (status IDIM_OK: for a
 * grid it is a result, not an error). Returns IDIM_OK, IDIM_ERR_USAGE
 * (e.g. SAID with d <= m), IDIM_ERR_NOMEM, IDIM_ERR_WRITE (save_theta),
 * IDIM_ERR_INTERRUPTED (idim_interrupted was set; r holds the finished
 * epochs). */
enum idim_status train_run(struct train_data *td, const struct train_opts *o,
                           struct train_result *r, struct idim_err *err);

/* The JSON object every command prints for a run (train, finetune,
 * measure): d, method, scope, optimizer, lr, epochs metric list, best,
 * final, majority, diverged, seconds, peak memory, seeds, model checksum,
 * idim version. Timing fields: "seconds", "peak_rss_bytes", "ex_per_s".
 * Returns a new cJSON object (caller frees) or NULL on OOM. */
cJSON *train_result_json(const struct train_opts *o, const struct train_result *r);

/* Names used in JSON and on the command line. */
const char *train_mode_name(enum train_mode m);     /* "full", "did", "said" */
const char *train_optim_name(enum train_optim o);   /* "adamw", "sgd" */

struct theta_file; /* theta.h */

/* Rebuilds the tuned model from tf on td's model and scores the dev split.
 * The model checksum and task must match (IDIM_ERR_USAGE naming both).
 * threads <= 0 = all cores. */
enum idim_status train_eval_theta(struct train_data *td, const struct theta_file *tf,
                                  int threads, struct metrics *out, struct idim_err *err);

/* ---- building blocks (used by the above; exposed for tests and bench) ---- */

/* The subspace reparametrisation of a model. theta[0..d) is the trained
 * vector: DID all projected coordinates; SAID theta_{d-m} in [0, d-m) and
 * the lambdas in [d-m, d). grad has the same layout. */
struct subspace {
    struct model *m;          /* borrowed */
    enum train_mode mode;
    size_t d, d_proj;         /* d_proj = d (DID) or d - m (SAID) */
    struct projection *proj;  /* owned */
    int absolute;             /* identity projection: theta holds the weights themselves
                                 (theta starts at theta0 and params = theta), see README */
    float *theta;             /* [d] */
    float *grad;              /* [d] */
    float *delta;             /* [D] P theta_proj */
    const float **theta0;     /* [m] starting weights per tensor: the model's own theta0
                                 (file mapping) or, when those alias m->params, our copy */
    float *theta0_copy;       /* [D] or NULL */
    double *gl;               /* [m] scratch for the lambda gradients */
    float *prev;              /* [D] weights at the previous step (subspace_track_steps) */
    double *step_sum;         /* [m] sum over steps of ||step of tensor t||_2 */
    long n_steps;             /* steps summed */
    int weight_grad_only;     /* subspace_loss_grad stops at the weight gradient: the
                                 projection's adjoint of it is skipped (adamw-proj, whose
                                 adjoint is of the AdamW direction instead) */
    void *block;              /* the one allocation behind the arrays */
};

/* Builds the projection for m's tensors, theta = 0 (lambdas = 1) and keeps
 * an exact copy of m->params as theta0. Returns IDIM_OK, IDIM_ERR_USAGE
 * (SAID with d <= m, d == 0), IDIM_ERR_NOMEM. */
enum idim_status subspace_init(struct subspace *s, struct model *m, enum train_mode mode,
                               size_t d, enum ff_scope scope, uint64_t proj_seed,
                               int grad_compat, int threads, struct idim_err *err);

/* subspace_init with a projection kind and normalisation (projection.h).
 * PROJ_IDENTITY needs DID and d = D; theta then starts at theta0 (the
 * weights) instead of 0. Returns as subspace_init, and IDIM_ERR_USAGE for
 * identity with SAID or d != D, dense too large, grad_compat with a
 * non-Fastfood kind. */
enum idim_status subspace_init_kind(struct subspace *s, struct model *m, enum train_mode mode,
                                    size_t d, enum proj_kind kind, enum proj_norm norm,
                                    enum ff_scope scope, uint64_t proj_seed, int grad_compat,
                                    int threads, struct idim_err *err);
void subspace_free(struct subspace *s);

/* From now on subspace_loss_grad adds each tensor's weight-space step
 * ||theta_t(step k) - theta_t(step k-1)||_2 to s->step_sum (the figures of
 * `idim train --step-stats`, docs/LR.md). Allocates D floats. Returns
 * IDIM_OK or IDIM_ERR_NOMEM. */
enum idim_status subspace_track_steps(struct subspace *s, struct idim_err *err);

/* m->params = theta0 + (lambda *) P theta. */
void subspace_apply(struct subspace *s);

/* subspace_apply, forward (train: dropout on), backward, and s->grad =
 * dLoss/dtheta. Returns the loss. With s->weight_grad_only set, s->grad
 * gets only SAID's lambda entries (s->grad[d_proj..d)); m->grads holds the
 * weight gradient (SAID, global scope: already times lambda_t). */
float subspace_loss_grad(struct subspace *s, const struct batch *b, int train);

/* The learning-rate multiplier at 0-based step: linear warm-up over
 * `warmup` steps to 1, then linear decay to 0 at `total` steps. */
double train_lr_factor(long step, long warmup, long total);

/* One AdamW update of x[0..n) with gradient G = gscale * g (the clip
 * factor, 1 for none; g itself is left as it is) at 1-based step t:
 * m = b1 m + (1-b1) G; v = b2 v + (1-b2) G^2; x -= lr (mhat/(sqrt(vhat)+eps)
 * + wd x) where wd applies when decay == NULL or decay[i] != 0. Element-wise,
 * on the model's thread pool for large n; the same whatever the thread count. */
void train_adamw_step(float *x, const float *g, float gscale, float *mom, float *vel, size_t n,
                      double lr, double b1, double b2, double eps, double wd,
                      const uint8_t *decay, long t);

/* The sum of g[i]^2 in double (a gradient's squared norm), on the model's
 * thread pool in chunks fixed by n: the same whatever the thread count. */
double train_sumsq(const float *g, size_t n);

/* AdamW's moments from G = gscale * g (the clip factor, 1 for none; g is
 * left as it is) at 1-based step t and its direction
 * dir = mhat / (sqrt(vhat) + eps) (no lr, no decay), all [n]. Element-wise,
 * on the model's thread pool for large n; the same whatever the thread count. */
void train_adam_direction(float *dir, const float *g, float gscale, float *mom, float *vel,
                          size_t n, double b1, double b2, double eps, long t);

#endif
