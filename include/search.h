/* search.h - the d90 search: bracket, then bisection over d in log space.
 *
 * d90 (Li et al. 2018; Aghajanyan et al. 2021) is the smallest subspace
 * dimension d whose dev metric is strictly above threshold x baseline
 * ("metric > threshold * baseline"). Public implementations sweep fixed
 * grids; here the search
 *   1. brackets: probes d = dmin, 2 dmin, 4 dmin, ... (capped at dmax) until
 *      a probe meets the target;
 *   2. bisects in log space: probes round(sqrt(lo * hi)) between the largest
 *      failing d (lo) and the smallest meeting d (hi) until hi / lo <=
 *      precision or no integer lies between them.
 * A probe is the best trial over the learning-rate grid; one trial trains
 * one (d, lr) pair through a caller-supplied callback, so this stage never
 * sees the model: it is pure and testable with a synthetic metric(d).
 * A trial whose model predicts only the majority class, or that diverged,
 * never meets the target. No (seed, d, lr) trial is run twice: finished
 * trials are looked up in struct search_state, which the caller may keep in
 * a state file (search_state_save / _load) to resume after an interruption.
 *
 * Stage: after train (through the callback), before report. */
#ifndef IDIM_SEARCH_H
#define IDIM_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define SEARCH_MAX_LR 16      /* learning rates per grid */
#define SEARCH_MAX_PROBES 128 /* probes per search (bracket + bisection) */
#define SEARCH_MAX_CURVE 32   /* epochs of a trial's curves kept in reports and state */
#define SEARCH_KEY_MAX 2048   /* bytes of the state's argument key */

/* One finished training run: one (seed, d, lr). d == 0 marks the full
 * fine-tuning baseline. */
struct search_trial {
    uint64_t seed;     /* projection seed (0 for the baseline) */
    long d;            /* subspace dimension; 0 = full fine-tuning */
    double lr;         /* learning rate */
    double metric;     /* dev metric (the task's primary metric); NAN if none */
    int epochs;        /* epochs actually run */
    double seconds;    /* wall time of the trial */
    int diverged;      /* loss became NaN/Inf */
    int majority_only; /* every dev prediction was the same class */
    int outcome;       /* enum train_outcome: 0 completed, 1 met, 2 abandoned, 3 diverged */
    long steps;        /* optimizer steps run */
    long total_steps;  /* steps of the full schedule */
    long met_step;     /* first step whose dev score met the target (0: never) */
    long hopeless_step; /* first step where the hopeless rule fired (0: never) */
    int n_curve;       /* epochs recorded below (the first SEARCH_MAX_CURVE) */
    float loss_curve[SEARCH_MAX_CURVE];   /* mean training loss of each epoch */
    float metric_curve[SEARCH_MAX_CURVE]; /* dev metric after each epoch */
};

/* Trains one (d, lr) with projection seed `seed` and fills *out (the
 * search copies d, lr and seed into it itself). Returns IDIM_OK, or an error
 * status that stops the search (IDIM_ERR_INTERRUPTED included). A diverged
 * run is IDIM_OK with out->diverged = 1. */
typedef enum idim_status (*search_trial_fn)(void *ctx, long d, double lr, uint64_t seed,
                                            struct search_trial *out, struct idim_err *err);

/* Every finished trial plus the key of the arguments that produced them,
 * kept in memory and (when path[0]) mirrored to a state file. */
struct search_state {
    char key[SEARCH_KEY_MAX]; /* arguments that matter, one line, no newline */
    char path[1024];          /* state file, or "" for none */
    size_t n, cap;
    struct search_trial *trials; /* [n], owned */
    unsigned char *ckpt;      /* the run in progress's checkpoint (owned) or NULL */
    size_t ckpt_len;
    int threads;              /* threads of this process (written to the file) */
    int threads_file;         /* threads the loaded file's runs used (0: fresh) */
    char file_key[SEARCH_KEY_MAX]; /* the key read from the file */
    double saved_at;          /* CLOCK_MONOTONIC seconds when this process last wrote the
                                 file (set by open, add and set_ckpt); 0 = not yet */
};

/* A probe: the best trial of one d over the lr grid. */
struct search_probe {
    long d;
    struct search_trial best; /* the trial reported for this d */
    int met;                  /* best.metric > target, not diverged, not majority-only */
    int resumed;              /* every trial of this probe came from the state */
};

