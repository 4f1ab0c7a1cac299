/* fuzz_plot.c - libFuzzer target: the readers of `idim plot --in` (a
 * measure report, JSON lines of idim train / sweep --json, or a sweep CSV:
 * report_series_read decides by content) followed by the SVG writer on what
 * was read, and `idim check`'s report_read_summary. Byte 0 picks: even -
 * plot (one series, or the same file twice as two series with its d90
 * marked), odd - check. */
#include <math.h>
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
        struct report_summary s;
        (void)report_read_summary(path, &s, &err);
        return 0;
    }
    struct report_series s[2];
    if (report_series_read(path, &s[0], &err) != IDIM_OK)
        return 0;
    s[1] = s[0];
    struct report_plot p = {.series = s, .n_series = (data[0] & 2) ? 2 : 1,
                            .metric_name = s[0].metric_name, .baseline = NAN,
                            .threshold = 0.9, .title = (data[0] & 4) ? "t <&> \"x\"" : NULL};
    free(report_svg(&p));
    report_series_free(&s[0]);
    return 0;
}
