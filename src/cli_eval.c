/* cli_eval.c - `idim eval`: rebuild the tuned weights from a theta file
 * (theta0 + P theta_d, or SAID's lambda-weighted form) and score the dev
 * split; the metric must equal the one `idim train --save-theta` measured. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "theta.h"
#include "train.h"

static const char *USAGE =
    "idim eval --model M --theta F --task T [--data DIR] [--threads N]";

static void help(void)
{
    printf("usage: %s\n\n"
           "Rebuilds the tuned weights from a theta file written by `idim train --save-theta`\n"
           "and scores the dev split with dropout off. Prints one JSON line with the metric,\n"
           "the value the trainer recorded and \"reproduced\": true when they are equal.\n"
           "A theta file trained on another model (checksum) or task is refused.\n\n"
           "options:\n"
           "  --model M      the idim model file the theta was trained on (required)\n"
           "  --theta F      theta file (required)\n"
           "  --task T       task (required; must be the one in the theta file); a theta\n"
           "                 trained with --task custom needs the same custom flags again\n"
           "  --data DIR     folder holding the task folder (default $IDIM_DATA, ./data)\n"
           "  --threads N    threads (default: all cores)\n"
           "  --help         this text\n"
           CLI_TASK_CUSTOM_HELP "\n"
           "example:\n"
           "  idim train --task mrpc --model bert-base.idim --d 1000 --save-theta mrpc.theta\n"
           "  idim eval --model bert-base.idim --theta mrpc.theta --task mrpc\n",
           USAGE);
}

enum idim_status cli_eval(int argc, char **argv, struct idim_err *err)
{
    const char *cmd = "eval";
    enum { O_MODEL = 256, O_THETA, O_THREADS, O_HELP };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"theta", required_argument, 0, O_THETA},
        {"threads", required_argument, 0, O_THREADS},
        {"help", no_argument, 0, O_HELP},
        CLI_TASK_LONG_OPTIONS,
        {0, 0, 0, 0},
    };
    const char *model = NULL, *theta = NULL;
    struct cli_task_args ta = {0};
    long threads = 0;
    enum idim_status st;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_task_parse(&ta, c, optarg))
            continue;
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_THETA: theta = optarg; break;
        case O_THREADS:
            if ((st = cli_parse_long("--threads", optarg, 1, 1024, &threads, err)))
                return st;
            break;
        case O_HELP: help(); return IDIM_OK;
        default: return cli_bad_option(err, cmd, USAGE, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, cmd, USAGE, "unexpected argument");
    if (!model || !theta || !ta.task)
        return cli_usage_error(err, cmd, USAGE,
                               !model ? "--model is required"
                                      : !theta ? "--theta is required" : "--task is required");
    /* custom: the train file fixes the class order, so it is needed too */
    if ((st = cli_task_check(&ta, cmd, USAGE, CLI_SPLIT_TRAIN | CLI_SPLIT_DEV, err)))
        return st;
    struct theta_file tf;
    st = theta_load(theta, &tf, err);
    if (st)
        return st;
    if (!strcmp(tf.task, "custom") && strcmp(ta.task, "custom") != 0) {
        theta_free(&tf);
        return cli_usage_error(err, cmd, USAGE,
                               "the theta file was trained on a custom task: give --task custom "
                               "with the same --train/--dev/--text-cols/--label-col/--format/"
                               "--metric as `idim train`");
    }
    struct train_data td;
    /* the train split is not needed: load one row of it */
    st = cli_train_data_load(&td, model, &ta, tf.max_len, 1, (long)tf.n_dev, cmd, USAGE, err);
    if (st) {
        theta_free(&tf);
        return st;
    }
    struct metrics met;
    st = train_eval_theta(&td, &tf, (int)threads, &met, err);
    if (st == IDIM_OK) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "task", td.spec.name);
        cJSON_AddStringToObject(j, "metric", metric_name(td.spec.metric));
        if (isfinite(met.primary))
            cJSON_AddNumberToObject(j, "value", met.primary);
        else
            cJSON_AddNullToObject(j, "value");
        if (isfinite(tf.metric))
            cJSON_AddNumberToObject(j, "trained_value", tf.metric);
        else
            cJSON_AddNullToObject(j, "trained_value");
        cJSON_AddBoolToObject(j, "reproduced", met.primary == tf.metric);
        cJSON_AddStringToObject(j, "method", train_mode_name(tf.mode));
        cJSON_AddNumberToObject(j, "d", (double)tf.d);
        cJSON_AddStringToObject(j, "scope", tf.scope == FF_SCOPE_GLOBAL ? "global" : "tensor");
        cJSON_AddNumberToObject(j, "n_dev", (double)(tf.n_dev ? tf.n_dev : td.dev.n));
        cJSON_AddStringToObject(j, "model_checksum", tf.model_checksum);
        char *s = cJSON_PrintUnformatted(j);
        if (s)
            printf("%s\n", s);
        else
            st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory");
        free(s);
        cJSON_Delete(j);
    }
    train_data_free(&td);
    theta_free(&tf);
    return st;
}
