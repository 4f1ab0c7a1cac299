/* convert.h - Hugging Face checkpoint folder -> idim weights file.
 *
 * Reads DIR/config.json (model_type bert, roberta, xlm-roberta, electra),
 * DIR/model.safetensors or the shards named by
 * DIR/model.safetensors.index.json, and the tokenizer files of DIR (via
 * tokdata_load_hf). Tensors are renamed to the ARCH_TABLE_FILE names
 * (arch.h), widened to f32 exactly (F16, BF16) and written in table order
 * with wfile_write. Pretraining heads (cls.*, lm_head.*, ELECTRA's
 * discriminator/generator heads) and buffers (position_ids) are dropped
 * and reported; the pooler and a sequence-classification head are kept.
 *
 * Stage: before wfile readers; used by `idim convert`. No Python needed. */
#ifndef IDIM_CONVERT_H
#define IDIM_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "status.h"

struct convert_item {
    char src[256];           /* name in the checkpoint */
    char dst[ARCH_NAME_MAX]; /* idim name (kept), or "" (dropped) */
    char dtype[8];           /* source dtype: F32, F16, BF16, I64, ... */
    const char *reason;      /* why it was dropped (static string), NULL when kept */
};

struct convert_report {
    char model_type[32];          /* config.json model_type */
    struct arch_config cfg;       /* the architecture written */
    int n_shards;                 /* safetensors files read (1 = unsharded) */
    size_t n_params;              /* floats written */
    size_t n_kept, n_dropped;
    struct convert_item *kept;    /* [n_kept], table order (owned) */
    struct convert_item *dropped; /* [n_dropped], checkpoint order (owned) */
    char note[256];               /* one sentence for the user, or "" */
};

/* Converts the Hugging Face folder `dir` into the weights file `out`
 * (written to "<out>.tmp.<pid>" and renamed: a failure leaves no file).
 * Fills *rep (release with convert_report_free, also after a failure).
 * Returns IDIM_OK, IDIM_ERR_IO (a file missing or unreadable),
 * IDIM_ERR_FORMAT (config.json, safetensors or tokenizer invalid, a tensor
 * missing or of the wrong shape, unsupported model_type or dtype),
 * IDIM_ERR_NOMEM or IDIM_ERR_WRITE; err->msg names the file and field. */
enum idim_status convert_hf(const char *dir, const char *out, struct convert_report *rep,
                            struct idim_err *err);

void convert_report_free(struct convert_report *rep);

/* Exact widening of IEEE binary16 / bfloat16 bits to float32 (every value,
 * including subnormals, infinities and NaN payloads, is representable). */
float convert_f16_to_f32(uint16_t h);
float convert_bf16_to_f32(uint16_t b);

#endif
