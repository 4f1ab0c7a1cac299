/* task.h - task registry, data loaders, encoded data sets, batches, metrics.
 *
 * Stage: feeds the trainer. A task knows its files, columns, label set and
 * official metric. Loaders report bad rows with file and line. */
#ifndef IDIM_TASK_H
#define IDIM_TASK_H

#include <stddef.h>
#include <stdint.h>

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
    char train_path[1024], dev_path[1024]; /* resolved files */
    int text_col_a, text_col_b;  /* -1 when absent */
    int label_col;
    int has_header;
    int format;             /* private */
    char label_names[16][32]; /* label strings in id order, for string labels */
    int n_label_names;
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

/* One padded batch: B rows, each padded to T = longest row in the batch. */
struct batch {
    int B, T;
    int32_t *ids;      /* [B*T], pad id where mask is 0 */
    int32_t *type_ids; /* [B*T] */
    int32_t *mask;     /* [B*T] 1 = token, 0 = padding */
    int32_t *labels;   /* [B] */
    float *targets;    /* [B] regression targets (NULL when classification) */
};

struct metrics {
    double primary;        /* the task's d90 metric */
    double accuracy, f1, mcc, pearson, spearman; /* NAN where not applicable */
    double majority_primary; /* what predicting the majority class scores */
    int majority_only;     /* 1 when every prediction is the same class */
};

/* Resolves --task NAME (and --data DIR, which may be NULL: then
 * $IDIM_DATA/<folder>, then ./data/<folder>). Custom tasks are filled by
 * task_custom(). On a missing folder the message says where it looked. */
enum idim_status task_resolve(struct task_spec *spec, const char *name, const char *data_dir,
                              struct idim_err *err);

/* Loads split "train" or "dev". Errors name the file and line. */
enum idim_status task_load(struct dataset *ds, const struct task_spec *spec, const char *split,
                           struct idim_err *err);
void dataset_free(struct dataset *ds);

/* Tokenizes every example (max_len includes special tokens). */
enum idim_status encoded_build(struct encoded *enc, const struct dataset *ds,
                               struct tokenizer *tk, int max_len, struct idim_err *err);
void encoded_free(struct encoded *enc);

/* Allocates a batch for up to B rows of up to T tokens; batch_free frees. */
enum idim_status batch_alloc(struct batch *b, int B, int T, struct idim_err *err);
void batch_free(struct batch *b);

/* Fills b with rows idx[0..n) of enc, padded with pad_id to the longest. */
void batch_fill(struct batch *b, const struct encoded *enc, const size_t *idx, int n,
                int32_t pad_id);

/* Scores predictions: pred[i] class (classification) or score[i]
 * (regression); labels/targets from ds's encoded twin. */
void task_score(const struct task_spec *spec, const int32_t *labels, const float *targets,
                const int32_t *pred, const float *score, size_t n, struct metrics *out);

const char *metric_name(enum metric_kind m);

#endif
