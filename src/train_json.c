/* train_json.c - the JSON object every command prints for a run (train,
 * finetune, measure). Contract: include/train.h (train_result_json). */
#include "train.h"

#include <math.h>
#include <stdio.h>

#ifndef IDIM_VERSION
#define IDIM_VERSION "0.0.0"
#endif

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    /* seeds above 2^53 do not survive a JSON double: print them as strings */
    if (v <= (1ull << 53))
        cJSON_AddNumberToObject(o, k, (double)v);
    else {
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        cJSON_AddStringToObject(o, k, buf);
    }
}

cJSON *train_result_json(const struct train_opts *o, const struct train_result *r)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    int sub = o->mode != TRAIN_FULL;
    cJSON_AddStringToObject(j, "idim_version", IDIM_VERSION);
    cJSON_AddStringToObject(j, "task", r->task);
    cJSON_AddStringToObject(j, "metric", r->metric);
    cJSON_AddStringToObject(j, "method", train_mode_name(o->mode));
    if (sub) {
        add_num(j, "d", (double)r->d);
        add_num(j, "d_proj", (double)r->d_proj);
        cJSON_AddStringToObject(j, "scope", o->scope == FF_SCOPE_GLOBAL ? "global" : "tensor");
        cJSON_AddBoolToObject(j, "grad_compat", o->grad_compat != 0);
        cJSON_AddStringToObject(j, "projection", proj_kind_name(o->projection));
        cJSON_AddStringToObject(j, "lr_rule", train_lr_rule_name(o->lr_rule));
    }
    add_num(j, "n_tensors", (double)r->n_tensors);
    add_num(j, "n_params", (double)r->n_params);
    cJSON_AddStringToObject(j, "optimizer", train_optim_name(o->optimizer));
    add_num(j, "lr", r->lr);
    if (sub)
        add_num(j, "lr_effective", r->lr_effective);
    add_num(j, "epochs", (double)(r->n_epochs));
    add_num(j, "batch", o->batch);
    cJSON_AddStringToObject(j, "batching", train_batching_name(o->batching));
    add_num(j, "warmup", o->warmup_steps >= 0 ? (double)o->warmup_steps : o->warmup);
    cJSON_AddStringToObject(j, "warmup_unit", o->warmup_steps >= 0 ? "steps" : "fraction");
    add_num(j, "weight_decay", o->weight_decay);
    add_num(j, "clip", o->clip);
    add_num(j, "dropout", o->dropout);
    add_u64(j, "seed", r->seed);
    if (sub)
        add_u64(j, "proj_seed", r->proj_seed);
    add_num(j, "threads", r->threads);
    add_num(j, "n_train", (double)r->n_train);
    add_num(j, "n_dev", (double)r->n_dev);
    cJSON *em = cJSON_AddArrayToObject(j, "epoch_metric");
    cJSON *el = cJSON_AddArrayToObject(j, "epoch_loss");
    for (int e = 0; e < r->n_epochs && em && el; e++) {
        cJSON_AddItemToArray(em, isfinite(r->epoch_metric[e])
                                     ? cJSON_CreateNumber(r->epoch_metric[e])
                                     : cJSON_CreateNull());
        cJSON_AddItemToArray(el, isfinite(r->epoch_loss[e]) ? cJSON_CreateNumber(r->epoch_loss[e])
                                                            : cJSON_CreateNull());
    }
    add_num(j, "best", r->best);
    add_num(j, "best_epoch", r->best_epoch);
    add_num(j, "final", r->final);
    add_num(j, "majority", r->majority);
    cJSON_AddBoolToObject(j, "majority_only", r->majority_only != 0);
    cJSON_AddBoolToObject(j, "diverged", r->diverged != 0);
    if (r->diverged)
        cJSON_AddStringToObject(j, "diverged_msg", r->diverged_msg);
    add_num(j, "steps", (double)r->steps);
    add_num(j, "total_steps", (double)r->total_steps);
    cJSON_AddStringToObject(j, "outcome", train_outcome_name(r->outcome));
    add_num(j, "best_step", (double)r->best_step);
    add_num(j, "met_step", (double)r->met_step);
    add_num(j, "hopeless_step", (double)r->hopeless_step);
    add_num(j, "eval_every", (double)o->eval_every);
    cJSON *ev = cJSON_AddArrayToObject(j, "evals");
    for (int e = 0; e < r->n_evals && e < TRAIN_MAX_EVALS && ev; e++) {
        cJSON *pt = cJSON_CreateArray();
        if (!pt)
            break;
        cJSON_AddItemToArray(pt, cJSON_CreateNumber((double)r->eval_step[e]));
        cJSON_AddItemToArray(pt, isfinite(r->eval_metric[e]) ? cJSON_CreateNumber(r->eval_metric[e])
                                                             : cJSON_CreateNull());
        cJSON_AddItemToArray(ev, pt);
    }
    cJSON_AddStringToObject(j, "model_checksum", r->model_checksum);
    add_num(j, "seconds", r->seconds);
    add_num(j, "ex_per_s", r->ex_per_s);
    add_num(j, "eval_seconds", r->eval_seconds);
    add_num(j, "peak_rss_bytes", (double)r->peak_rss_bytes);
    return j;
}
