/* cli_eval.c - `idim eval`: rebuild the tuned weights from a theta file
 * (theta0 + P theta_d, or SAID's lambda-weighted form) and score the dev
 * split; the metric must equal the one `idim train --save-theta` measured. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "theta.h"
#include "train.h"

enum idim_status cli_eval(int argc, char **argv, struct idim_err *err)
{
    const char *cmd = "eval";
    const char *model = NULL, *theta = NULL;
    struct cli_task_args ta = {0};
    int threads = 0;
    struct cli_opt opts[] = {
        CLI_MODEL(&model, "the idim model file the theta was trained on"),
        CLI_STR(0, "theta", "FILE", &theta, "theta file from `idim train --save-theta`",
                CLI_REQ | CLI_FILE),
        CLI_THREADS(&threads),
        CLI_TASK_OPTS(&ta),
        CLI_END,
    };
    struct cli_cmd c = {
        "eval",
        "Rebuilds the tuned weights from a theta file written by `idim train --save-theta`\n"
        "and scores the dev split with dropout off. Prints one JSON line with the metric,\n"
        "the value the trainer recorded and \"reproduced\": true when they are equal.\n"
        "A theta file trained on another model (checksum) or task is refused; --task must\n"
        "be the one in the theta file, and a theta trained with --task custom needs the\n"
        "same custom flags again.\n",
        "  idim train --task mrpc --model bert-base.idim --d 1000 --save-theta mrpc.theta\n"
        "  idim eval --model bert-base.idim --theta mrpc.theta --task mrpc\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    /* custom: the train file fixes the class order, so it is needed too */
    if ((st = cli_task_check(&ta, cmd, NULL, CLI_SPLIT_TRAIN | CLI_SPLIT_DEV, err)))
        return st;
    struct theta_file tf;
    st = theta_load(theta, &tf, err);
    if (st)
        return st;
    if (!strcmp(tf.task, "custom") && strcmp(ta.task, "custom") != 0) {
        theta_free(&tf);
        return cli_usage(err, cmd, "%s", "the theta file was trained on a custom task: give --task custom "
                               "with the same --train/--dev/--text-cols/--label-col/--format/"
                               "--metric as `idim train`");
    }
    struct train_data td;
    /* the train split is not needed: load one row of it */
    st = cli_train_data_load(&td, model, &ta, tf.max_len, 1, (long)tf.n_dev, cmd, NULL, err);
    if (st) {
        theta_free(&tf);
        return st;
    }
    struct metrics met;
    st = train_eval_theta(&td, &tf, threads, &met, err);
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
        st = cli_print_json(j, 0, "out of memory", err);
    }
    train_data_free(&td);
    theta_free(&tf);
    return st;
}
