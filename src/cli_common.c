/* cli_common.c - helpers shared by the command-line layer. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "search.h"
#include "task.h"
#include "train.h"

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

enum idim_status cli_parse_every(const char *opt, const char *s, int plain_steps,
                                 struct cli_every *out, struct idim_err *err)
{
    static const struct {
        const char *suffix;
        double scale; /* seconds per unit; 0: steps */
    } units[] = {{"s", 1}, {"m", 60}, {"h", 3600}, {"steps", 0}, {"step", 0}, {"", -1}};
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : NAN;
    memset(out, 0, sizeof *out);
    if (s && !errno && end != s && isfinite(v) && v >= 0 && !isspace((unsigned char)*s))
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(end, units[i].suffix) != 0)
                continue;
            int steps = units[i].scale == 0 || (units[i].scale < 0 && plain_steps);
            if (steps && v != floor(v))
                break;
            if (steps && v <= 1e12) {
                out->steps = (long)v;
                return IDIM_OK;
            }
            double sec = v * (units[i].scale > 0 ? units[i].scale : 1);
            if (!steps && sec <= 1e7) {
                out->seconds = sec;
                return IDIM_OK;
            }
            break;
        }
    return idim_fail(err, IDIM_ERR_USAGE,
                     "%s takes a time (30s, 5m, 2h) or a count of optimizer steps (500steps); a "
                     "plain number counts %s; not '%s'",
                     opt, plain_steps ? "steps" : "seconds", s ? s : "");
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

enum idim_status cli_print_json(struct cJSON *o, int pretty, const char *oom,
                                struct idim_err *err)
{
    char *s = !o ? NULL : pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s", oom);
    printf("%s\n", s);
    cJSON_free(s);
    return IDIM_OK;
}

int cli_threads_default(int threads)
{
    if (threads >= 1)
        return threads;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu < 1 ? 1 : (int)ncpu;
}

/* A usage error with cmd's usage line, or a bare one when cmd is NULL. */
static enum idim_status task_usage(struct idim_err *err, const char *cmd, const char *usage,
                                   const char *what)
{
    (void)usage;
    if (cmd)
        return cli_usage(err, cmd, "%s", what);
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
    (void)usage;
    enum idim_status st = task_custom(spec, a->train, a->dev, a->text_cols, a->label_col,
                                      a->format, a->metric, err);
    if (st == IDIM_ERR_USAGE && cmd) {
        char what[sizeof err->msg];
        snprintf(what, sizeof what, "%s", err->msg);
        return cli_usage(err, cmd, "%s", what);
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

enum idim_status cli_opt_batching(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    if (train_batching_parse(arg, o->target))
        return idim_fail(err, IDIM_ERR_USAGE, "--batching takes random or bucket, not '%s'", arg);
    return IDIM_OK;
}

void cli_train_args_init(struct cli_train_args *ta, const struct train_opts *o)
{
    memset(ta, 0, sizeof *ta);
    ta->lrs.v[0] = o->lr;
    ta->lrs.n = 1;
}

/* CLI_U64 writes an unsigned long long into train_opts.seed */
_Static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "seed width");

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

void cli_train_progress(const struct train_progress *p, void *user)
{
    struct cli_bar *bar = user;
    if (!bar || !bar->on)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if (!p->evaluating && p->step != p->steps && now - bar->last < 0.1)
        return;
    bar->last = now;
    char eta[32];
    fmt_time(eta, sizeof eta, p->eta_s);
    int w = 24, fill = p->steps > 0 ? (int)((double)w * (double)p->step / (double)p->steps) : 0;
    char bars[32];
    for (int i = 0; i < w; i++)
        bars[i] = i < fill ? '=' : ' ';
    bars[w] = 0;
    fprintf(stderr, "\r%s epoch %d/%d [%s] step %ld/%ld loss %.4f %.0f ex/s %s %s\033[K",
            bar->label ? bar->label : "", p->epoch, p->epochs, bars, p->step, p->steps,
            p->loss, p->ex_per_s, p->evaluating ? "scoring dev" : "left", p->evaluating ? "" : eta);
    fflush(stderr);
}

void cli_train_progress_end(void *user)
{
    struct cli_bar *bar = user;
    if (bar && bar->on) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}

/* A finished run as the search sees a trial, for the one ranking rule. */
static struct search_trial run_trial(const struct train_result *r, double lr)
{
    struct search_trial t;
    memset(&t, 0, sizeof t);
    t.d = (long)r->d, t.lr = lr, t.metric = r->best, t.epochs = r->n_epochs;
    t.seconds = r->seconds, t.diverged = r->diverged, t.majority_only = r->majority_only;
    return t;
}

enum idim_status cli_train_grid(struct train_data *td, struct train_opts *o,
                                const struct cli_train_args *tr, const char **save_slot,
                                const char *save, struct cli_grid *g,
                                void (*report)(int i, const struct train_result *r, void *user),
                                void *user, struct idim_err *err)
{
    memset(g, 0, sizeof *g);
    g->best = -1;
    g->res = calloc((size_t)tr->lrs.n, sizeof *g->res);
    if (!g->res)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    struct cli_bar bar = {!tr->quiet && cli_stderr_is_tty(), NULL, 0};
    o->progress = cli_train_progress;
    o->progress_user = &bar;
    char tmp[1100];
    enum idim_status st = IDIM_OK;
    for (int i = 0; i < tr->lrs.n; i++) {
        o->lr = tr->lrs.v[i];
        char label[48];
        snprintf(label, sizeof label, "lr %g", o->lr);
        bar.label = label;
        /* each run writes a scratch file; only the best so far is published
         * (fileio_publish: a device or FIFO gets exactly one file) */
        if (save && (st = fileio_scratch_path(save, tmp, sizeof tmp, err)))
            break;
        if (save)
            *save_slot = tmp;
        st = train_run(td, o, &g->res[i], err);
        cli_train_progress_end(&bar);
        if (st) {
            if (save)
                remove(tmp);
            break;
        }
        g->n_done++;
        const struct train_result *r = &g->res[i];
        if (report)
            report(i, r, user);
        struct search_trial two[2] = {g->best >= 0 ? run_trial(&g->res[g->best], 0) : run_trial(r, 0),
                                      run_trial(r, 0)};
        int better = g->best < 0 || search_best_trial(two, 2) == 1;
        if (better)
            g->best = i;
        if (save && better && !r->diverged && r->best_epoch > 0) {
            if ((st = fileio_publish(tmp, save, err)))
                break;
        } else if (save) {
            remove(tmp);
        }
    }
    o->progress = NULL;
    o->progress_user = NULL;
    if (save)
        *save_slot = NULL;
    return st;
}
