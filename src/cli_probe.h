/* cli_probe.h - what `idim measure` and `idim sweep` share: the trainer
 * options they both take, loading the model and task once, the trial
 * callback that adapts train_run to search_trial_fn, and the baseline.
 * Command-line layer (src/cli_probe.c); not part of libidim. */
#ifndef IDIM_CLI_PROBE_H
#define IDIM_CLI_PROBE_H

#include <stdint.h>

#include "cli.h"
#include "report.h"
#include "scheduler.h"
#include "search.h"
#include "status.h"
#include "train.h"

/* The option group measure and sweep share ("search"), for a cli_opt
 * table: --model, the task group and the trainer options, targets in *a
 * (struct probe_args, defaults from probe_args_default). */
enum idim_status probe_opt_method(const struct cli_opt *o, const char *arg, struct idim_err *err);
enum idim_status probe_opt_scope(const struct cli_opt *o, const char *arg, struct idim_err *err);
enum idim_status probe_opt_lr(const struct cli_opt *o, const char *arg, struct idim_err *err);
enum idim_status probe_opt_baseline_lr(const struct cli_opt *o, const char *arg,
                                       struct idim_err *err);
enum idim_status probe_opt_baseline(const struct cli_opt *o, const char *arg,
                                    struct idim_err *err);
enum idim_status probe_opt_projection(const struct cli_opt *o, const char *arg,
                                      struct idim_err *err);
enum idim_status probe_opt_optimizer(const struct cli_opt *o, const char *arg,
                                     struct idim_err *err);
enum idim_status probe_opt_lr_rule(const struct cli_opt *o, const char *arg,
                                   struct idim_err *err);
enum idim_status probe_opt_ckpt_every(const struct cli_opt *o, const char *arg,
                                      struct idim_err *err);

#define PROBE_OPTS(a)                                                                          \
    CLI_MODEL(&(a)->model, "idim model file"),                                                 \
        CLI_GROUP("search"),                                                                   \
        CLI_FN(0, "method", "M", probe_opt_method, a,                                          \
               "said or did (default said; SAID needs d > m tensors)", 0),                     \
        CLI_FN(0, "scope", "S", probe_opt_scope, a,                                            \
               "tensor (default: one Fastfood transform per tensor) or global", 0),            \
        CLI_FN(0, "projection", "K", probe_opt_projection, a,                                  \
               "fastfood (default), dense (small models) or identity (d = D)", 0),             \
        CLI_FN(0, "optimizer", "O", probe_opt_optimizer, a,                                    \
               "adamw-proj (default: per-weight AdamW moments, step projected)\n"             \
               "or adamw (AdamW on theta_d, the papers' convention); docs/LR.md", 0),         \
        CLI_FN(0, "lr-rule", "R", probe_opt_lr_rule, a,                                        \
               "weight (default: lr is each weight's rms step), fixed (the\n"                 \
               "papers') or sqrt (lr x sqrt(1000/d)); docs/LR.md", 0),                        \
        CLI_FN(0, "lr", "LIST", probe_opt_lr, a,                                               \
               "subspace learning-rate grid, comma-separated (default 3e-3);\n"                \
               "each d is the best run over the grid", 0),                                     \
        CLI_FN(0, "baseline", "VALUE", probe_opt_baseline, a,                                  \
               "use this baseline dev metric instead of fine-tuning", 0),                      \
        CLI_STR(0, "baseline-from", "FILE", &(a)->baseline_from,                               \
                "read the baseline (field \"best\") from `idim finetune --out FILE`",          \
                CLI_FILE),                                                                     \
        CLI_FN(0, "baseline-lr", "LIST", probe_opt_baseline_lr, a,                             \
               "full fine-tuning lr grid for the baseline (default 2e-5,3e-5,5e-5)", 0),       \
        CLI_DOUBLE(0, "threshold", "T", &(a)->threshold, 1e-6, 10, "target = T x baseline"),   \
        CLI_INT(0, "epochs", "N", &(a)->epochs, 0, TRAIN_MAX_EPOCHS,                           \
                "subspace epochs per run (default 0 = trainer's choice: 20 on\n"               \
                "small tasks, 1 on large: sst2, qnli, qqp, mnli)"),                             \
        CLI_INT(0, "baseline-epochs", "N", &(a)->baseline_epochs, 0, TRAIN_MAX_EPOCHS,         \
                "full fine-tuning epochs (default 0 = 3 on small tasks, 1 on\n"                \
                "large ones)"),                                                                \
        CLI_INT(0, "batch", "N", &(a)->batch, 1, 65536, "examples per step"),                  \
        CLI_BATCHING(&(a)->batching),                                                          \
        CLI_INT(0, "max-len", "N", &(a)->max_len, 3, 100000,                                   \
                "tokens per example incl. specials (default 128, or the\n"                     \
                "model's maximum when smaller)"),                                              \
        CLI_LONG(0, "limit-train", "N", &(a)->limit_train, 0, 1L << 40,                        \
                 "use only the first N training examples (default 0 = all)"),                  \
        CLI_LONG(0, "limit-dev", "N", &(a)->limit_dev, 0, 1L << 40,                            \
                 "score only the first N dev examples (default 0 = all)"),                     \
        CLI_U64(0, "seed", "N", &(a)->seed, "data order / dropout seed"),                      \
        CLI_U64(0, "proj-seed", "P", &(a)->proj_seed, "Fastfood projection seed"),             \
        CLI_INT(0, "jobs", "N", &(a)->jobs, 1, SCHED_MAX_SLOTS,                                \
                "train N runs at once in N worker processes (default 1); under\n"             \
                "mpirun the worker ranks are the slots instead (-np N: N-1)"),                 \
        CLI_INT(0, "threads-per-run", "N", &(a)->threads, 0, 1024,                             \
                "threads of every run (default: the cores / --jobs; under mpirun\n"           \
                "$SLURM_CPUS_PER_TASK or 1). A run's result depends on its inputs,\n"         \
                "seeds and this count only, never on --jobs or the ranks"),                   \
        CLI_INT(0, "threads", "N", &(a)->threads, 0, 1024, "the same as --threads-per-run"), \
        CLI_FLAG(0, "quiet", &(a)->quiet, "no progress lines on stderr"),                     \
        CLI_LONG(0, "eval-every", "N", &(a)->eval_every, 0, 1L << 40,                          \
                 "score dev every N steps of a subspace run as well as after\n"                \
                 "each epoch (default 0 = auto: sqrt(e x T) steps, e = one\n"                  \
                 "evaluation's cost in steps ~ dev rows / (3 batch), T the\n"                 \
                 "schedule's steps; docs/MEASURE.md)"),                                        \
        CLI_FLAG(0, "no-early-stop", &(a)->no_early_stop,                                      \
                 "run every schedule in full (for checking: same d90); default:\n"            \
                 "stop a run once its dev score is above the target (met) or by\n"            \
                 "the hopeless rule (abandoned), docs/MEASURE.md"),                            \
        CLI_FN(0, "checkpoint-every", "T", probe_opt_ckpt_every, a,                            \
               "with --state: save the run in progress (the baseline's too)\n"                \
               "so that a kill loses at most T: a time (30s, 5m, 1h) or\n"                     \
               "optimizer steps (200steps); a plain number is seconds\n"                      \
               "(default 5s; 0 = only finished runs)", 0),                                     \
        CLI_TASK_OPTS(&(a)->t)

