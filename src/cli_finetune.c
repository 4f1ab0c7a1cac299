/* cli_finetune.c - `idim finetune`: full fine-tuning, the baseline d90 is
 * measured against. Runs each learning rate of --lr, reports the best:
 * a summary on stdout and the JSON (every run under "grid") to --out. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "train.h"
#include "fileio.h"


/* the progress bar lives in cli_train.c */
void cli_train_progress(const struct train_progress *p, void *user);
void cli_train_progress_end(void *user);
struct cli_bar {
    int on;
    const char *label;
    double last;
};

static const char *USAGE =
    "idim finetune --task T --model M [--data DIR] [--lr 2e-5[,3e-5,...]] [--epochs 3]\n"
    "       [--batch 32] [--max-len 128] [--warmup 0.06] [--weight-decay 0.01] [--clip 1.0]\n"
    "       [--dropout 0.1] [--seed S] [--threads N] [--limit-train N] [--quiet]\n"
    "       [--out result.json] [--save-model F]";

static void help(void)
{
    printf(
        "usage: %s\n\n"
        "Full fine-tuning of every weight: AdamW (bias-corrected, decoupled weight decay,\n"
        "none on biases and LayerNorm weights), linear warm-up then linear decay to 0,\n"
        "global gradient-norm clipping, dropout. The dev split is scored after each\n"
        "epoch and the best epoch is reported. With a list of learning rates each one is\n"
        "run and the best is reported: this is the baseline d90 is measured against.\n"
        "A loss that becomes NaN or Inf ends that run (\"diverged\": true); the others go on.\n\n"
        "options:\n"
        "  --task T           task: mrpc, sst2, cola, qnli, ..., or custom (required)\n"
        "  --model M          idim model file (required)\n"
        "  --data DIR         folder holding the task folder (default $IDIM_DATA, ./data)\n"
        "  --lr L[,L2,...]    peak learning rate(s) (default 2e-5)\n"
        "  --epochs E         epochs (default 3)\n"
        "  --batch N          examples per step (default 32)\n"
        "  --max-len N        tokens per example incl. special tokens (default 128, or\n"
        "                     the model's maximum when smaller)\n"
        "  --warmup F         warm-up as a fraction of all steps (default 0.06)\n"
        "  --weight-decay W   AdamW decoupled weight decay (default 0.01)\n"
        "  --clip C           global gradient-norm clip, 0 = off (default 1.0)\n"
        "  --dropout P        hidden and attention dropout (default 0.1)\n"
        "  --seed S           data order, dropout, created head (default 42)\n"
        "  --threads N        threads (default: all cores)\n"
        "  --limit-train N    use only the first N training examples (quick runs)\n"
        "  --limit-dev N      score only the first N dev examples\n"
        "  --out F            write the JSON result to F (atomically)\n"
        "  --save-model F     write the final weights of the best learning rate as a model\n"
        "                     file without a head (a starting model for `idim train` on\n"
        "                     another task)\n"
        "  --quiet            no progress bar (drawn only when stderr is a terminal)\n"
        "  --help             this text\n"
        CLI_TASK_CUSTOM_HELP "\n"
        "example:\n"
        "  idim finetune --task mrpc --model bert-base.idim --lr 2e-5,3e-5,5e-5 --out mrpc.json\n"
        "  idim finetune --task custom --train t.tsv --dev d.tsv --text-cols question,answer \\\n"
        "      --label-col label --model bert-base.idim --out custom.json\n",
        USAGE);
}

/* text plus a final newline, atomically. */
static enum idim_status write_atomic(const char *path, const char *text, struct idim_err *err)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    if (!buf)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, text, n);
    buf[n] = '\n';
    enum idim_status st = fileio_write_atomic(path, buf, n + 1, err);
    free(buf);
    return st;
}

