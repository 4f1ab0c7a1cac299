/* cli.h - the command-line layer: one entry point per `idim <command>`.
 *
 * Each cli_<command>() describes its options in one table and parses them
 * with cli_parse() (include/cli_opt.h: read its top comment before adding an
 * option), calls
 * the library, and prints results to stdout. argv[0] is the command name.
 * Errors are not printed here: a command fills err and returns a status;
 * src/main.c prints "idim: <msg>" and maps the status to an exit code.
 * A usage error is one line ending "(see 'idim CMD --help')". `--help`
 * prints the command's help to stdout and returns IDIM_OK. */
#ifndef IDIM_CLI_H
#define IDIM_CLI_H

#include <stdio.h>

#include "cli_opt.h"
#include "status.h"

typedef enum idim_status (*cli_fn)(int argc, char **argv, struct idim_err *err);

enum idim_status cli_convert(int argc, char **argv, struct idim_err *err);
enum idim_status cli_init(int argc, char **argv, struct idim_err *err);
enum idim_status cli_info(int argc, char **argv, struct idim_err *err);
enum idim_status cli_tokenize(int argc, char **argv, struct idim_err *err);
enum idim_status cli_finetune(int argc, char **argv, struct idim_err *err);
enum idim_status cli_predict(int argc, char **argv, struct idim_err *err);
enum idim_status cli_train(int argc, char **argv, struct idim_err *err);
enum idim_status cli_eval(int argc, char **argv, struct idim_err *err);
enum idim_status cli_project(int argc, char **argv, struct idim_err *err);
enum idim_status cli_measure(int argc, char **argv, struct idim_err *err);
enum idim_status cli_sweep(int argc, char **argv, struct idim_err *err);
enum idim_status cli_plot(int argc, char **argv, struct idim_err *err);
enum idim_status cli_check(int argc, char **argv, struct idim_err *err);
enum idim_status cli_pretrain(int argc, char **argv, struct idim_err *err);

/* Shared helpers for the cli_*.c files (src/cli_common.c). */

/* Parses a whole number / a float / a comma list of floats from an option;
 * on failure fills a usage error naming the option. */
enum idim_status cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out,
                                struct idim_err *err);
enum idim_status cli_parse_u64(const char *opt, const char *s, unsigned long long *out,
                               struct idim_err *err);
enum idim_status cli_parse_double(const char *opt, const char *s, double lo, double hi,
                                  double *out, struct idim_err *err);
enum idim_status cli_parse_list(const char *opt, const char *s, double lo, double hi,
                                double *out, int cap, int *n, struct idim_err *err);

/* How often (--checkpoint-every): a time or a count of optimizer steps,
 * the other 0; both 0 = never. */
struct cli_every {
    double seconds;
    long steps;
};

/* Parses "30s", "5m", "2h" (time), "500steps" / "500step" (optimizer
 * steps) or a plain number in the command's historical unit (plain_steps:
 * steps, as `pretrain` always took; else seconds, as `measure`). "0" in any
 * unit is never. IDIM_ERR_USAGE names opt and the accepted forms. */
enum idim_status cli_parse_every(const char *opt, const char *s, int plain_steps,
                                 struct cli_every *out, struct idim_err *err);

/* ---- --task and its custom-task flags, shared by every command that reads a task ----
 * Add CLI_TASK_OPTS(&args) to the command's option table, then call
 * cli_task_resolve() or cli_train_data_load() after parsing. The `usage`
 * parameters below are unused (usage errors are one line now) and may be
 * NULL. */
struct task_spec;

struct cli_task_args {
    const char *task;      /* --task NAME ("custom" for the flags below) */
    const char *data;      /* --data DIR (GLUE tasks) */
    const char *train, *dev, *text_cols, *label_col, *format, *metric; /* --task custom */
};

/* The task option group for a cli_opt table (include/cli_opt.h): --task,
 * --data and the custom-task flags, targets in *a (struct cli_task_args).
 * Check and resolve after parsing with cli_task_check / cli_task_resolve /
 * cli_train_data_load. */
