/* fuzz_state.c - libFuzzer target: the measure/sweep state file parser
 * (format 2: search_state_parse, a pure function over the bytes; it also
 * runs the checkpoint parser train_ckpt_parse on the embedded checkpoint).
 * For inputs of odd length the trailing FNV-1a checksum is recomputed, so
 * mutations reach the field checks behind it; even lengths keep the bytes
 * as they are (the checksum check itself is fuzzed too). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "lebytes.h"
#include "search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > ((size_t)1 << 20))
        return 0;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, n);
    if (n >= 16 && (n & 1))
        le_put64(buf + n - 8, le_fnv1a64(buf, n - 8));
    struct search_state st;
    struct idim_err err;
    memset(&st, 0, sizeof st);
    (void)search_state_parse(&st, buf, n, "state", &err);
    search_state_free(&st);
    free(buf);
    return 0;
}
