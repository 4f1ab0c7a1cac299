/* train_data.c - what every run of one command shares: the model file, the
 * task and both splits tokenized once (train_data_load), and the order in
 * which a run draws its training examples. Contract: include/train.h. */
#include "train.h"
#include "train_internal.h"

#include <stdio.h>
#include <string.h>

void train_data_free(struct train_data *td)
{
    if (!td)
        return;
    encoded_free(&td->train);
    encoded_free(&td->dev);
    if (td->have_file)
        wfile_free(&td->w);
    memset(td, 0, sizeof *td);
}

static enum idim_status encode_split(struct encoded *enc, const struct task_spec *spec,
                                     const char *split, struct tokenizer *tk, int max_len,
                                     long limit, struct idim_err *err)
{
    struct dataset ds;
    memset(&ds, 0, sizeof ds);
    enum idim_status st = task_load(&ds, spec, split, err);
    if (st)
        return st;
    struct dataset lim = ds;
    if (limit > 0 && (size_t)limit < lim.n)
        lim.n = (size_t)limit;
    st = encoded_build(enc, &lim, tk, max_len, err);
    dataset_free(&ds);
    return st;
}

/* Both loaders: opens the model first (its errors come first), then takes
 * spec or, when spec is NULL, resolves task / data_dir. */
static enum idim_status data_load(struct train_data *td, const char *model_path,
                                  const struct task_spec *spec, const char *task,
                                  const char *data_dir, int max_len, long limit_train,
                                  long limit_dev, struct idim_err *err)
{
    memset(td, 0, sizeof *td);
    struct tokenizer *tk = NULL;
    enum idim_status st;
    snprintf(td->model_path, sizeof td->model_path, "%s", model_path);
    st = wfile_open(&td->w, td->model_path, err);
    if (st)
        goto fail;
    td->have_file = 1;
    td->cfg = td->w.cfg;
    memcpy(td->checksum_hex, td->w.checksum_hex, sizeof td->checksum_hex);
    int cap = td->cfg.family == ARCH_ROBERTA ? td->cfg.max_pos - td->cfg.pad_id - 1
                                             : td->cfg.max_pos;
    if (max_len <= 0) /* the default: 128 tokens, or all the model has when fewer */
        max_len = cap < 128 ? cap : 128;
    td->max_len = max_len;
    if (max_len < 3 || max_len > cap) {
        st = idim_fail(err, IDIM_ERR_USAGE, "--max-len %d is out of range for %s: 3 to %d",
                       max_len, model_path, cap);
        goto fail;
    }
    if (spec)
        td->spec = *spec;
    else if ((st = task_resolve(&td->spec, task, data_dir, err)))
        goto fail;
    st = tokenizer_new(&tk, &td->w.tok, err);
    if (st)
        goto fail;
    st = encode_split(&td->train, &td->spec, "train", tk, max_len, limit_train, err);
    if (st)
        goto fail;
    st = encode_split(&td->dev, &td->spec, "dev", tk, max_len, limit_dev, err);
    if (st)
        goto fail;
    tokenizer_free(tk);
    return IDIM_OK;
fail:
    tokenizer_free(tk);
    train_data_free(td);
    return st;
}

enum idim_status train_data_load(struct train_data *td, const char *model_path,
                                 const char *task, const char *data_dir, int max_len,
                                 long limit_train, long limit_dev, struct idim_err *err)
{
    return data_load(td, model_path, NULL, task, data_dir, max_len, limit_train, limit_dev, err);
}

enum idim_status train_data_load_spec(struct train_data *td, const char *model_path,
                                      const struct task_spec *spec, int max_len,
                                      long limit_train, long limit_dev, struct idim_err *err)
{
    return data_load(td, model_path, spec, NULL, NULL, max_len, limit_train, limit_dev, err);
}

void train_shuffle(size_t *idx, size_t n, struct rng *shuf)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rng_below(shuf, i + 1);
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