enum idim_status cli_finetune(int argc, char **argv, struct idim_err *err)
{
    const char *cmd = "finetune";
    enum {
        O_MODEL = 256, O_WARM, O_OUT, O_SAVE, O_HELP
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"warmup", required_argument, 0, O_WARM},
        {"out", required_argument, 0, O_OUT},
        {"save-model", required_argument, 0, O_SAVE},
        {"help", no_argument, 0, O_HELP},
        CLI_TASK_LONG_OPTIONS,
        CLI_TRAIN_LONG_OPTIONS,
        {0, 0, 0, 0},
    };
    struct train_opts o;
    train_opts_default(&o, TRAIN_FULL);
    struct cli_task_args ta = {0};
    const char *model = NULL, *out = NULL, *save = NULL;
    char tmp_model[1100];
    struct cli_train_args tr;
    cli_train_args_init(&tr, &o);
    enum idim_status st = IDIM_OK;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_task_parse(&ta, c, optarg))
            continue;
        if (cli_train_parse(&o, &tr, c, optarg, &st, err)) {
            if (st)
                return st;
            continue;
        }
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_OUT: out = optarg; break;
        case O_SAVE: save = optarg; break;
        case O_WARM:
            if ((st = cli_parse_double("--warmup", optarg, 0, 1, &o.warmup, err)))
                return st;
            break;
        case O_HELP: help(); return IDIM_OK;
        default: return cli_bad_option(err, cmd, USAGE, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, cmd, USAGE, "unexpected argument");
    if (!ta.task || !model)
        return cli_usage_error(err, cmd, USAGE,
                               !ta.task ? "--task is required" : "--model is required");

    struct train_data td;
    st = cli_train_data_load(&td, model, &ta, (int)tr.max_len, o.limit_train, o.limit_dev, cmd,
                             USAGE, err);
    if (st)
        return st;
    struct cli_bar bar = {!tr.quiet && cli_stderr_is_tty(), NULL, 0};
    o.progress = cli_train_progress;
    o.progress_user = &bar;
    struct train_result *res = calloc((size_t)tr.n_lr, sizeof *res);
    if (!res) {
        train_data_free(&td);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    }
    int best = -1, done = 0;
    for (int i = 0; i < tr.n_lr; i++) {
        o.lr = tr.lrs[i];
        char label[48];
        snprintf(label, sizeof label, "lr %g", tr.lrs[i]);
        bar.label = label;
        if (save && (st = fileio_scratch_path(save, tmp_model, sizeof tmp_model, err)))
            break;
        if (save)
            o.save_model = tmp_model;
        st = train_run(&td, &o, &res[i], err);
        cli_train_progress_end(&bar);
        if (st)
            break;
        done++;
        struct train_result *r = &res[i];
        if (r->diverged)
            printf("lr %g: diverged: %s\n", tr.lrs[i], r->diverged_msg);
        else
            printf("lr %g: best %s %.4f at epoch %d of %d (final %.4f, majority %.4f), %.1f s\n",
                   tr.lrs[i], r->metric, r->best, r->best_epoch, r->n_epochs, r->final, r->majority,
                   r->seconds);
        fflush(stdout);
        if (best < 0 || (!r->diverged && !isnan(r->best) &&
                         (res[best].diverged || isnan(res[best].best) || r->best > res[best].best))) {
            best = i;
            if (save && !r->diverged && (st = fileio_publish(tmp_model, save, err)))
                break;
        } else if (save) {
            remove(tmp_model);
        }
    }
    /* Ctrl-C: the runs that finished are still reported (exit 130) */
    enum idim_status st_run = st;
    if ((st == IDIM_OK || st == IDIM_ERR_INTERRUPTED) && best >= 0) {
        st = IDIM_OK;
        struct train_result *r = &res[best];
        if (r->diverged)
            printf("every learning rate diverged\n");
        else
            printf("best: lr %g, %s %.4f (epoch %d)%s\n", tr.lrs[best], r->metric, r->best,
                   r->best_epoch, r->majority_only ? " - predicts a single class" : "");
        o.lr = tr.lrs[best];
        cJSON *j = train_result_json(&o, r);
        cJSON *g = j ? cJSON_AddArrayToObject(j, "grid") : NULL;
        for (int i = 0; g && i < done; i++) {
            o.lr = tr.lrs[i];
            cJSON_AddItemToArray(g, train_result_json(&o, &res[i]));
        }
        char *s = j ? cJSON_Print(j) : NULL;
        if (!s)
            st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
        else if (out)
            st = write_atomic(out, s, err);
        free(s);
        cJSON_Delete(j);
        if (st == IDIM_OK)
            st = st_run;
    }
    free(res);
    train_data_free(&td);
    return st;
}
