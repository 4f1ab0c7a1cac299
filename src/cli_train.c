/* cli_train.c - `idim train`: subspace training (DID / SAID) of theta_d
 * with every weight frozen; prints one JSON line per invocation.
 * Also holds the progress bar shared with `idim finetune`. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "train.h"
#include "fileio.h"

static const char *USAGE =
    "idim train --task T --model M --d N [--method said|did] [--scope tensor|global]\n"
    "       [--optimizer adamw|sgd] [--lr L1[,L2,...]] [--epochs E] [--batch 32] [--max-len 128]\n"
    "       [--warmup-steps W] [--clip 1.0] [--seed S] [--proj-seed P] [--threads N]\n"
    "       [--grad-compat] [--save-theta F] [--quiet]";

static void help(void)
{
    printf(
        "usage: %s\n\n"
        "Trains a d-dimensional vector theta_d with every weight of the model frozen:\n"
        "  DID:  theta = theta0 + P theta_d            (Li et al. 2018)\n"
        "  SAID: theta_t = theta0_t + lambda_t P_t theta_{d-m}  (Aghajanyan et al. 2021;\n"
        "        m = number of tensors, lambda_t trained, d counts the lambdas)\n"
        "P is the Fastfood projection (Le et al. 2013). theta_d starts at 0, so step 0 is\n"
        "the starting model. After each epoch the dev split is scored (dropout off).\n"
        "Prints ONE JSON line: d, method, scope, optimizer, lr, epoch_metric, best, final,\n"
        "majority, diverged, seconds, peak_rss_bytes, seeds, model_checksum, idim_version.\n\n"
        "options:\n"
        "  --task T           task: mrpc, sst2, cola, qnli, ..., or custom (required)\n"
        "  --model M          idim model file (required)\n"
        "  --d N              subspace dimension (required; SAID: must exceed m)\n"
        "  --data DIR         folder holding the task folder (default $IDIM_DATA, ./data)\n"
        "  --method M         said (default) or did\n"
        "  --scope S          tensor (default: one transform per tensor, as Aghajanyan et al.)\n"
        "                     or global (one transform over all parameters, as Li et al.)\n"
        "  --optimizer O      adamw (default; no weight decay on theta_d) or sgd\n"
        "  --lr L[,L2,...]    peak learning rate(s) (default 3e-3; see README for why not\n"
        "                     the published 3e-2); a list runs each and\n"
        "                     prints the best, with every run summarised under \"grid\"\n"
        "  --epochs E         epochs (default: 3 for sst2, qnli, qqp, mnli; 20 otherwise)\n"
        "  --batch N          examples per step (default 32)\n"
        "  --max-len N        tokens per example incl. special tokens (default 128, or\n"
        "                     the model's maximum when smaller)\n"
        "  --warmup-steps W   linear warm-up steps, then linear decay to 0 (default: 6%%\n"
        "                     of all steps)\n"
        "  --clip C           global gradient-norm clip, 0 = off (default 1.0)\n"
        "  --dropout P        dropout while training (default 0.1)\n"
        "  --weight-decay W   AdamW decoupled decay on theta_d (default 0)\n"
        "  --seed S           data order, dropout, created heads (default 42)\n"
        "  --proj-seed P      Fastfood tables (default 1234)\n"
        "  --threads N        threads for OpenBLAS and the projection (default: all cores)\n"
        "  --grad-compat      the authors' released backward (exact gradient / LL_t)\n"
        "  --save-theta F     write the best epoch's theta_d, lambdas, seeds and the model\n"
        "                     checksum to F (a few KB; see docs/THETA.md, `idim eval`)\n"
        "  --limit-train N    use only the first N training examples (quick runs)\n"
        "  --limit-dev N      score only the first N dev examples\n"
        "  --quiet            no progress bar (it is drawn only when stderr is a terminal)\n"
        "  --help             this text\n"
        CLI_TASK_CUSTOM_HELP "\n"
        "example:\n"
        "  idim train --task mrpc --model bert-base.idim --d 1000 --method said --lr 3e-3,1e-2\n"
        "  idim train --task custom --train t.csv --dev d.csv --text-cols 0 --label-col 1 \\\n"
        "      --model bert-base.idim --d 500 --method did\n",
        USAGE);
}

/* The progress bar: one line on stderr, redrawn at most 10 times a second. */
struct cli_bar {
    int on;
    const char *label;
    double last;
};

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

void cli_train_progress(const struct train_progress *p, void *user);
void cli_train_progress_end(void *user);

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