struct search_config {
    long dmin, dmax;   /* 1 <= dmin <= dmax */
    double precision;  /* stop when hi / lo <= precision (> 1) */
    double target;     /* threshold * baseline; met means metric > target */
    uint64_t seed;     /* projection seed of this search */
    int n_lr;          /* 1..SEARCH_MAX_LR */
    double lr[SEARCH_MAX_LR];
    int early_stop;    /* 1: once one lr of a probe meets the target, skip the rest of
                          the grid (the probe is met either way) */
    int bracket;       /* enum search_bracket: how the bracket is found */
};

/* How the search finds its bracket on the doubling grid G = dmin, 2 dmin,
 * 4 dmin, ... (points below dmax) and dmax.
 *   SEARCH_BRACKET_UP (the reference, what --no-early-stop uses): probe G
 *     upward from dmin until a probe meets; the bracket is that point and
 *     the one before it.
 *   SEARCH_BRACKET_GALLOP: probe the point of G nearest the geometric middle
 *     of [dmin, dmax] first. Met: walk down G until a probe fails. Not met:
 *     walk up G until one meets. Either way the bracket is a failing point
 *     of G and the meeting point right above it, and the bisection is the
 *     reference's, so d90 is the reference's whenever every point of G below
 *     the failing one fails too (met(d) does not come back below a failure).
 *     What it does not assume: that met(d) stays true above the crossing. A
 *     larger subspace can fail again (the optimizer breaks down: majority
 *     class, divergence); when the walk up meets nothing up to dmax, or one of
 *     its failing probes diverged, predicts one class or scores more than
 *     0.02 below a smaller probe, the gallop falls back to the reference's
 *     path (G upward from dmin, reusing the probes it has) and finds the
 *     reference's bracket. Skipped: the failing points of G below the
 *     bracket, each a run that cannot meet (or is abandoned only at 2/3 of
 *     its schedule). */
enum search_bracket { SEARCH_BRACKET_UP = 0, SEARCH_BRACKET_GALLOP = 1 };


struct search_result {
    int reached;     /* 1 when some d <= dmax met the target */
    long d90;        /* smallest d that met the target (0 when not reached) */
    long lo;         /* largest probed d below d90 that failed (0: none, d90 = dmin) */
    long hi;         /* = d90 when reached, else the last d probed (dmax) */
    size_t n_probes;
    struct search_probe probes[SEARCH_MAX_PROBES]; /* in probe order */
    size_t best;     /* index of the probe with the highest valid metric */
};

/* Picks the best trial of t[0..n): valid trials (not diverged, not
 * majority-only, finite metric) beat invalid ones; then the higher metric;
 * ties keep the earlier trial. Returns its index; n must be > 0. */
size_t search_best_trial(const struct search_trial *t, size_t n);

/* 1 when trial t meets the target (strictly above, valid). */
int search_trial_meets(const struct search_trial *t, double target);

/* Runs the best-over-lr-grid probe of one d: every trial is looked up in st
 * first and run through fn only when missing; new trials are added to st
 * (and saved when st->path[0]). st may be NULL. With cfg->early_stop the
 * grid stops at the first trial that meets the target. Returns IDIM_OK, the
 * callback's status, IDIM_ERR_WRITE (state file), IDIM_ERR_NOMEM, or
 * IDIM_ERR_INTERRUPTED when idim_interrupted is set after a saved trial. */
enum idim_status search_probe_d(const struct search_config *cfg, long d, search_trial_fn fn,
                                void *ctx, struct search_state *st, struct search_probe *out,
                                struct idim_err *err);

/* The bracket (cfg->bracket) + log-space bisection above. Fills *res. Returns IDIM_OK
 * when reached, IDIM_ERR_NOT_REACHED when no d <= dmax met the target (res
 * still filled: res->best names the best probe), IDIM_ERR_USAGE for a bad
 * config, or a status from search_probe_d. */
enum idim_status search_run(const struct search_config *cfg, search_trial_fn fn, void *ctx,
                            struct search_state *st, struct search_result *res,
                            struct idim_err *err);

/* The optimizer-limited rule (docs/MEASURE.md). When res did not reach the
 * target, look at the probe with the largest d tried: if it predicts one
 * class only, diverged, its training loss fell by less than 10% from the
 * first to the last epoch, or its metric is more than 0.02 below the best
 * probe's, a larger subspace did worse than a smaller one or did not train
 * at all: the optimizer, not the dimension, stopped the search, and "d90 >
 * dmax" would be wrong. Returns 1 (and a one-line reason in why) or 0 (not
 * limited, or reached). */
