/* fuzz_report.c - libFuzzer target: the readers of idim's own reports: the
 * sweep CSV (`idim plot --in`) and a report's d90 (`idim check`). The first
 * byte picks the reader. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1 || n > ((size_t)1 << 20))
        return 0;
    const char *path = fuzz_mem_path(data + 1, n - 1);
    struct idim_err err;
    if (data[0] & 1) {
        double d90;
        (void)report_read_d90(path, &d90, &err);
    } else {
        struct search_trial *rows = NULL;
        size_t n_rows = 0;
        char metric[32];
        double baseline;
        if (report_csv_read(path, &rows, &n_rows, metric, sizeof metric, &baseline, &err) ==
            IDIM_OK)
            free(rows);
    }
    return 0;
}
