/* cli_tokenize.c - `idim tokenize`: print a task's token ids as JSON lines.
 *
 * Reads the tokenizer stored in a model file (or, with --tokenizer, Hugging
 * Face tokenizer files directly), loads one split of a task and prints one
 * JSON object per example:
 *   {"input_ids":[...],"token_type_ids":[...],"label":L}
 * with the special tokens and "longest first" truncation to --max-len, as
 * the model will see it. For debugging and for comparing idim with other
 * tokenizers (tests/e2e_tokenize.sh compares it with Hugging Face's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "task.h"
#include "tokdata.h"
#include "tokenizer.h"
#include "wfile.h"

static void print_ids(FILE *f, const int32_t *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, i ? ",%d" : "%d", v[i]);
    fputc(']', f);
}

enum idim_status cli_tokenize(int argc, char **argv, struct idim_err *err)
{
    const char *model = NULL, *tokpath = NULL, *split = "dev";
    struct cli_task_args ta = {0};
    long limit = -1, limit_train = -1, limit_dev = -1, max_len = 128;
    struct cli_opt opts[] = {
        CLI_STR(0, "model", "FILE", &model, "model file whose stored tokenizer is used", CLI_FILE),
        CLI_STR(0, "tokenizer", "PATH", &tokpath,
                "or: Hugging Face tokenizer files instead of a model (vocab.txt,\n"
                "vocab.json + merges.txt, tokenizer.json, or a folder)", CLI_FILE),
        CLI_CHOICE(0, "split", "S", &split, "train,dev,dev-mm", "train or dev (mnli also dev-mm)"),
        CLI_LONG(0, "limit-dev", "N", &limit_dev, 1, 1000000000L,
                 "first N examples of the dev split only (default: all)"),
        CLI_LONG(0, "limit-train", "N", &limit_train, 1, 1000000000L,
                 "first N examples of the train split only (default: all)"),
        CLI_OLD_LONG("limit", &limit, 1, 1000000000L),
        CLI_LONG(0, "max-len", "N", &max_len, 4, 1000000,
                 "tokens per example, special tokens included\n"
                 "(4 to the model's position limit)"),
        CLI_TASK_OPTS(&ta),
        CLI_END,
    };
    char about[4096];
    snprintf(about, sizeof about,
             "Prints one JSON line per example of a task split, as the model sees it:\n"
             "  {\"input_ids\":[...],\"token_type_ids\":[...],\"label\":L}\n"
             "BERT: [CLS] a [SEP] b [SEP] (type ids 0 then 1); RoBERTa: <s> a </s></s> b </s>.\n"
             "Pairs longer than --max-len are truncated \"longest first\" as Hugging Face's\n"
             "fast tokenizers do, keeping the special tokens. The label is the class id (the\n"
             "task's label order) or, for a regression task (stsb), the score.\n\n"
             "tasks (name, folder under $IDIM_DATA, notes):\n%s",
             task_list());
    struct cli_cmd cmd = {
        "tokenize", about,
        "  idim tokenize --model base.idim --task mrpc --data glue/MRPC --limit-dev 3\n"
        "  idim tokenize --tokenizer roberta-base/ --task sst2 --split train --max-len 64\n"
        "  idim tokenize --model m.idim --task custom --dev d.tsv --text-cols q,a --label-col y\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&cmd, argc, argv, &pos, err)) || pos < 0)
        return st;
    if (!model == !tokpath)
        return cli_usage(err, "tokenize", "give exactly one of --model and --tokenizer");
    if (limit < 0)
        limit = strcmp(split, "train") ? limit_dev : limit_train;
    int need = strcmp(split, "train") ? CLI_SPLIT_DEV : CLI_SPLIT_TRAIN;
    if ((st = cli_task_check(&ta, "tokenize", NULL, need, err)))
        return st;

    struct wfile w;
    struct tokdata td;
    memset(&w, 0, sizeof w);
    memset(&td, 0, sizeof td);
    struct tokenizer *tk = NULL;
    struct dataset ds;
    memset(&ds, 0, sizeof ds);
    struct task_spec spec;
    int32_t *ids = NULL, *types = NULL;
    const struct tokdata *tok;
    if (model) {
        if ((st = wfile_open(&w, model, err)))
            goto done;
        tok = &w.tok;
        if (tok->n_vocab == 0) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: holds no tokenizer (made with --vocab-size alone); make it with "
                           "idim init --vocab or idim convert",
                           model);
            goto done;
        }
        long cap = w.cfg.family == ARCH_ROBERTA ? w.cfg.max_pos - w.cfg.pad_id - 1
                                                : w.cfg.max_pos;
        if (max_len > cap) {
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "--max-len %ld is more than %s allows (%ld positions)", max_len,
                           model, cap);
            goto done;
        }
    } else {
        if ((st = tokdata_load_hf(&td, tokpath, err)))
            goto done;
        tok = &td;
    }
    if ((st = cli_task_resolve(&spec, &ta, "tokenize", NULL, need, err)))
        goto done;
    if ((st = task_load(&ds, &spec, split, err)))
        goto done;
    if ((st = tokenizer_new(&tk, tok, err)))
        goto done;
    ids = malloc((size_t)max_len * sizeof *ids);
    types = malloc((size_t)max_len * sizeof *types);
    if (!ids || !types) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "tokenize: out of memory");
        goto done;
    }
    size_t n = ds.n;
    if (limit > 0 && (size_t)limit < n)
        n = (size_t)limit;
    for (size_t i = 0; i < n; i++) {
        if (idim_interrupted) {
            st = IDIM_ERR_INTERRUPTED;
            idim_fail(err, st, "tokenize: interrupted after %zu examples", i);
            goto done;
        }
        long k = tokenizer_encode_pair(tk, ds.text_a[i], ds.text_b ? ds.text_b[i] : NULL,
                                       (int)max_len, ids, types);
        if (k < 0) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "tokenize: out of memory");
            goto done;
        }
        fputs("{\"input_ids\":", stdout);
        print_ids(stdout, ids, (size_t)k);
        fputs(",\"token_type_ids\":", stdout);
        print_ids(stdout, types, (size_t)k);
        if (ds.targets)
            printf(",\"label\":%.9g}\n", (double)ds.targets[i]);
        else
            printf(",\"label\":%d}\n", ds.labels[i]);
        if (ferror(stdout)) {
            st = idim_fail(err, IDIM_ERR_WRITE, "tokenize: could not write standard output");
            goto done;
        }
    }
    st = IDIM_OK;
done:
    free(ids);
    free(types);
    tokenizer_free(tk);
    dataset_free(&ds);
    tokdata_free(&td);
    wfile_free(&w);
    return st;
}