enum idim_status cli_train(int argc, char **argv, struct idim_err *err)
{
    const char *cmd = "train";
    enum {
        O_MODEL = 256, O_D, O_METHOD, O_SCOPE, O_OPT, O_WARM, O_PSEED, O_COMPAT, O_SAVE, O_HELP
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"d", required_argument, 0, O_D},
        {"method", required_argument, 0, O_METHOD},
        {"scope", required_argument, 0, O_SCOPE},
        {"optimizer", required_argument, 0, O_OPT},
        {"warmup-steps", required_argument, 0, O_WARM},
        {"proj-seed", required_argument, 0, O_PSEED},
        {"grad-compat", no_argument, 0, O_COMPAT},
        {"save-theta", required_argument, 0, O_SAVE},
        {"help", no_argument, 0, O_HELP},
        CLI_TASK_LONG_OPTIONS,
        CLI_TRAIN_LONG_OPTIONS,
        {0, 0, 0, 0},
    };
    struct train_opts o;
    train_opts_default(&o, TRAIN_SAID);
    struct cli_task_args ta = {0};
    const char *model = NULL;
    struct cli_train_args tr;
    cli_train_args_init(&tr, &o);
    long v;
    unsigned long long u;
    int have_d = 0;
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
        case O_D:
            if ((st = cli_parse_u64("--d", optarg, &u, err)))
                return st;
            if (u < 1 || u > (1ull << 32))
                return cli_usage_error(err, cmd, USAGE, "--d takes a whole number from 1 to 2^32");
            o.d = (size_t)u;
            have_d = 1;
            break;
        case O_METHOD:
            if (!strcmp(optarg, "said")) o.mode = TRAIN_SAID;
            else if (!strcmp(optarg, "did")) o.mode = TRAIN_DID;
            else return cli_usage_error(err, cmd, USAGE, "--method takes said or did");
            break;
        case O_SCOPE:
            if (!strcmp(optarg, "tensor")) o.scope = FF_SCOPE_TENSOR;
            else if (!strcmp(optarg, "global")) o.scope = FF_SCOPE_GLOBAL;
            else return cli_usage_error(err, cmd, USAGE, "--scope takes tensor or global");
            break;
        case O_OPT:
            if (!strcmp(optarg, "adamw")) o.optimizer = TRAIN_ADAMW;
            else if (!strcmp(optarg, "sgd")) o.optimizer = TRAIN_SGD;
            else return cli_usage_error(err, cmd, USAGE, "--optimizer takes adamw or sgd");
            break;
        case O_WARM:
            if ((st = cli_parse_long("--warmup-steps", optarg, 0, 1L << 40, &v, err)))
                return st;
            o.warmup_steps = v;
            break;
        case O_PSEED:
            if ((st = cli_parse_u64("--proj-seed", optarg, &u, err)))
                return st;
            o.proj_seed = u;
            break;
        case O_COMPAT: o.grad_compat = 1; break;
        case O_SAVE: o.save_theta = optarg; break;
        case O_HELP: help(); return IDIM_OK;
        default: return cli_bad_option(err, cmd, USAGE, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, cmd, USAGE, "unexpected argument");
    if (!ta.task || !model || !have_d)
        return cli_usage_error(err, cmd, USAGE,
                               !ta.task ? "--task is required"
                                     : !model ? "--model is required" : "--d is required");

    struct train_data td;
    st = cli_train_data_load(&td, model, &ta, (int)tr.max_len, o.limit_train, o.limit_dev, cmd,
                             USAGE, err);
    if (st)
        return st;
    if (o.mode == TRAIN_SAID) {
        size_t m = arch_tensors(&td.cfg, ARCH_TABLE_MODEL, td.spec.n_labels, NULL, 0);
        if (o.d <= m) {
            train_data_free(&td);
            char what[256];
            snprintf(what, sizeof what,
                     "--d %zu is too small for SAID: d counts the %zu per-tensor lambdas of this "
                     "model, so it must exceed %zu (or use --method did)",
                     o.d, m, m);
            return cli_usage_error(err, cmd, USAGE, what);
        }
    }
    struct cli_bar bar = {!tr.quiet && cli_stderr_is_tty(), NULL, 0};
    o.progress = cli_train_progress;
    o.progress_user = &bar;

    struct train_result *res = calloc((size_t)tr.n_lr, sizeof *res);
    char tmp_theta[1100];
    if (!res) {
        train_data_free(&td);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
    }
    int best = -1;
    const char *save = o.save_theta;
    for (int i = 0; i < tr.n_lr; i++) {
        o.lr = tr.lrs[i];
        char label[48];
        snprintf(label, sizeof label, "lr %g", tr.lrs[i]);
        bar.label = label;
        /* each run writes a scratch file; only a run better than the best so
         * far replaces --save-theta (fileio_publish: a device or FIFO gets
         * exactly one theta file) */
        if (save && (st = fileio_scratch_path(save, tmp_theta, sizeof tmp_theta, err)))
            break;
        if (save)
            o.save_theta = tmp_theta;
        st = train_run(&td, &o, &res[i], err);
        cli_train_progress_end(&bar);
        if (st) {
            if (save)
                remove(tmp_theta);
            break;
        }
        int better = !res[i].diverged && !isnan(res[i].best) &&
                     (best < 0 || res[i].best > res[best].best || res[best].diverged);
        if (best < 0 || better) {
            if (save && res[i].best_epoch > 0 && (st = fileio_publish(tmp_theta, save, err)))
                break;
            best = i;
        } else if (save) {
            remove(tmp_theta);
        }
    }
    /* Ctrl-C: the runs that finished are still reported (exit 130) */
    enum idim_status st_run = st;
    if ((st == IDIM_OK || st == IDIM_ERR_INTERRUPTED) && best >= 0) {
        st = IDIM_OK;
        o.lr = tr.lrs[best];
        cJSON *j = train_result_json(&o, &res[best]);
        if (j && tr.n_lr > 1) {
            cJSON *g = cJSON_AddArrayToObject(j, "grid");
            for (int i = 0; g && i < tr.n_lr; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "lr", tr.lrs[i]);
                if (isfinite(res[i].best))
                    cJSON_AddNumberToObject(e, "best", res[i].best);
                else
                    cJSON_AddNullToObject(e, "best");
                cJSON_AddBoolToObject(e, "diverged", res[i].diverged != 0);
                cJSON_AddNumberToObject(e, "seconds", res[i].seconds);
                cJSON_AddItemToArray(g, e);
            }
        }
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        if (!s)
            st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
        else
            printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        if (st == IDIM_OK)
            st = st_run;
    }
    free(res);
    train_data_free(&td);
    return st;
}
