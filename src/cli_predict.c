/* cli_predict.c - `idim predict`: logits and predictions of a model on a
 * split, one JSON line per example, then one line with the metric.
 *
 * Dropout is off. Examples run in file order in batches of --batch; the
 * head is created from --seed when the model file has none (so an
 * untrained head gives seed-dependent, reproducible logits). This is the
 * hook for checking other implementations against idim: the logits are
 * printed with %.9g, which round-trips float32 exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"
#include "task.h"
#include "tokenizer.h"
#include "wfile.h"

/* %.9g, or null for NaN/Inf (not valid JSON numbers). */
static void put_num(double v)
{
    if (isfinite(v))
        printf("%.9g", v);
    else
        printf("null");
}

static void put_metric(const char *name, double v, int *first)
{
    if (isnan(v))
        return;
    printf("%s\"%s\":", *first ? "" : ",", name);
    put_num(v);
    *first = 0;
}

/* One example's JSON line: the score (regression) or the logits and the
 * arg-max; records what task_score() needs in pred[i] and score[i]. */
static void put_example(size_t i, const float *z, int NL, const struct encoded *enc,
                        int32_t *pred, float *score)
{
    printf("{\"index\":%zu,", i);
    if (NL == 1) {
        score[i] = z[0];
        pred[i] = 0;
        printf("\"score\":");
        put_num(z[0]);
        printf(",\"label\":");
        put_num(enc->targets ? enc->targets[i] : NAN);
    } else {
        int k = 0;
        printf("\"logits\":[");
        for (int j = 0; j < NL; j++) {
            if (z[j] > z[k])
                k = j;
            if (j)
                putchar(',');
            put_num(z[j]);
        }
        pred[i] = k;
        score[i] = 0.0f;
        printf("],\"pred\":%d,\"label\":%d", k, (int)enc->labels[i]);
    }
    printf("}\n");
}

/* The closing JSON line: the task's metric and the others it defines. */
static void put_summary(const struct task_spec *spec, const char *split,
                        const struct encoded *enc, const int32_t *pred, const float *score,
                        const char *checksum)
{
    struct metrics mt;
    task_score(spec, enc->labels, enc->targets, pred, score, enc->n, &mt);
    printf("{\"task\":\"%s\",\"split\":\"%s\",\"n\":%zu,\"model_checksum\":\"%s\",\"metric\":\"%s\","
           "\"score\":",
           spec->name, split, enc->n, checksum, metric_name(spec->metric));
    put_num(mt.primary);
    int first = 0;
    put_metric("accuracy", mt.accuracy, &first);
    put_metric("f1", mt.f1, &first);
    put_metric("mcc", mt.mcc, &first);
    put_metric("pearson", mt.pearson, &first);
    put_metric("spearman", mt.spearman, &first);
    printf(",\"majority_only\":%s}\n", mt.majority_only ? "true" : "false");
}

enum idim_status cli_predict(int argc, char **argv, struct idim_err *err)
{
    const char *model_path = NULL, *split = "dev";
    struct cli_task_args ta = {0};
    long limit = 0, limit_train = 0, limit_dev = 0, max_len = 128, batch = 32;
    int threads = 0;
    unsigned long long seed = 0;
    struct cli_opt opts[] = {
        CLI_MODEL(&model_path, "idim model file (from idim convert / init / finetune)"),
        CLI_CHOICE(0, "split", "S", &split, "train,dev,dev-mm", "dev or train (mnli also dev-mm)"),
        CLI_LONG(0, "limit-dev", "N", &limit_dev, 1, 1L << 40,
                 "only the first N dev examples (default: all)"),
        CLI_LONG(0, "limit-train", "N", &limit_train, 1, 1L << 40,
                 "only the first N train examples (default: all)"),
        CLI_OLD_LONG("limit", &limit, 0, 1L << 40),
        CLI_LONG(0, "max-len", "N", &max_len, 4, 4096, "tokens per example incl. special tokens"),
        CLI_LONG(0, "batch", "N", &batch, 1, 4096, "examples per forward pass"),
        CLI_THREADS(&threads),
        CLI_U64(0, "seed", "S", &seed, "seed of a head created for a file without one"),
        CLI_TASK_OPTS(&ta),
        CLI_END,
    };
    struct cli_cmd c = {
        "predict",
        "Runs the model (dropout off) on a split of a task and prints one JSON line per\n"
        "example, then one JSON line with the task's metric:\n"
        "  {\"index\":0,\"logits\":[-1.25,0.5],\"pred\":1,\"label\":1}   classification\n"
        "  {\"index\":0,\"score\":3.1,\"label\":2.8}                     regression (stsb)\n"
        "  {\"task\":\"sst2\",\"split\":\"dev\",\"n\":872,\"metric\":\"accuracy\",\"score\":0.91,...}\n"
        "Logits are printed with %.9g (exact for float32). A classification head the model\n"
        "file lacks is created from --seed (normal(0, 0.02) weights, zero biases). Padding\n"
        "uses the model's pad id, as in training.\n",
        "  idim predict --model sst2-tuned.idim --task sst2 --data ../shared/data/glue --limit-dev 5\n"
        "  idim predict --model m.idim --task custom --dev d.tsv --text-cols q,a --label-col y\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    if (!limit)
        limit = strcmp(split, "train") ? limit_dev : limit_train;
    threads = cli_threads_default(threads);