struct probe_args {
    struct cli_task_args t;   /* --task, --data and the custom-task flags */
    const char *model;
    enum train_mode mode;     /* TRAIN_SAID or TRAIN_DID */
    enum ff_scope scope;
    enum proj_kind projection;
    enum train_lr_rule lr_rule;
    enum train_optim optimizer;
    int n_lr;
    double lr[SEARCH_MAX_LR];
    int n_baseline_lr;
    double baseline_lr[SEARCH_MAX_LR];
    double baseline;          /* NAN unless --baseline */
    const char *baseline_from;
    double threshold;
    int epochs, baseline_epochs, batch, max_len;
    enum train_batching batching; /* --batching */
    long limit_train, limit_dev;
    uint64_t seed, proj_seed;
    int threads;              /* threads per run as given (0 = default) */
    int jobs;                 /* --jobs: parallel runs on this machine (0/1 = in process) */
    int quiet;
    long eval_every;          /* --eval-every (0 = auto) */
    int no_early_stop;        /* --no-early-stop */
    struct cli_every ckpt_every; /* --checkpoint-every: seconds or steps (both 0 = off) */
};

void probe_args_default(struct probe_args *a);

/* Loaded model + data and the base options for trials. */
struct probe_ctx {
    struct probe_args *args;  /* borrowed */
    struct train_data td;
    struct train_opts full, sub; /* base options for the baseline and for probes */
    int threads;              /* resolved threads per run */
    size_t n_tensors;         /* m */
    size_t n_params;          /* D */
    int progress;             /* progress on stderr (not --quiet) */
    int tty;                  /* stderr is a terminal: one live line */
    double t0, t_line, t_run; /* start of the command, last progress line, this run */
    double t_proc;            /* when the command started (before loading): the state on
                                 disk is at least this old when resuming (probe_now) */
    long cur_d;               /* the run in progress: d (0 = baseline), lr, seed */
    double cur_lr;
    uint64_t cur_seed;
    long dmin, dmax;          /* measure: the search's range, for the time-left range */
    double precision;         /* (dmax 0: no search range shown, as in sweep) */
    int n_lr, n_seeds, seed_index;
    char train_sha[65], dev_sha[65];
    char train_path[1024], dev_path[1024];
    const char *metric;       /* metric name */
    struct search_state *state; /* borrowed: where checkpoints go (NULL: nowhere) */
    double target;            /* subspace runs' target (set once the baseline is known;
                                 NAN before) */
};

