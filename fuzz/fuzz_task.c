/* fuzz_task.c - libFuzzer target: the task loaders (TSV, CSV, JSONL) through
 * --task custom. The first byte picks the format and the metric; the rest is
 * the train file, whose first two columns (keys "a", "b" in JSONL) are text
 * and whose third ("label") is the label. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1 || n > ((size_t)1 << 20))
        return 0;
    static const char *const formats[3] = {"tsv", "csv", "jsonl"};
    static const char *const metrics[5] = {"accuracy", "f1", "mcc", "pearson", "spearman"};
    const char *format = formats[data[0] % 3];
    const char *metric = metrics[(data[0] / 3) % 5];
    int json = data[0] % 3 == 2;
    const char *path = fuzz_mem_path(data + 1, n - 1);
    struct task_spec spec;
    struct dataset ds;
    struct idim_err err;
    memset(&spec, 0, sizeof spec);
    memset(&ds, 0, sizeof ds);
    if (task_custom(&spec, path, NULL, json ? "a,b" : "0,1", json ? "label" : "2", format, metric,
                    &err) == IDIM_OK &&
        task_load(&ds, &spec, "train", &err) == IDIM_OK)
        dataset_free(&ds);
    return 0;
}
