/* train_data.c - what every run of one command shares: the model file, the
 * task and both splits tokenized once (train_data_load), and the order in
 * which a run draws its training examples. Contract: include/train.h. */
#include "train.h"
#include "train_internal.h"

#include <stdio.h>
#include <stdlib.h>
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
    /* i counts down from n (not n - 1, which wraps when n == 0): the same
     * draws as the Fisher-Yates loop over positions n-1 .. 1 */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(shuf, i);
        size_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}

size_t train_order_scratch(size_t n, int B, const struct encoded *enc)
{
    /* the sorted copy, the batch order, the length counts */
    return n + n / (size_t)B + (size_t)enc->max_len + 2;
}

/* to[0..m) = from[0..m) sorted by row length, stable (counting sort:
 * lengths are at most enc->max_len). count: enc->max_len + 2 entries. */
static void sort_by_length(size_t *to, const size_t *from, size_t m, const struct encoded *enc,
                           size_t *count)
{
    size_t L = (size_t)enc->max_len + 1;
    memset(count, 0, (L + 1) * sizeof *count);
    for (size_t i = 0; i < m; i++)
        count[enc->off[from[i] + 1] - enc->off[from[i]] + 1]++;
    for (size_t l = 1; l <= L; l++)
        count[l] += count[l - 1];
    for (size_t i = 0; i < m; i++)
        to[count[enc->off[from[i] + 1] - enc->off[from[i]]]++] = from[i];
}

void train_order(size_t *idx, size_t n, int B, enum train_batching how,
                 const struct encoded *enc, struct rng *shuf, size_t *scratch)
{
    train_shuffle(idx, n, shuf);
    if (how != TRAIN_BATCHING_BUCKET || n == 0)
        return;
    size_t b = (size_t)B, nb = n / b, full = nb * b, chunk = TRAIN_BUCKET_CHUNK * b;
    size_t *sorted = scratch, *perm = scratch + n, *count = perm + nb;
    for (size_t c0 = 0; c0 < full; c0 += chunk)
        sort_by_length(sorted + c0, idx + c0, full - c0 < chunk ? full - c0 : chunk, enc, count);
    train_shuffle(perm, nb, shuf);
    for (size_t k = 0; k < nb; k++)
        memcpy(idx + k * b, sorted + perm[k] * b, b * sizeof *idx);
}

enum idim_status train_padding(const struct train_data *td, const struct train_opts *o,
                               int epochs, uint64_t *tokens, uint64_t *slots,
                               struct idim_err *err)
{
    const struct encoded *enc = &td->train;
    size_t n = enc->n;
    if (o->limit_train > 0 && (size_t)o->limit_train < n)
        n = (size_t)o->limit_train;
    size_t b = (size_t)(o->batch > 0 ? o->batch : 1);
    size_t *idx = malloc(n * sizeof *idx);
    size_t *scratch = malloc(train_order_scratch(n, (int)b, enc) * sizeof *scratch);
    *tokens = *slots = 0;
    if (!idx || !scratch) {
        free(idx);
        free(scratch);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory counting the padding of %zu rows",
                         n);
    }
    struct rng shuf;
    rng_init(&shuf, rng_key(o->seed, STREAM_SHUFFLE));
    for (int ep = 0; ep < epochs; ep++) {
        train_order(idx, n, (int)b, o->batching, enc, &shuf, scratch);
        for (size_t i0 = 0; i0 < n; i0 += b) {
            size_t T = 1, m = n - i0 < b ? n - i0 : b; /* batch_fill's rule */
            for (size_t i = i0; i < i0 + m; i++) {
                size_t len = enc->off[idx[i] + 1] - enc->off[idx[i]];
                *tokens += len;
                T = len > T ? len : T;
            }
            *slots += m * T;
        }
    }
    free(idx);
    free(scratch);
    return IDIM_OK;
}
