/* fuzz_state.c - libFuzzer target: the measure/sweep state file reader
 * (search_state_open). The key the caller expects is taken from the input's
 * first "key " line, so that inputs get past the key check to the trials. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > ((size_t)1 << 20))
        return 0;
    char key[512] = "k";
    for (size_t i = 0; i + 5 <= n; i++) {
        if ((i == 0 || data[i - 1] == '\n') && !memcmp(data + i, "key ", 4)) {
            const uint8_t *nl = memchr(data + i, '\n', n - i);
            size_t len = (nl ? (size_t)(nl - data) : n) - i - 4;
            if (len > 0 && len < sizeof key && !memchr(data + i + 4, 0, len)) {
                memcpy(key, data + i + 4, len);
                key[len] = 0;
            }
            break;
        }
    }
    const char *path = fuzz_mem_path(data, n);
    struct search_state st;
    struct idim_err err;
    memset(&st, 0, sizeof st);
    (void)search_state_open(&st, path, key, &err);
    search_state_free(&st);
    return 0;
}
