/* theta.h - the theta file (docs/THETA.md): a subspace run's trained
 * vector theta_d (SAID: then the lambdas), the seeds, the model checksum
 * and the dev metric it scored: "the task encoded in a few kilobytes".
 *
 * Stage: written by train (--save-theta), read by eval and project. */
#ifndef IDIM_THETA_H
#define IDIM_THETA_H

#include <stddef.h>
#include <stdint.h>

#include "fastfood.h"
#include "projection.h"
#include "status.h"
#include "train.h"

struct theta_file {
    enum train_mode mode;      /* TRAIN_DID or TRAIN_SAID */
    enum ff_scope scope;
    int grad_compat;
    enum proj_kind projection; /* PROJ_FASTFOOD for files written before issue 15 */
    enum proj_norm norm;       /* PROJ_NORM_ROWS for --lr-rule weight */
    size_t d;                  /* as on the command line (SAID: includes the lambdas) */
    size_t n_tensors;          /* m */
    int n_labels;
    int max_len;
    uint64_t seed, proj_seed;
    char model_checksum[17];
    char task[32];
    double metric;             /* dev metric the trainer measured for this theta */
    uint64_t n_dev;            /* dev examples it was measured on (0 = the whole split) */
    int batch;                 /* evaluation batch size (padding shapes the float sums) */
    float *theta;              /* [d]: DID theta_d; SAID theta_{d-m} then m lambdas (owned) */
};

/* Writes tf to path through fileio_out (atomically for a file). Returns
 * IDIM_OK or IDIM_ERR_WRITE. */
enum idim_status theta_save(const char *path, const struct theta_file *tf,
                            struct idim_err *err);

/* The largest theta file read: d up to 2^28 values (1 GiB). */
#define THETA_MAX_BYTES ((size_t)136 + 8 + ((size_t)4 << 28))

/* Validates a theta file held in buf[0..len) (every field: docs/THETA.md)
 * and fills tf (tf->theta owned; theta_free). name is used in messages.
 * Pure: no file access, so the fuzzer drives it. Returns IDIM_OK,
 * IDIM_ERR_FORMAT (naming the field and its byte offset) or IDIM_ERR_NOMEM. */
enum idim_status theta_parse(const unsigned char *buf, size_t len, const char *name,
                             struct theta_file *tf, struct idim_err *err);

/* Reads a theta file (a regular file or FIFO of at most THETA_MAX_BYTES; a
 * folder is refused) and validates it with theta_parse. Returns IDIM_OK,
 * IDIM_ERR_IO, IDIM_ERR_FORMAT, IDIM_ERR_NOMEM. */
enum idim_status theta_load(const char *path, struct theta_file *tf, struct idim_err *err);
void theta_free(struct theta_file *tf);

#endif
