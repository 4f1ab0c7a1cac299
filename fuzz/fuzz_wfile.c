/* fuzz_wfile.c - libFuzzer target: the model file reader (wfile_open) and,
 * when the file holds one, the tokenizer built from it encoding a fixed
 * text. The XXH64 checksum (bytes 8..15) is recomputed for inputs with an
 * odd first byte so that the checks behind it are reached. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tokenizer.h"
#include "wfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > ((size_t)8 << 20))
        return 0;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return 0;
    memcpy(b, data, n);
    if (n >= 16 && (b[0] & 1) == 0) {
        uint64_t h = wfile_xxh64(b + 16, n - 16, 0);
        for (int i = 0; i < 8; i++)
            b[8 + i] = (uint8_t)(h >> (8 * i));
    }
    const char *path = fuzz_mem_path(b, n);
    free(b);
    struct wfile w;
    struct idim_err err;
    memset(&w, 0, sizeof w);
    if (wfile_open(&w, path, &err) == IDIM_OK && wfile_has_tokenizer(&w)) {
        struct tokenizer *tk = NULL;
        if (tokenizer_new(&tk, &w.tok, &err) == IDIM_OK) {
            static const char text[] = "Hello, wor\xc3\xa9ld! unaffable \xff 123";
            int32_t ids[64];
            (void)tokenizer_encode(tk, text, sizeof text - 1, ids, 64);
            tokenizer_free(tk);
        }
    }
    wfile_free(&w);
    return 0;
}
