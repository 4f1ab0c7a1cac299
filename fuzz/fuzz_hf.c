/* fuzz_hf.c - libFuzzer target: the Hugging Face folder reader (convert_hf:
 * config.json, safetensors, shards and their index, tokenizer files). The
 * input is a list of records - one byte file id (an index into NAMES), a
 * u32 little-endian length, the bytes - written into a private scratch
 * folder; the converted model goes to /dev/null (written in place).
 * scripts/make_fuzz_seeds.py builds the seeds. */
#include <stdint.h>
#include <string.h>

#include "convert.h"
#include "fuzz_util.h"

static const char *const NAMES[] = {
    "config.json", "model.safetensors", "model.safetensors.index.json",
    "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    "vocab.txt", "tokenizer.json", "vocab.json", "merges.txt",
    "tokenizer_config.json", "special_tokens_map.json"};
#define N_NAMES ((int)(sizeof NAMES / sizeof NAMES[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > ((size_t)4 << 20))
        return 0;
    const char *dir = fuzz_dir(NAMES, N_NAMES);
    size_t off = 0;
    while (off + 5 <= n) {
        int id = data[off] % N_NAMES;
        uint32_t len = (uint32_t)data[off + 1] | (uint32_t)data[off + 2] << 8 |
                       (uint32_t)data[off + 3] << 16 | (uint32_t)data[off + 4] << 24;
        off += 5;
        if (len > n - off)
            len = (uint32_t)(n - off);
        fuzz_write(dir, NAMES[id], data + off, len);
        off += len;
    }
    struct convert_report rep;
    struct idim_err err;
    memset(&rep, 0, sizeof rep);
    (void)convert_hf(dir, "/dev/null", &rep, &err);
    convert_report_free(&rep);
    return 0;
}