    struct wfile w;
    struct task_spec spec;
    struct dataset ds;
    struct encoded enc;
    struct tokenizer *tk = NULL;
    struct model m;
    struct batch b;
    int32_t *pred = NULL;
    float *score = NULL;
    size_t *idx = NULL;
    memset(&w, 0, sizeof w), memset(&ds, 0, sizeof ds), memset(&enc, 0, sizeof enc);
    memset(&m, 0, sizeof m), memset(&b, 0, sizeof b);

    if ((st = cli_task_resolve(&spec, &ta, "predict", NULL,
                               strcmp(split, "train") ? CLI_SPLIT_DEV : CLI_SPLIT_TRAIN, err)))
        return st;
    if ((st = wfile_open(&w, model_path, err)))
        return st;
    if ((st = task_load(&ds, &spec, split, err)))
        goto done;
    if (limit > 0 && (size_t)limit < ds.n)
        ds.n = (size_t)limit;
    if ((st = tokenizer_new(&tk, &w.tok, err)))
        goto done;
    if ((st = encoded_build(&enc, &ds, tk, (int)max_len, err)))
        goto done;
    int T = enc.max_len > 0 ? enc.max_len : 1;
    int B = (size_t)batch < enc.n ? (int)batch : (enc.n ? (int)enc.n : 1);
    if ((st = model_init(&m, &w.cfg, spec.n_labels, B, T, err))) {
        if (st == IDIM_ERR_USAGE)
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "predict: --max-len %ld: %s: the model has %d position embeddings",
                           max_len, model_path, w.cfg.max_pos);
        goto done;
    }
    if ((st = model_load(&m, &w, seed, err)))
        goto done;
    m.dropout = 0.0f;
    m.stop = &idim_interrupted; /* a batch stops at the forward pass's next check */
    model_set_threads((int)threads);
    if ((st = batch_alloc(&b, B, T, err)))
        goto done;
    pred = malloc((enc.n ? enc.n : 1) * sizeof *pred);
    score = malloc((enc.n ? enc.n : 1) * sizeof *score);
    idx = malloc((size_t)B * sizeof *idx);
    if (!pred || !score || !idx) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "predict: out of memory");
        goto done;
    }
    int NL = m.n_labels, tty = cli_stderr_is_tty();
    for (size_t start = 0; start < enc.n; start += (size_t)B) {
        if (idim_interrupted) {
            st = idim_fail(err, IDIM_ERR_INTERRUPTED, "predict: interrupted after %zu examples",
                           start);
            goto done;
        }
        int n = (int)(enc.n - start < (size_t)B ? enc.n - start : (size_t)B);
        for (int r = 0; r < n; r++)
            idx[r] = start + (size_t)r;
        batch_fill(&b, &enc, idx, n, w.cfg.pad_id); /* the pad rule of training */
        model_forward(&m, &b, 0);
        if (idim_interrupted) { /* the batch's logits are not all computed: nothing printed */
            st = idim_fail(err, IDIM_ERR_INTERRUPTED, "predict: interrupted after %zu examples",
                           start);
            goto done;
        }
        for (int r = 0; r < n; r++)
            put_example(start + (size_t)r, m.logits + (size_t)r * NL, NL, &enc, pred, score);
        if (tty)
            fprintf(stderr, "\rpredict: %zu/%zu", start + (size_t)n, enc.n);
    }
    if (tty)
        fprintf(stderr, "\n");
    put_summary(&spec, split, &enc, pred, score, w.checksum_hex);
    st = IDIM_OK;
done:
    free(pred), free(score), free(idx);
    batch_free(&b);
    model_free(&m);
    tokenizer_free(tk);
    encoded_free(&enc);
    dataset_free(&ds);
    wfile_free(&w);
    return st;
}