#define CLI_TASK_OPTS(a)                                                                      \
    CLI_GROUP("task"),                                                                        \
        CLI_STR(0, "task", "NAME", &(a)->task,                                                \
                "GLUE task (mrpc, sst2, cola, qnli, ...: see 'idim tokenize --help'),\n"     \
                "or custom (the flags below)",                                                \
                CLI_REQ),                                                                     \
        CLI_STR(0, "data", "DIR", &(a)->data,                                                 \
                "the task's folder, or the folder holding it\n"                               \
                "(default: $IDIM_DATA/<folder>, then ./data/<folder>)",                        \
                CLI_DIR),                                                                     \
        CLI_GROUP("custom tasks (--task custom, instead of --data)"),                         \
        CLI_STR(0, "train", "FILE", &(a)->train, "training split (tsv/csv need a header row)", \
                CLI_FILE),                                                                    \
        CLI_STR(0, "dev", "FILE", &(a)->dev, "dev split", CLI_FILE),                          \
        CLI_STR(0, "text-cols", "C1[,C2]", &(a)->text_cols,                                   \
                "text columns: header names or 0-based numbers (jsonl: keys)", 0),            \
        CLI_STR(0, "label-col", "C", &(a)->label_col,                                         \
                "label column or key (classes: the train file's distinct labels,\n"          \
                "at most 16, numeric order when all are integers, so predict/eval\n"          \
                "need the --train the model was trained on)",                                 \
                0),                                                                           \
        CLI_CHOICE(0, "format", "F", &(a)->format, "tsv,csv,jsonl",                           \
                   "tsv, csv or jsonl (default: from the file extension)"),                   \
        CLI_CHOICE(0, "metric", "M", &(a)->metric, "accuracy,f1,mcc,pearson,spearman",        \
                   "accuracy, f1, mcc, pearson or spearman (default accuracy;\n"              \
                   "pearson/spearman make it a regression)")

/* Splits a command needs (for --task custom: which of --train/--dev must be given). */
enum { CLI_SPLIT_TRAIN = 1, CLI_SPLIT_DEV = 2 };

/* The usage checks alone (no file is read): --task given; the custom-only
 * flags only with --task custom; no --data with custom; custom gives the
 * files of the splits in `need`. Usage errors carry cmd's usage line (a
 * bare message when cmd is NULL). */
enum idim_status cli_task_check(const struct cli_task_args *a, const char *cmd,
                                const char *usage, int need, struct idim_err *err);

/* cli_task_check, then task_custom() for "custom" or task_resolve(). */
enum idim_status cli_task_resolve(struct task_spec *spec, const struct cli_task_args *a,
                                  const char *cmd, const char *usage, int need,
                                  struct idim_err *err);

/* cli_task_check (both splits), then the model and both splits, tokenized:
 * train_data_load for a GLUE task (model errors first, as before), or
 * task_custom + train_data_load_spec. On failure *td is zeroed or freed. */
struct train_data;
enum idim_status cli_train_data_load(struct train_data *td, const char *model,
                                     const struct cli_task_args *a, int max_len,
                                     long limit_train, long limit_dev, const char *cmd,
                                     const char *usage, struct idim_err *err);

/* 1 when stderr is a terminal (progress bars), else 0. */
int cli_stderr_is_tty(void);

/* --threads as given, or (0: not given) the number of online cores, at
 * least 1. */
int cli_threads_default(int threads);

/* Prints the JSON object O and a newline on stdout: one line, or indented
 * when PRETTY; deletes O. O NULL, or no memory to print it: IDIM_ERR_NOMEM
 * with the message OOM. */
struct cJSON;
enum idim_status cli_print_json(struct cJSON *o, int pretty, const char *oom,
                                struct idim_err *err);

/* The training option group of `idim finetune` and `idim train`, for a
 * cli_opt table: targets in *o (struct train_opts, defaults from
 * train_opts_default) and *tr (cli_train_args_init). */
struct train_opts;
struct train_data;
struct train_result;

struct cli_train_args {
    struct cli_list lrs; /* --lr list; starts as {default lr} */
    long max_len;        /* --max-len; 0 = 128 or the model's maximum */
    int quiet;           /* --quiet */
};