/* Loads the model and task (both splits, tokenized) and their checksums.
 * Callers run cli_task_check(&a->t, ...) first, for usage errors with
 * their usage line. */
enum idim_status probe_ctx_open(struct probe_ctx *c, struct probe_args *a, struct idim_err *err);
void probe_ctx_free(struct probe_ctx *c);

/* search_trial_fn over a struct probe_ctx: d == 0 is full fine-tuning. */
enum idim_status probe_trial(void *ctx, long d, double lr, uint64_t seed, struct search_trial *out,
                             struct idim_err *err);

/* sched_trial_fn over a struct probe_ctx: probe_trial with the spec's
 * target (early stopping) - what a worker runs. */
enum idim_status probe_spec_trial(void *ctx, const struct sched_spec *sp, struct search_trial *out,
                                  struct idim_err *err);

/* The key of the arguments that decide trial results (for the state file). */
void probe_state_key(const struct probe_ctx *c, const char *cmd, char *key, size_t cap);

/* The baseline: --baseline, --baseline-from, or full fine-tuning over the
 * baseline lr grid (trials recorded in st, run through fn(fn_ctx, ...):
 * probe_trial, or sched_lookup_trial after a parallel run). *value = the baseline metric;
 * *source names where it came from; trials/n_trials (caller-owned array of
 * SEARCH_MAX_LR) receive the fine-tuning trials. */
enum idim_status probe_baseline(struct probe_ctx *c, struct search_state *st, search_trial_fn fn,
                                void *fn_ctx, double *value, char *source, size_t source_cap,
                                struct search_trial *trials, size_t *n_trials,
                                struct idim_err *err);

/* 1 when the baseline comes from full fine-tuning (neither --baseline nor
 * --baseline-from). */
int probe_baseline_trains(const struct probe_args *a);

/* The baseline's lr grid as a search_config (d = 0, seed 0). */
void probe_baseline_config(const struct probe_args *a, struct search_config *cfg);

/* Trains every run plan asks for on sc's slots (sched_run; finished runs
 * go into st and its file), then points *fn, *fn_ctx and *rst so that the
 * caller's sequential code replays the search over the finished runs:
 * *rst = old = the runs st held before (loaded from the state file, so a
 * probe is `resumed` only when it was), *fn = sched_lookup_trial over st.
 * Returns IDIM_OK or sched_run's status. */
enum idim_status probe_run_parallel(struct sched *sc, sched_plan_fn plan, void *plan_ctx,
                                    struct search_state *st, struct search_state *old,
                                    search_trial_fn *fn, void **fn_ctx,
                                    struct search_state **rst, struct idim_err *err);

double probe_now(void);

/* The baseline guard of `measure`: fine-tuning must beat the majority class
 * by at least this much (in the task's metric) and not predict one class. */
#define PROBE_GUARD_MARGIN 0.02

/* Seconds between plain progress lines when stderr is not a terminal. */
#define PROBE_PLAIN_EVERY 30.0

/* What predicting the majority class scores on the dev split used (NAN for
 * regression tasks). */
double probe_majority(const struct probe_ctx *c);

/* Fails early (IDIM_ERR_WRITE naming opt and path) when an output file
 * cannot be created, before hours of training. NULL path: IDIM_OK. */
enum idim_status probe_check_writable(const char *path, const char *opt, struct idim_err *err);

/* One search over runs, as measure and sweep set it up: the loaded model
 * and data, the state file, the slots, and the trial function the search
 * reads results through (probe_trial, or the replay after a parallel pass). */
struct probe_run {
    struct probe_ctx ctx;
    int ctx_open;                /* ctx loaded (probe_run_free frees it) */
    struct search_state state;   /* finished runs (and their file) */
    struct search_state old;     /* after a parallel pass: the runs held before */
    struct sched sc;
    search_trial_fn fn;          /* what the search calls for a run */
    void *fn_ctx;
    struct search_state *rst;    /* the state the search reads */
};

/* Checks that OUT and PLOT (either may be NULL) can be written, loads the
 * model and data (probe_ctx_open) and starts the slots (sched_start).
 * Workers (forked, or MPI ranks > 0) start at sched_start and come back
 * with r->sc.is_worker set once the work is done. Release with
 * probe_run_free(), also after a failure. */
enum idim_status probe_run_open(struct probe_run *r, struct probe_args *a, const char *out,
                                const char *plot, struct idim_err *err);

/* Opens the state file PATH (NULL: in memory only) under CMD's key and
 * lets in-run checkpoints go there. Returns search_state_open's status. */
enum idim_status probe_run_state(struct probe_run *r, const char *cmd, const char *path,
                                 struct idim_err *err);

void probe_run_free(struct probe_run *r);

/* Writes the SVG of P to PATH; a plot without one finite point is
 * IDIM_ERR_FORMAT ("no WHAT with a finite metric to plot"). */
enum idim_status probe_write_plot(const char *path, const struct report_plot *p,
                                  const char *what, struct idim_err *err);

#endif
