/* task.h - task registry, data loaders, encoded data sets, batches, metrics.
 *
 * Stage: feeds the trainer. A task knows its files, columns, label set and
 * official metric. Loaders report bad rows with file and line. */
#ifndef IDIM_TASK_H
#define IDIM_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "status.h"
#include "tokenizer.h"

enum metric_kind {
    METRIC_ACCURACY = 1,
    METRIC_F1 = 2,        /* binary F1 of class 1 */
    METRIC_MCC = 3,       /* Matthews correlation */
    METRIC_PEARSON = 4,
    METRIC_SPEARMAN = 5,
};

/* A task as resolved from --task (and, for custom, its flags). */
struct task_spec {
    char name[32];          /* "mrpc", "sst2", ..., "custom" */
    char folder[64];        /* GLUE folder name ("MRPC", "SST-2"): default under $IDIM_DATA */
    int n_labels;           /* 1 = regression (stsb) */
    enum metric_kind metric; /* the metric d90 uses */
    /* loader details (file names, columns, format) are private to task.c */
    char train_path[1024], dev_path[1024]; /* resolved files; several files (anli, all
                                              rounds) are joined by '\n' and concatenated */
    int text_col_a, text_col_b;  /* -1 when absent */
    int label_col;          /* -1 = last column (MNLI) */
    int has_header;
    int format;             /* private */
    char label_names[16][32]; /* label strings in id order, for string labels */
    int n_label_names;
    char fields[3][64];     /* JSONL: keys of text a, text b ("" = none), label */
    char dev_mm_path[1024]; /* mnli: dev_mismatched.tsv (split "dev-mm"), else "" */
};

/* Raw examples of one split. */
struct dataset {
    size_t n;
    char **text_a;    /* [n] */
    char **text_b;    /* [n] or NULL for single-sentence tasks */
    int32_t *labels;  /* [n] classes (classification) */
    float *targets;   /* [n] regression targets, or NULL */
    char sha256[65];  /* checksum of the file's bytes, for reports */
    char path[1024];
    char *arena;      /* owned storage */
};

/* The examples, tokenized: ragged rows of ids. */
struct encoded {
    size_t n;
    size_t *off;       /* [n+1] row i is ids[off[i] .. off[i+1]) */
    int32_t *ids;      /* token ids */
    int32_t *type_ids; /* token-type ids, same layout */
    int32_t *labels;   /* [n] */
    float *targets;    /* [n] or NULL */
    int max_len;       /* longest row */
};

struct metrics {
    double primary;        /* the task's d90 metric */
    double accuracy, f1, mcc, pearson, spearman; /* NAN where not applicable */
    double majority_primary; /* what predicting the majority class scores */
    int majority_only;     /* 1 when every prediction is the same class (or score) */
    double majority_accuracy, majority_f1, majority_mcc; /* each metric of the majority
                            predictor (NAN where not applicable; MRPC dev: 0.684, 0.812, 0) */
};

/* Resolves --task NAME (and --data DIR, which may be NULL: then
 * $IDIM_DATA/<folder>, then ./data/<folder>). DIR may also be the parent
 * of the task folder. Custom tasks are filled by task_custom(). On a
 * missing folder the message says where it looked. Names: see task_list(). */
enum idim_status task_resolve(struct task_spec *spec, const char *name, const char *data_dir,
                              struct idim_err *err);

/* --task custom: train/dev files (either may be NULL, not both),
 * text_cols "C1[,C2]" and label_col name columns (a header name or a
 * 0-based number for tsv/csv, which must have a header row; a key for
 * jsonl), format "tsv", "csv" or "jsonl" (NULL: from the file extension),
 * metric "accuracy", "f1", "mcc", "pearson" or "spearman" (NULL: accuracy;
 * pearson/spearman make it a one-output regression). Classification labels
 * are the distinct values of the train file's label column (at most 16,
 * numeric order when all are integers, else byte order). Returns IDIM_OK,
 * IDIM_ERR_USAGE (bad flag) or IDIM_ERR_IO / IDIM_ERR_FORMAT (files). */
enum idim_status task_custom(struct task_spec *spec, const char *train, const char *dev,
                             const char *text_cols, const char *label_col, const char *format,
                             const char *metric, struct idim_err *err);

/* One line per known task ("mrpc  MRPC  accuracy, f1  ..."), for --help. */
const char *task_list(void);

/* SHA-256 of n bytes as 64 lower-case hex digits (out has room for 65). */
void task_sha256_hex(const void *data, size_t n, char out[65]);

/* Loads split "train" or "dev" (mnli also "dev-mm": mismatched). Rules:
 * tsv splits on tabs only (no quoting), csv follows RFC 4180 quoting,
 * jsonl holds one object per line; a UTF-8 BOM is stripped, CRLF is
 * accepted, a missing final newline is fine, blank lines are skipped, the
 * header is skipped where the task has one. Text is kept as bytes (invalid
 * UTF-8 is left to the tokenizer, which replaces it). Errors name the file
 * and line: missing columns, a label outside the task's set, a file with
 * NUL bytes (binary), a split with no examples. ds->sha256 is the digest of
 * the file's bytes (of the files' bytes in order, for several). */
enum idim_status task_load(struct dataset *ds, const struct task_spec *spec, const char *split,
                           struct idim_err *err);
void dataset_free(struct dataset *ds);

/* Tokenizes every example (max_len includes special tokens). */
enum idim_status encoded_build(struct encoded *enc, const struct dataset *ds,
                               struct tokenizer *tk, int max_len, struct idim_err *err);
void encoded_free(struct encoded *enc);

/* Bytes enc's arrays hold (encoded_build sizes them to fit): offsets, ids,
 * type ids, labels and targets; for the memory guard (memguard.h). */
size_t encoded_memory_bytes(const struct encoded *enc);

/* Fills b with rows idx[0..n) of enc, padded with pad_id to the longest. */
void batch_fill(struct batch *b, const struct encoded *enc, const size_t *idx, int n,
                int32_t pad_id);

/* Scores predictions: pred[i] class (classification) or score[i]
 * (regression); labels/targets from ds's encoded twin. */
void task_score(const struct task_spec *spec, const int32_t *labels, const float *targets,
                const int32_t *pred, const float *score, size_t n, struct metrics *out);

const char *metric_name(enum metric_kind m);

/* Pearson correlation of x and y (NAN when n < 2 or a variance is 0), and
 * Spearman's (Pearson of ranks, ties given their average rank). */
double metric_pearson(const double *x, const double *y, size_t n);
double metric_spearman(const double *x, const double *y, size_t n);

#endif
