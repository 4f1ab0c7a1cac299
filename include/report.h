/* report.h - what `measure`, `sweep`, `plot` and `check` write: the JSON
 * measure report (cJSON; schema in docs/report.schema.json), the human
 * summary, sweep CSV rows, and the SVG plot of dev metric against d (log
 * axis, the paper's Figure 1 of Li et al. 2018 / Aghajanyan et al. 2021).
 * Every file is written atomically: <path>.tmp.<pid>, fsync, rename().
 *
 * Stage: after search. Library code: builds strings and files, never
 * prints. */
#ifndef IDIM_REPORT_H
#define IDIM_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "search.h"
#include "status.h"

#define REPORT_MAX_SEEDS 32
#define REPORT_MAX_NOTES 8
#define REPORT_RULE "metric > threshold * baseline"

/* Everything the measure report holds. Strings are borrowed. */
struct report_measure {
    const char *version;        /* idim version */
    const char *task;           /* "mrpc" */
    const char *metric;         /* metric name ("f1", "accuracy", ...) */
    const char *model_path;
    const char *model_checksum; /* 16 hex digits (wfile checksum) */
    size_t n_params;            /* D */
    size_t n_tensors;           /* m */
    const char *data_dir;       /* as given, or "" */
    const char *train_path, *dev_path;
    const char *train_sha256, *dev_sha256; /* sha256 of the split files */
    size_t n_train, n_dev;      /* examples used */
    const char *method;         /* "said" or "did" */
    const char *scope;          /* "tensor" or "global" */
    const char *projection, *lr_rule, *optimizer; /* subspace trainer (issue 15); NULL = defaults */
    double threshold;           /* 0.9 */
    double baseline;            /* the baseline dev metric */
    const char *baseline_source; /* "finetune", "given", "file:<path>" */
    const struct search_trial *baseline_trials; /* [n_baseline_trials] or NULL */
    size_t n_baseline_trials;
    double target;              /* threshold * baseline */
    long dmin, dmin_requested, dmax;
    double precision;
    int n_lr;
    const double *lr;           /* [n_lr] probe lr grid */
    int n_baseline_lr;
    const double *baseline_lr;  /* [n_baseline_lr] (0 when the baseline was given) */
    int epochs;                 /* probe epochs */
    const char *bracket_rule;   /* "up" or "gallop" (enum search_bracket); NULL = not given */
    uint64_t seed;              /* data-order seed */
    const char *batching;       /* "random" or "bucket" (enum train_batching); NULL = not given */
    int n_seeds;                /* 1..REPORT_MAX_SEEDS */
    uint64_t proj_seeds[REPORT_MAX_SEEDS];
    const struct search_result *results; /* [n_seeds] */
    const struct search_trial *runs; /* [n_runs] every run (baseline: d = 0), in order */
    size_t n_runs;
    int early_stop;             /* runs stopped when met or hopeless */
    long eval_every;            /* steps between dev evaluations (0: per epoch) */
    int threads;                /* threads per run */
    int slots;                  /* runs trained at once (1: in process) */
    const char *transport;      /* "none", "fork" (--jobs) or "mpi"; NULL = "none" */
    size_t extra_runs;          /* speculative runs off the search path */
    double wall_seconds;
    int n_notes;
    const char *notes[REPORT_MAX_NOTES]; /* e.g. "dmin raised from 10 to 201 (SAID: d > m)" */
};

/* The summary over seeds: d90 per reached seed, median / min / max. */
struct report_d90 {
    int n_reached;      /* seeds whose search reached the target */
    double median;      /* median d90 over reached seeds (0 when none) */
    long min, max;      /* spread (0 when none) */
};
void report_d90_summary(const struct report_measure *r, struct report_d90 *out);

/* The JSON report (fields in docs/report.schema.json). Returns a new
 * cJSON object (caller frees with cJSON_Delete) or NULL on OOM. */
cJSON *report_measure_json(const struct report_measure *r);

/* The human summary (several lines, ending in "\n"); caller frees. NULL on
 * OOM. */
char *report_measure_text(const struct report_measure *r);

/* Writes len bytes to path atomically. IDIM_ERR_WRITE names the path. */
enum idim_status report_write_file(const char *path, const char *data, size_t len,
                                   struct idim_err *err);

/* cJSON_Print(j) + "\n" written with report_write_file. */
enum idim_status report_write_json(const char *path, const cJSON *j, struct idim_err *err);

/* ---- sweep rows (CSV) ----
 * Header: d,lr,metric,metric_name,epochs,seconds,diverged,majority_only,proj_seed,baseline
 * One row per trial; metric "nan" when none; baseline (the full fine-tuning
 * metric the 90% line is drawn from, the same on every row) "nan" when none.
 * Files with the older header (no baseline column) are still read. */