/* --batching random|bucket into an enum train_batching (train.h). */
enum idim_status cli_opt_batching(const struct cli_opt *o, const char *arg, struct idim_err *err);
#define CLI_BATCHING(t)                                                                        \
    {CLI_K_FN, 0, "batching", "HOW", t, 0, 0, "random,bucket",                                 \
     "random (default: shuffled batches) or bucket (batches of similar\n"                      \
     "length from length-sorted chunks of 50 batches of the shuffled\n"                         \
     "data, in random order: less padding); docs/MEASURE.md",                                  \
     0, cli_opt_batching, NULL}

#define CLI_TRAIN_OPTS(o, tr)                                                                 \
    CLI_GROUP("training"),                                                                    \
        CLI_LIST(0, "lr", "L[,L2,...]", &(tr)->lrs, 1e-12, 1e12,                              \
                 "peak learning rate(s); a list runs each and reports the best\n"             \
                 "(valid runs first - not diverged, not majority-only - then the\n"          \
                 "higher metric: the rule measure uses for each d)"),                         \
        CLI_INT(0, "epochs", "E", &(o)->epochs, 1, TRAIN_MAX_EPOCHS, "epochs"),                        \
        CLI_INT(0, "batch", "N", &(o)->batch, 1, 4096, "examples per step"),                  \
        CLI_BATCHING(&(o)->batching),                                                          \
        CLI_LONG(0, "max-len", "N", &(tr)->max_len, 3, 4096,                                  \
                 "tokens per example incl. special tokens\n"                                  \
                 "(default 128, or the model's maximum when smaller)"),                       \
        CLI_DOUBLE(0, "clip", "C", &(o)->clip, 0, 1e12, "global gradient-norm clip, 0 = off"), \
        CLI_DOUBLE(0, "dropout", "P", &(o)->dropout, 0, 0.95,                                 \
                   "hidden and attention dropout while training"),                            \
        CLI_DOUBLE(0, "weight-decay", "W", &(o)->weight_decay, 0, 1e6,                        \
                   "AdamW decoupled weight decay"),                                           \
        CLI_U64(0, "seed", "S", &(o)->seed, "data order, dropout, created head"),             \
        CLI_THREADS(&(o)->threads),                                                           \
        CLI_LONG(0, "limit-train", "N", &(o)->limit_train, 1, 1L << 40,                       \
                 "use only the first N training examples (quick runs)"),                      \
        CLI_LONG(0, "limit-dev", "N", &(o)->limit_dev, 1, 1L << 40,                           \
                 "score only the first N dev examples"),                                      \
        CLI_FLAG(0, "quiet", &(tr)->quiet, "no progress bar (drawn only when stderr is a terminal)")

/* Sets *ta from o's defaults (lrs = {o->lr}, max_len 0, quiet 0). */
void cli_train_args_init(struct cli_train_args *ta, const struct train_opts *o);

/* The progress bar of the training commands: one line on stderr, redrawn at
 * most 10 times a second, only when stderr is a terminal. */
struct cli_bar {
    int on;
    const char *label;
    double last;
};
struct train_progress;
void cli_train_progress(const struct train_progress *p, void *user); /* user: struct cli_bar */
void cli_train_progress_end(void *user);

/* The runs of one learning-rate grid (finetune, train). */
struct cli_grid {
    struct train_result *res; /* [tr->lrs.n], calloc'd; free() */
    int n_done;               /* runs finished */
    int best;                 /* index of the best finished run, -1 when none */
};

/* Runs train_run once per --lr on td with *o and a progress bar (quiet:
 * none); after each run calls report(i, &res[i], user) (may be NULL). The
 * best run is chosen by the one ranking rule (search_best_trial: valid runs
 * first, then the higher metric). With save_slot (&o->save_model or
 * &o->save_theta) and save, each run writes a scratch file and only a run that
 * becomes the best, is valid and saved something replaces `save`.
 * Returns the first failing status (IDIM_ERR_INTERRUPTED included: the runs
 * finished so far stay in *g); IDIM_ERR_NOMEM. */
enum idim_status cli_train_grid(struct train_data *td, struct train_opts *o,
                                const struct cli_train_args *tr, const char **save_slot,
                                const char *save, struct cli_grid *g,
                                void (*report)(int i, const struct train_result *r, void *user),
                                void *user, struct idim_err *err);

#endif
