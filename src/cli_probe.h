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

/* getopt_long ids of the shared options (above any short option). */
enum {
    PO_MODEL = 1000, PO_METHOD, PO_SCOPE, PO_LR, PO_BASELINE_LR, PO_BASELINE,
    PO_BASELINE_FROM, PO_EPOCHS, PO_BASELINE_EPOCHS, PO_BATCH, PO_MAX_LEN, PO_LIMIT_TRAIN,
    PO_LIMIT_DEV, PO_SEED, PO_PROJ_SEED, PO_THREADS, PO_QUIET, PO_THRESHOLD, PO_EVAL_EVERY,
    PO_NO_EARLY_STOP, PO_JOBS, PO_THREADS_PER_RUN,
};

/* The option table rows for the options above (terminated by the caller). */
#define PROBE_LONG_OPTIONS                                                                   \
    CLI_TASK_LONG_OPTIONS, {"model", required_argument, 0, PO_MODEL},                       \
        {"method", required_argument, 0, PO_METHOD},                                         \
        {"scope", required_argument, 0, PO_SCOPE}, {"lr", required_argument, 0, PO_LR},     \
        {"baseline-lr", required_argument, 0, PO_BASELINE_LR},                               \
        {"baseline", required_argument, 0, PO_BASELINE},                                     \
        {"baseline-from", required_argument, 0, PO_BASELINE_FROM},                           \
        {"epochs", required_argument, 0, PO_EPOCHS},                                         \
        {"baseline-epochs", required_argument, 0, PO_BASELINE_EPOCHS},                       \
        {"batch", required_argument, 0, PO_BATCH}, {"max-len", required_argument, 0, PO_MAX_LEN}, \
        {"limit-train", required_argument, 0, PO_LIMIT_TRAIN},                               \
        {"limit-dev", required_argument, 0, PO_LIMIT_DEV},                                   \
        {"seed", required_argument, 0, PO_SEED},                                             \
        {"proj-seed", required_argument, 0, PO_PROJ_SEED},                                   \
        {"threads", required_argument, 0, PO_THREADS}, {"quiet", no_argument, 0, PO_QUIET},  \
        {"threshold", required_argument, 0, PO_THRESHOLD},                                   \
        {"eval-every", required_argument, 0, PO_EVAL_EVERY},                                 \
        {"no-early-stop", no_argument, 0, PO_NO_EARLY_STOP},                               \
        {"jobs", required_argument, 0, PO_JOBS},                                             \
        {"threads-per-run", required_argument, 0, PO_THREADS_PER_RUN}

/* Help text lines for the shared options. */
#define PROBE_OPTIONS_HELP                                                                    \
    "  --task NAME          GLUE task: mrpc, sst2, cola, qnli, ..., or custom (required)\n"   \
    "  --model FILE         idim model file (required)\n"                                     \
    "  --data DIR           the task's folder, or the folder holding it (default\n"                 \
    "                       $IDIM_DATA/<TASK>, then ./data/<TASK>)\n" \
    "  --method said|did    subspace method (default said; SAID needs d > m tensors)\n"       \
    "  --scope tensor|global  one Fastfood transform per tensor or one over all (default tensor)\n" \
    "  --lr LIST            subspace learning-rate grid, comma-separated (default 3e-3);\n"   \
    "                       each d is the best over the grid\n"                               \
    "  --baseline VALUE     use this baseline dev metric instead of fine-tuning\n"            \
    "  --baseline-from FILE read the baseline (field \"best\") from `idim finetune --out FILE`\n" \
    "  --baseline-lr LIST   full fine-tuning lr grid for the baseline (default 2e-5,3e-5,5e-5)\n" \
    "  --threshold T        target = T x baseline (default 0.9)\n"                            \
    "  --epochs N           subspace epochs per run (default 0 = trainer's choice: 20 on\n"   \
    "                       small tasks, 3 on large)\n"                                       \
    "  --baseline-epochs N  full fine-tuning epochs (default 3)\n"                            \
    "  --batch N            examples per step (default 32)\n"                                 \
    "  --max-len N          tokens per example incl. specials (default 128, or the\n"                \
    "                       model's maximum when smaller)\n"                \
    "  --limit-train N      use only the first N training examples (default 0 = all)\n"       \
    "  --limit-dev N        score only the first N dev examples (default 0 = all)\n"          \
    "  --seed N             data order / dropout seed (default 42)\n"                         \
    "  --proj-seed P        Fastfood projection seed (default 1234)\n"                        \
    "  --jobs N             train N runs at once in N worker processes (default 1); under\n" \
    "                       mpirun the worker ranks are the slots instead (-np N: N-1)\n"      \
    "  --threads-per-run N  threads of every run (default: the cores / --jobs; under mpirun\n" \
    "                       $SLURM_CPUS_PER_TASK or 1). A run's result depends on its inputs,\n" \
    "                       seeds and this count only, never on --jobs or the ranks\n"          \
    "  --threads N          the same as --threads-per-run\n"                                 \
    "  --quiet              no progress lines on stderr\n"                                 \
    "  --eval-every N       score dev every N steps of a subspace run as well as after\n"   \
    "                       each epoch (default 0 = auto: 4 times per epoch)\n"            \
    "  --no-early-stop      run every schedule in full (for checking: same d90);\n"       \
    "                       default: stop a run once its dev score is above the target\n" \
    "                       (met) or by the hopeless rule (abandoned), docs/MEASURE.md\n" \
    CLI_TASK_CUSTOM_HELP

struct probe_args {
    struct cli_task_args t;   /* --task, --data and the custom-task flags */
    const char *model;
    enum train_mode mode;     /* TRAIN_SAID or TRAIN_DID */
    enum ff_scope scope;
    int n_lr;
    double lr[SEARCH_MAX_LR];
    int n_baseline_lr;
    double baseline_lr[SEARCH_MAX_LR];
    double baseline;          /* NAN unless --baseline */
    const char *baseline_from;
    double threshold;
    int epochs, baseline_epochs, batch, max_len;
    long limit_train, limit_dev;
    uint64_t seed, proj_seed;
    int threads;              /* threads per run as given (0 = default) */
    int jobs;                 /* --jobs: parallel runs on this machine (0/1 = in process) */
    int quiet;
    long eval_every;          /* --eval-every (0 = auto) */
    int no_early_stop;        /* --no-early-stop */
};

void probe_args_default(struct probe_args *a);

/* Handles one shared option; returns 1 when it was one (*st set), else 0. */
int probe_args_parse(struct probe_args *a, int opt, const char *arg, enum idim_status *st,
                     struct idim_err *err);

/* Loaded model + data and the base options for trials. */
struct probe_ctx {
    struct probe_args *args;  /* borrowed */
    struct train_data td;
    struct train_opts full, sub; /* base options for the baseline and for probes */
    int threads;              /* resolved threads per run */
    size_t n_tensors;         /* m */
    size_t n_params;          /* D */
    int progress;             /* print a line per trial on stderr */
    char train_sha[65], dev_sha[65];
    char train_path[1024], dev_path[1024];
    const char *metric;       /* metric name */
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

/* What predicting the majority class scores on the dev split used (NAN for
 * regression tasks). */
double probe_majority(const struct probe_ctx *c);

/* Fails early (IDIM_ERR_WRITE naming opt and path) when an output file
 * cannot be created, before hours of training. NULL path: IDIM_OK. */
enum idim_status probe_check_writable(const char *path, const char *opt, struct idim_err *err);

#endif
