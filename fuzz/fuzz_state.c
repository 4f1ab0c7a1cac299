/* fuzz_state.c - libFuzzer target: the measure/sweep state file parser
 * (search_state_parse, a pure function over the bytes; it also runs the
 * checkpoint parser train_ckpt_parse on the embedded checkpoint). */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > ((size_t)1 << 20))
        return 0;
    struct search_state st;
    struct idim_err err;
    memset(&st, 0, sizeof st);
    (void)search_state_parse(&st, data, n, "state", &err);
    search_state_free(&st);
    return 0;
}
