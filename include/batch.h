/* batch.h - one padded batch of token ids, the model's input.
 *
 * Stage: model input. The model stage (model.h) needs only this struct;
 * filling a batch from a tokenized data set (batch_fill) is task code and
 * lives in task.h, so the model depends on no task or tokenizer code. */
#ifndef IDIM_BATCH_H
#define IDIM_BATCH_H

#include <stdint.h>

#include "status.h"

/* One padded batch: B rows, each padded to T = longest row in the batch.
 * Arrays are row-major [B*T] with stride T (the current T, not cap_T). */
struct batch {
    int B, T;          /* rows and tokens of the current fill */
    int32_t *ids;      /* [B*T], pad id where mask is 0 */
    int32_t *type_ids; /* [B*T] */
    int32_t *mask;     /* [B*T] 1 = token, 0 = padding */
    int32_t *labels;   /* [B] */
    float *targets;    /* [B] regression targets (NULL when classification) */
    int cap_B, cap_T;  /* allocated room (batch_alloc) */
    float *targets_buf; /* owned storage behind targets */
};

/* Allocates a batch for up to B rows of up to T tokens; batch_free frees. */
enum idim_status batch_alloc(struct batch *b, int B, int T, struct idim_err *err);
void batch_free(struct batch *b);

#endif
