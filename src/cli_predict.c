/* cli_predict.c - `idim predict`: logits and predictions of a model on a
 * split, one JSON line per example, then one line with the metric.
 *
 * Dropout is off. Examples run in file order in batches of --batch; the
 * head is created from --seed when the model file has none (so an
 * untrained head gives seed-dependent, reproducible logits). This is the
 * hook for checking other implementations against idim: the logits are
 * printed with %.9g, which round-trips float32 exactly. */
#include <getopt.h>
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

static const char *usage =
    "idim predict --model M --task T [--data DIR] [--split dev] [--limit N] [--max-len 128] "
    "[--batch 32] [--threads N] [--seed S]";

static void print_help(void)
{
    printf("usage: %s\n\n"
           "Runs the model (dropout off) on a split of a task and prints one JSON line per\n"
           "example, then one JSON line with the task's metric:\n"
           "  {\"index\":0,\"logits\":[-1.25,0.5],\"pred\":1,\"label\":1}   classification\n"
           "  {\"index\":0,\"score\":3.1,\"label\":2.8}                     regression (stsb)\n"
           "  {\"task\":\"sst2\",\"split\":\"dev\",\"n\":872,\"metric\":\"accuracy\",\"score\":0.91,...}\n"
           "Logits are printed with %%.9g (exact for float32). A classification head the model\n"
           "file lacks is created from --seed (normal(0, 0.02) weights, zero biases).\n\n"
           "options:\n"
           "  --model M      idim model file (from idim convert / init / finetune)  (required)\n"
           "  --task T       task name (sst2, mrpc, cola, qnli, ..., custom)         (required)\n"
           "  --data DIR     folder holding the task folder (default: $IDIM_DATA, then ./data)\n"
           "  --split S      dev or train (default dev)\n"
           "  --limit N      only the first N examples (default 0 = all)\n"
           "  --max-len N    tokens per example incl. special tokens (default 128)\n"
           "  --batch N      examples per forward pass (default 32)\n"
           "  --threads N    threads for OpenBLAS (default: all cores)\n"
           "  --seed S       seed of a head created for a file without one (default 0)\n"
           "  -h, --help     this help\n"
           CLI_TASK_CUSTOM_HELP "\n"
           "example:\n"
           "  idim predict --model sst2-tuned.bin --task sst2 --data ../shared/data/glue --limit 5\n"
           "  idim predict --model m.bin --task custom --dev d.tsv --text-cols q,a --label-col y\n",
           usage);
}

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

enum idim_status cli_predict(int argc, char **argv, struct idim_err *err)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"split", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'n'},  {"max-len", required_argument, NULL, 'L'},
        {"batch", required_argument, NULL, 'b'},  {"threads", required_argument, NULL, 'j'},
        {"seed", required_argument, NULL, 's'},   {"help", no_argument, NULL, 'h'},
        CLI_TASK_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *split = "dev";
    struct cli_task_args ta = {0};
    long limit = 0, max_len = 128, batch = 32, threads = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long long seed = 0;
    enum idim_status st;
    int ch;
    if (threads < 1)
        threads = 1;
    optind = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (cli_task_parse(&ta, ch, optarg))
            continue;
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'S': split = optarg; break;
        case 'n':
            if ((st = cli_parse_long("--limit", optarg, 0, 1L << 40, &limit, err)))
                return st;
            break;
        case 'L':
            if ((st = cli_parse_long("--max-len", optarg, 4, 4096, &max_len, err)))
                return st;
            break;
        case 'b':
            if ((st = cli_parse_long("--batch", optarg, 1, 4096, &batch, err)))
                return st;
            break;
        case 'j':
            if ((st = cli_parse_long("--threads", optarg, 1, 1024, &threads, err)))
                return st;
            break;
        case 's':
            if ((st = cli_parse_u64("--seed", optarg, &seed, err)))
                return st;
            break;
        case 'h': print_help(); return IDIM_OK;
        default: return cli_bad_option(err, "predict", usage, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, "predict", usage, "unexpected argument");
    if (!model_path)
        return cli_usage_error(err, "predict", usage, "--model is required");
    if (!ta.task)
        return cli_usage_error(err, "predict", usage, "--task is required");
    if (strcmp(split, "dev") != 0 && strcmp(split, "train") != 0 && strcmp(split, "dev-mm") != 0)
        return cli_usage_error(err, "predict", usage, "--split must be dev or train");

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

    if ((st = cli_task_resolve(&spec, &ta, "predict", usage,
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
        batch_fill(&b, &enc, idx, n, w.tok.pad_id);
        model_forward(&m, &b, 0);
        for (int r = 0; r < n; r++) {
            size_t i = start + (size_t)r;
            const float *z = m.logits + (size_t)r * NL;
            printf("{\"index\":%zu,", i);
            if (NL == 1) {
                score[i] = z[0];
                pred[i] = 0;
                printf("\"score\":");
                put_num(z[0]);
                printf(",\"label\":");
                put_num(enc.targets ? enc.targets[i] : NAN);
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
                printf("],\"pred\":%d,\"label\":%d", k, (int)enc.labels[i]);
            }
            printf("}\n");
        }
        if (tty)
            fprintf(stderr, "\rpredict: %zu/%zu", start + (size_t)n, enc.n);
    }
    if (tty)
        fprintf(stderr, "\n");
    struct metrics mt;
    task_score(&spec, enc.labels, enc.targets, pred, score, enc.n, &mt);
    printf("{\"task\":\"%s\",\"split\":\"%s\",\"n\":%zu,\"model_checksum\":\"%s\",\"metric\":\"%s\","
           "\"score\":",
           spec.name, split, enc.n, w.checksum_hex, metric_name(spec.metric));
    put_num(mt.primary);
    int first = 0;
    put_metric("accuracy", mt.accuracy, &first);
    put_metric("f1", mt.f1, &first);
    put_metric("mcc", mt.mcc, &first);
    put_metric("pearson", mt.pearson, &first);
    put_metric("spearman", mt.spearman, &first);
    printf(",\"majority_only\":%s}\n", mt.majority_only ? "true" : "false");
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