#define REPORT_CSV_HEADER \
    "d,lr,metric,metric_name,epochs,seconds,diverged,majority_only,proj_seed,baseline"
#define REPORT_CSV_HEADER_OLD \
    "d,lr,metric,metric_name,epochs,seconds,diverged,majority_only,proj_seed"

/* The CSV text for rows[0..n) (caller frees), NULL on OOM. baseline: NAN
 * when unknown. */
char *report_csv_text(const struct search_trial *rows, size_t n, const char *metric_name,
                      double baseline);

/* Reads a CSV written by report_csv_text (or `idim sweep --out`). *rows is
 * malloc'd (caller frees), metric_name (cap bytes) gets the rows' metric
 * name, *baseline (may be NULL) the baseline column (NAN when absent).
 * IDIM_ERR_IO, IDIM_ERR_FORMAT (naming path and line), IDIM_ERR_NOMEM. */
enum idim_status report_csv_read(const char *path, struct search_trial **rows, size_t *n,
                                 char *metric_name, size_t cap, double *baseline,
                                 struct idim_err *err);

/* ---- the SVG plot ---- */

/* One curve of a plot, as read from a file by report_series_read. */
struct report_series {
    struct search_trial *pts; /* [n], owned (report_series_free) */
    size_t n;
    char label[160];          /* legend text ("" = none) */
    char metric_name[64];     /* "" when the file does not say */
    double baseline;          /* NAN when unknown: then no 90% line */
    double threshold;         /* NAN: the plot's threshold */
    long d90;                 /* > 0: marked; 0: computed from the points when a baseline is known */
};

/* Reads one plot input, its kind told by its content: a measure report
 * (JSON object with "probes": every probe, the baseline, threshold and d90),
 * a sweep CSV (REPORT_CSV_HEADER or the older header; the baseline column) or
 * JSON lines of `idim train` runs (scripts/sweep-d.sh: d, lr, best, ...; no
 * baseline). The label is "task method" when the file names them, else the
 * file name. IDIM_ERR_IO, IDIM_ERR_FORMAT naming the file (and line),
 * IDIM_ERR_NOMEM. */
enum idim_status report_series_read(const char *path, struct report_series *s,
                                    struct idim_err *err);
void report_series_free(struct report_series *s);

/* What report_svg draws: series[0..n_series), or, when n_series is 0, the
 * single series in pts/n/baseline/d90 (as `idim sweep` and `idim measure`
 * give it). */
struct report_plot {
    const struct report_series *series; /* [n_series]; borrowed */
    size_t n_series;
    const struct search_trial *pts; /* [n] (d, metric); sorted by d inside */
    size_t n;
    const char *metric_name;        /* y axis label: "dev <metric_name>" */
    double baseline;                /* NAN when unknown: then no 90% line */
    double threshold;               /* 0.9 (a series may hold its own) */
    long d90;                       /* > 0: a vertical marker at d90 */
    const char *title;              /* may be NULL */
};

/* A complete standalone SVG document (caller frees), NULL on OOM or when
 * there is no point with a finite metric and d > 0. Like the paper's Figure
 * 1: log-d axis with decade ticks; per series its curve, baseline (dotted),
 * threshold x baseline line (dashed) and d90 (vertical); with several series
 * each has its own colour and a legend line with label, baseline and d90. */
char *report_svg(const struct report_plot *p);

/* ---- check ---- */

/* Reads "d90" from a JSON file: a measure report or {"d90": N}. A null d90
 * (the run did not reach the target) gives *d90 = NAN; a missing or
 * non-positive one is IDIM_ERR_FORMAT naming the file. */
enum idim_status report_read_d90(const char *path, double *d90, struct idim_err *err);

/* What `idim check` compares between two reports. Fields a file does not
 * hold are empty strings / NAN (a {"d90": N} file holds only d90). */
struct report_summary {
    double d90;          /* NAN: null, the run did not reach the target */
    char task[64];       /* "task" */
    char method[16];     /* "method": said / did */
    char checksum[24];   /* "model"."checksum" */
    double threshold;    /* "threshold"; NAN when absent */
};

/* report_read_d90 and the other fields of struct report_summary (a field of
 * the wrong type is IDIM_ERR_FORMAT naming it). */
enum idim_status report_read_summary(const char *path, struct report_summary *s,
                                     struct idim_err *err);

/* 1 when |actual - expected| / expected <= tolerance (expected > 0), or
 * when both are NAN (both runs "not reached"); else 0. */
int report_check_d90(double expected, double actual, double tolerance);

#endif
