/* cli_common.c - helpers shared by the command-line layer. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "task.h"
#include "train.h"

enum idim_status cli_usage_error(struct idim_err *err, const char *cmd, const char *usage,
                                 const char *what)
{
    (void)usage; /* one line: the usage is in --help */
    return idim_fail(err, IDIM_ERR_USAGE, "%s: %s (see 'idim %s --help')", cmd, what, cmd);
}

enum idim_status cli_bad_option(struct idim_err *err, const char *cmd, const char *usage,
                                char **argv)
{
    char what[256];
    const char *arg = argv[optind - 1] ? argv[optind - 1] : "?";
    if (optopt && !strchr(arg, '=') && arg[0] == '-' && arg[1] != '-')
        snprintf(what, sizeof what, "unknown option or missing value for '-%c'", optopt);
    else
        snprintf(what, sizeof what, "unknown option or missing value: '%s'", arg);
    return cli_usage_error(err, cmd, usage, what);
}

enum idim_status cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out,
                                struct idim_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a whole number from %ld to %ld, not '%s'",
                         opt, lo, hi, s);
    *out = v;
    return IDIM_OK;
}

enum idim_status cli_parse_u64(const char *opt, const char *s, unsigned long long *out,
                               struct idim_err *err)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a non-negative whole number, not '%s'",
                         opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a non-negative whole number, not '%s'",
                         opt, s);
    *out = v;
    return IDIM_OK;
}

enum idim_status cli_parse_double(const char *opt, const char *s, double lo, double hi,
                                  double *out, struct idim_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a number from %g to %g, not '%s'", opt,
                         lo, hi, s);
    *out = v;
    return IDIM_OK;
}

enum idim_status cli_parse_list(const char *opt, const char *s, double lo, double hi,
                                double *out, int cap, int *n, struct idim_err *err)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char buf[64];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof buf || *n >= cap)
            return idim_fail(err, IDIM_ERR_USAGE,
                             "%s takes a comma-separated list of at most %d numbers, not '%s'", opt,
                             cap, s);
        memcpy(buf, p, len);
        buf[len] = 0;
        enum idim_status st = cli_parse_double(opt, buf, lo, hi, &out[*n], err);
        if (st)
            return st;
        (*n)++;
        p += len;
        if (*p == ',')
            p++;
    }
    if (*n == 0)
        return idim_fail(err, IDIM_ERR_USAGE, "%s needs at least one value", opt);
    return IDIM_OK;
}

int cli_stderr_is_tty(void) { return isatty(2); }

int cli_task_parse(struct cli_task_args *a, int opt, const char *arg)
{
    switch (opt) {
    case CLI_TO_TASK: a->task = arg; return 1;
    case CLI_TO_DATA: a->data = arg; return 1;
    case CLI_TO_TRAIN: a->train = arg; return 1;
    case CLI_TO_DEV: a->dev = arg; return 1;
    case CLI_TO_TEXT_COLS: a->text_cols = arg; return 1;
    case CLI_TO_LABEL_COL: a->label_col = arg; return 1;
    case CLI_TO_FORMAT: a->format = arg; return 1;
    case CLI_TO_METRIC: a->metric = arg; return 1;
    }
    return 0;
}

/* A usage error with cmd's usage line, or a bare one when cmd is NULL. */
static enum idim_status task_usage(struct idim_err *err, const char *cmd, const char *usage,
                                   const char *what)
{
    if (cmd)
        return cli_usage_error(err, cmd, usage, what);
    return idim_fail(err, IDIM_ERR_USAGE, "%s", what);
}

enum idim_status cli_task_check(const struct cli_task_args *a, const char *cmd,
                                const char *usage, int need, struct idim_err *err)
{
    if (!a->task)
        return task_usage(err, cmd, usage, "--task is required");
    int has_custom = a->train || a->dev || a->text_cols || a->label_col || a->format || a->metric;
    if (strcmp(a->task, "custom") != 0) {
        if (has_custom)
            return task_usage(err, cmd, usage,
                              "--train/--dev/--text-cols/--label-col/--format/--metric go with "
                              "--task custom");
        return IDIM_OK;
    }
    if (a->data)
        return task_usage(err, cmd, usage,
                          "--data names a GLUE task's folder; --task custom takes --train FILE "
                          "and --dev FILE");
    if (((need & CLI_SPLIT_TRAIN) && !a->train) || ((need & CLI_SPLIT_DEV) && !a->dev))
        return task_usage(err, cmd, usage,
                          need == (CLI_SPLIT_TRAIN | CLI_SPLIT_DEV)
                              ? "--task custom needs --train FILE and --dev FILE"
                          : need == CLI_SPLIT_TRAIN ? "--task custom needs --train FILE"
                                                    : "--task custom needs --dev FILE");
    return IDIM_OK;
}