int search_optimizer_limited(const struct search_result *res, char *why, size_t cap);

/* The log-spaced grid of n points from dmin to dmax (both included),
 * rounded to integers with duplicates removed. d: [n] output; returns the
 * count written (<= n). */
size_t search_log_grid(long dmin, long dmax, size_t n, long *d);

/* Median of x[0..n) (mean of the two middle values for even n; x is
 * sorted in place). n must be > 0. */
double search_median(long *x, size_t n);

/* State file, binary, little-endian (docs/MEASURE.md):
 *    0 char[8] "IDIMSTAT"   8 u32 format version (3)   12 u32 threads of the
 *      runs recorded (1..1024)   16 u32 key length k (1..2047)
 *   20 u32 trial count n     24 u64 checkpoint length c
 *   32 key (k bytes, printable ASCII)
 *   then n trials of 344 bytes: u64 proj_seed, u64 d, f64 lr, f64 metric (NaN
 *      only when diverged, else in [-1, 1]), f64 seconds, u64 steps, u64
 *      total_steps, u64 met_step, u64 hopeless_step, u32 epochs (0..256),
 *      u32 flags (bit 0 diverged, bit 1 majority_only, bits 2-3 outcome,
 *      the rest 0), u32 n_curve (0..min(epochs, 32)), u32 reserved (0),
 *      f32 loss_curve[32], f32 metric_curve[32] (unused entries 0)
 *   then the checkpoint of the run in progress (c bytes, train_ckpt_parse)
 *   then u64 FNV-1a 64 of every byte before it.
 * Saved atomically (fileio_write_atomic) after every run and checkpoint.
 * Version 2 (trials of the first 80 bytes, no curves) is read as well. */
#define SEARCH_STATE_MAX_BYTES ((size_t)1 << 28)

/* Initialises an empty state with key (copied), the thread count of this
 * process and path ("" or NULL: no file). Then, if the file exists, loads
 * it (a regular file of at most SEARCH_STATE_MAX_BYTES): a file whose key
 * differs is refused (IDIM_ERR_USAGE, naming the path and both keys' first
 * difference); a corrupt one is IDIM_ERR_FORMAT naming the path, the byte
 * offset, the field, what was expected and found. st->threads_file then
 * holds the thread count the file's runs used (resuming with another one
 * works; the last bits of later runs may differ). A missing file is not an
 * error (a fresh run): it is created at once holding only the key, so an
 * unwritable path fails here (IDIM_ERR_WRITE) rather than after the first
 * training run. */
enum idim_status search_state_open(struct search_state *st, const char *path, const char *key,
                                   int threads, struct idim_err *err);

/* Parses a state file held in buf[0..len) into st (which the caller
 * zeroed): pure, no I/O, so it can be fuzzed. st->file_key receives the
 * key. Returns IDIM_OK, IDIM_ERR_FORMAT (path, byte offset and field named)
 * or IDIM_ERR_NOMEM; on failure st may hold some trials (free it). */
enum idim_status search_state_parse(struct search_state *st, const unsigned char *buf,
                                    size_t len, const char *path, struct idim_err *err);

/* Encodes st into buf (which holds the returned count of bytes); buf NULL:
 * only returns the size. */
size_t search_state_encode(const struct search_state *st, unsigned char *buf);

/* Stores the checkpoint of the run in progress (copied) and saves. */
enum idim_status search_state_set_ckpt(struct search_state *st, const unsigned char *ckpt,
                                       size_t len, struct idim_err *err);

/* Adds a trial (in memory), drops the checkpoint (that run is finished) and
 * saves the file when st->path[0]. */
enum idim_status search_state_add(struct search_state *st, const struct search_trial *t,
                                  struct idim_err *err);

/* Writes the whole state atomically. IDIM_ERR_WRITE names the path. */
enum idim_status search_state_save(const struct search_state *st, struct idim_err *err);

/* The recorded trial of (seed, d, lr), or NULL. */
const struct search_trial *search_state_find(const struct search_state *st, uint64_t seed,
                                             long d, double lr);

void search_state_free(struct search_state *st);

#endif
