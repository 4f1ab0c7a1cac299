/* bench_tokenize.c - time to tokenize all of MRPC train (3668 pairs,
 * max length 128) with bert-base-uncased (WordPiece) and roberta-base
 * (byte-level BPE), tokenizers built from ../shared/data/tokenizers.
 * Prints ms per pass: the first pass with a fresh tokenizer (cold BPE
 * cache, tokenizer construction excluded and shown apart) and the best of
 * 3 later passes. Skips with a message without ../shared. Target: < 1000 ms. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "task.h"
#include "tokdata.h"
#include "tokenizer.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(void)
{
    struct stat st;
    if (stat("../shared/data/glue/MRPC/train.tsv", &st) != 0 ||
        stat("../shared/data/tokenizers", &st) != 0) {
        printf("bench_tokenize: skipped: ../shared/data is absent\n");
        return 0;
    }
    struct idim_err err = {{0}};
    struct task_spec spec;
    struct dataset ds;
    if (task_resolve(&spec, "mrpc", "../shared/data/glue", &err) ||
        task_load(&ds, &spec, "train", &err)) {
        fprintf(stderr, "bench_tokenize: %s\n", err.msg);
        return 1;
    }
    const char *models[2] = {"bert-base-uncased", "roberta-base"};
    int ok = 1;
    for (int m = 0; m < 2; m++) {
        char path[256];
        snprintf(path, sizeof path, "../shared/data/tokenizers/%s", models[m]);
        struct tokdata td;
        struct tokenizer *tk;
        if (tokdata_load_hf(&td, path, &err)) {
            fprintf(stderr, "bench_tokenize: %s\n", err.msg);
            return 1;
        }
        double t0 = now_ms();
        if (tokenizer_new(&tk, &td, &err)) {
            fprintf(stderr, "bench_tokenize: %s\n", err.msg);
            return 1;
        }
        double t_new = now_ms() - t0;
        struct encoded enc;
        double cold = 0, best = 1e30;
        size_t n_tok = 0;
        for (int pass = 0; pass < 4; pass++) {
            t0 = now_ms();
            if (encoded_build(&enc, &ds, tk, 128, &err)) {
                fprintf(stderr, "bench_tokenize: %s\n", err.msg);
                return 1;
            }
            double t = now_ms() - t0;
            n_tok = enc.off[enc.n];
            encoded_free(&enc);
            if (pass == 0)
                cold = t;
            else if (t < best)
                best = t;
        }
        printf("tokenize MRPC train (%zu pairs, %zu tokens) %-18s first pass %7.1f ms, "
               "best later pass %7.1f ms (tokenizer build %.1f ms)%s\n",
               ds.n, n_tok, models[m], cold, best, t_new, cold + t_new < 1000 ? "" : "  SLOW");
        if (cold + t_new >= 1000)
            ok = 0;
        tokenizer_free(tk);
        tokdata_free(&td);
    }
    dataset_free(&ds);
    return ok ? 0 : 1;
}
