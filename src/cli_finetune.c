/* cli_finetune.c - `idim finetune`: full fine-tuning, the baseline d90 is
 * measured against. Runs each learning rate of --lr, reports the best (the
 * ranking rule every command shares, cli_train_grid): a summary on stdout and
 * the JSON (every run under "grid") to --out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
#include "train.h"

static void report_run(int i, const struct train_result *r, void *user)
{
    (void)i, (void)user;
    if (r->diverged)
        printf("lr %g: diverged: %s\n", r->lr, r->diverged_msg);
    else
        printf("lr %g: best %s %.4f at epoch %d of %d (final %.4f, majority %.4f), %.1f s\n",
               r->lr, r->metric, r->best, r->best_epoch, r->n_epochs, r->final, r->majority,
               r->seconds);
    fflush(stdout);
}

/* The summary line and the JSON of the best run with every run under "grid". */
static enum idim_status finish(struct train_opts *o, const struct cli_train_args *tr,
                               const struct cli_grid *g, const char *out, struct idim_err *err)
{
    const struct train_result *r = &g->res[g->best];
    if (r->diverged)
        printf("every learning rate diverged\n");
    else
        printf("best: lr %g, %s %.4f (epoch %d)%s\n", tr->lrs.v[g->best], r->metric, r->best,
               r->best_epoch, r->majority_only ? " - predicts a single class" : "");
    o->lr = tr->lrs.v[g->best];
    cJSON *j = train_result_json(o, r);
    cJSON *grid = j ? cJSON_AddArrayToObject(j, "grid") : NULL;
    for (int i = 0; grid && i < g->n_done; i++) {
        o->lr = tr->lrs.v[i];
        cJSON_AddItemToArray(grid, train_result_json(o, &g->res[i]));
    }
    char *s = j ? cJSON_Print(j) : NULL;
    enum idim_status st = IDIM_OK;
    if (!s)
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    else if (out) {
        size_t n = strlen(s);
        s[n] = '\n'; /* cJSON_Print leaves room for its NUL: publish text + newline */
        st = fileio_write_atomic(out, s, n + 1, err);
    }
    free(s);
    cJSON_Delete(j);
    return st;
}

enum idim_status cli_finetune(int argc, char **argv, struct idim_err *err)
{
    const char *cmd = "finetune";
    struct train_opts o;
    train_opts_default(&o, TRAIN_FULL);
    struct cli_task_args ta = {0};
    const char *model = NULL, *out = NULL, *save = NULL;
    struct cli_train_args tr;
    cli_train_args_init(&tr, &o);
    struct cli_opt opts[] = {
        CLI_MODEL(&model, "idim model file"),
        CLI_DOUBLE(0, "warmup", "F", &o.warmup, 0, 1, "warm-up as a fraction of all steps"),
        CLI_OUT(&out, "write the JSON result to FILE (atomically)", 0),
        CLI_STR(0, "save-model", "FILE", &save,
                "write the final weights of the best learning rate as a model file\n"
                "without a head (a starting model for `idim train` on another task)",
                CLI_FILE),
        CLI_TRAIN_OPTS(&o, &tr),
        CLI_TASK_OPTS(&ta),
        CLI_END,
    };
    struct cli_cmd c = {
        "finetune",
        "Full fine-tuning of every weight: AdamW (bias-corrected, decoupled weight decay,\n"
        "none on biases and LayerNorm weights), linear warm-up then linear decay to 0,\n"
        "global gradient-norm clipping, dropout. The dev split is scored after each\n"
        "epoch and the best epoch is reported. With a list of learning rates each one is\n"
        "run and the best is reported: this is the baseline d90 is measured against.\n"
        "A loss that becomes NaN or Inf ends that run (\"diverged\": true); the others go on.\n",
        "  idim finetune --task mrpc --model bert-base.idim --lr 2e-5,3e-5,5e-5 -o mrpc.json\n"
        "  idim finetune --task custom --train t.tsv --dev d.tsv --text-cols question,answer \\\n"
        "      --label-col label --model bert-base.idim -o custom.json\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    struct train_data td;
    st = cli_train_data_load(&td, model, &ta, (int)tr.max_len, o.limit_train, o.limit_dev, cmd,
                             NULL, err);
    if (st)
        return st;
    struct cli_grid g;
    st = cli_train_grid(&td, &o, &tr, &o.save_model, save, &g, report_run, NULL, err);
    /* Ctrl-C: the runs that finished are still reported (exit 130) */
    if ((st == IDIM_OK || st == IDIM_ERR_INTERRUPTED) && g.best >= 0) {
        enum idim_status st_out = finish(&o, &tr, &g, out, err);
        if (st_out)
            st = st_out;
    }
    free(g.res);
    train_data_free(&td);
    return st;
}
