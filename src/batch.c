/* batch.c - allocation of struct batch (batch.h); task.c fills it. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

enum idim_status batch_alloc(struct batch *b, int B, int T, struct idim_err *err)
{
    memset(b, 0, sizeof *b);
    if (B <= 0 || T <= 0)
        return idim_fail(err, IDIM_ERR_USAGE, "batch of %d rows x %d tokens: both must be >= 1",
                         B, T);
    size_t bt = (size_t)B * (size_t)T;
    b->ids = malloc(bt * sizeof *b->ids);
    b->type_ids = malloc(bt * sizeof *b->type_ids);
    b->mask = malloc(bt * sizeof *b->mask);
    b->labels = malloc((size_t)B * sizeof *b->labels);
    b->targets_buf = malloc((size_t)B * sizeof *b->targets_buf);
    if (!b->ids || !b->type_ids || !b->mask || !b->labels || !b->targets_buf) {
        batch_free(b);
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory for a batch of %d x %d tokens", B,
                         T);
    }
    b->cap_B = B;
    b->cap_T = T;
    b->B = B;
    b->T = T;
    return IDIM_OK;
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    free(b->ids);
    free(b->type_ids);
    free(b->mask);
    free(b->labels);
    free(b->targets_buf);
    memset(b, 0, sizeof *b);
}