/* task_custom() from the flags; its usage errors get cmd's usage line. */
static enum idim_status task_custom_args(struct task_spec *spec, const struct cli_task_args *a,
                                         const char *cmd, const char *usage,
                                         struct idim_err *err)
{
    enum idim_status st = task_custom(spec, a->train, a->dev, a->text_cols, a->label_col,
                                      a->format, a->metric, err);
    if (st == IDIM_ERR_USAGE && cmd) {
        char what[sizeof err->msg];
        snprintf(what, sizeof what, "%s", err->msg);
        return cli_usage_error(err, cmd, usage, what);
    }
    return st;
}

enum idim_status cli_task_resolve(struct task_spec *spec, const struct cli_task_args *a,
                                  const char *cmd, const char *usage, int need,
                                  struct idim_err *err)
{
    enum idim_status st = cli_task_check(a, cmd, usage, need, err);
    if (st)
        return st;
    if (strcmp(a->task, "custom") != 0)
        return task_resolve(spec, a->task, a->data, err);
    return task_custom_args(spec, a, cmd, usage, err);
}

enum idim_status cli_train_data_load(struct train_data *td, const char *model,
                                     const struct cli_task_args *a, int max_len,
                                     long limit_train, long limit_dev, const char *cmd,
                                     const char *usage, struct idim_err *err)
{
    memset(td, 0, sizeof *td);
    enum idim_status st = cli_task_check(a, cmd, usage, CLI_SPLIT_TRAIN | CLI_SPLIT_DEV, err);
    if (st)
        return st;
    /* GLUE tasks: the model is opened first, so its errors come first */
    if (strcmp(a->task, "custom") != 0)
        return train_data_load(td, model, a->task, a->data, max_len, limit_train, limit_dev, err);
    struct task_spec spec;
    if ((st = task_custom_args(&spec, a, cmd, usage, err)))
        return st;
    return train_data_load_spec(td, model, &spec, max_len, limit_train, limit_dev, err);
}

void cli_train_args_init(struct cli_train_args *ta, const struct train_opts *o)
{
    memset(ta, 0, sizeof *ta);
    ta->lrs[0] = o->lr;
    ta->n_lr = 1;
}

int cli_train_parse(struct train_opts *o, struct cli_train_args *ta, int c, const char *arg,
                    enum idim_status *st, struct idim_err *err)
{
    long v;
    unsigned long long u;
    *st = IDIM_OK;
    switch (c) {
    case CLI_TR_LR:
        *st = cli_parse_list("--lr", arg, 1e-12, 1e12, ta->lrs, CLI_MAX_LRS, &ta->n_lr, err);
        return 1;
    case CLI_TR_EPOCHS:
        if (!(*st = cli_parse_long("--epochs", arg, 1, TRAIN_MAX_EPOCHS, &v, err)))
            o->epochs = (int)v;
        return 1;
    case CLI_TR_BATCH:
        if (!(*st = cli_parse_long("--batch", arg, 1, 4096, &v, err)))
            o->batch = (int)v;
        return 1;
    case CLI_TR_MAXLEN:
        *st = cli_parse_long("--max-len", arg, 3, 4096, &ta->max_len, err);
        return 1;
    case CLI_TR_CLIP:
        *st = cli_parse_double("--clip", arg, 0, 1e12, &o->clip, err);
        return 1;
    case CLI_TR_DROP:
        *st = cli_parse_double("--dropout", arg, 0, 0.95, &o->dropout, err);
        return 1;
    case CLI_TR_WD:
        *st = cli_parse_double("--weight-decay", arg, 0, 1e6, &o->weight_decay, err);
        return 1;
    case CLI_TR_SEED:
        if (!(*st = cli_parse_u64("--seed", arg, &u, err)))
            o->seed = u;
        return 1;
    case CLI_TR_THREADS:
        if (!(*st = cli_parse_long("--threads", arg, 1, 1024, &v, err)))
            o->threads = (int)v;
        return 1;
    case CLI_TR_LTRAIN:
        *st = cli_parse_long("--limit-train", arg, 1, 1L << 40, &o->limit_train, err);
        return 1;
    case CLI_TR_LDEV:
        *st = cli_parse_long("--limit-dev", arg, 1, 1L << 40, &o->limit_dev, err);
        return 1;
    case CLI_TR_QUIET:
        ta->quiet = 1;
        return 1;
    }
    return 0;
}
