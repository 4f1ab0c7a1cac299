/* scheduler.h - runs independent training runs on N slots, and drives a d90
 * search or a sweep over them.
 *
 * A run spec names one training run: (projection seed, d, lr) plus the
 * thread count every run uses; a run result is the finished struct
 * search_trial (or the error that stopped it). Both travel as one text line
 * (sched_*_encode / _decode) over either transport:
 *   - SCHED_FORK: `--jobs N` on one machine. N worker processes forked from
 *     the loaded parent (model and data shared copy-on-write), one pipe pair
 *     each. A worker that dies (kill -9, OOM) is forked again and its run
 *     started again, once; the search goes on.
 *   - SCHED_MPI: `mpirun -np N idim measure ...` (built with Open MPI).
 *     Rank 0 plans and records; ranks 1..N-1 train (N-1 slots). When a rank
 *     dies mpirun ends the whole job; every finished run is in the state
 *     file, so the same command with --state resumes.
 * Only the parent (rank 0) writes the state file and the report.
 *
 * Results do not depend on the number of slots: each run's thread count is
 * fixed (--threads-per-run) and a run's result depends only on its spec.
 * The search planner (sched_plan_search) is speculative execution of the
 * sequential search: it replays search_run over the finished runs and, at
 * each probe whose outcome is still unknown, explores both outcomes
 * breadth-first, handing the runs either branch needs to free slots. With
 * 2^L - 1 slots that is a 2^L-ary search in log space (every node of L
 * bisection levels at once); the path taken is the sequential one, so d90
 * and every probe are those of --jobs 1. Runs on branches not taken are
 * still recorded in the state file.
 *
 * Stage: beside search (trials through search_trial_fn), before report. */
#ifndef IDIM_SCHEDULER_H
#define IDIM_SCHEDULER_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "search.h"
#include "status.h"

#define SCHED_MAX_SLOTS 256
#define SCHED_LINE_MAX 4096 /* bytes of one encoded spec or result line */

/* One training run to do. */
struct sched_spec {
    uint64_t id;   /* the scheduler's run number */
    uint64_t seed; /* projection seed (0: baseline) */
    long d;        /* subspace dimension, 0 = full fine-tuning */
    double lr;
    int threads;   /* threads of this run (the same for every run) */
    double target; /* the target a run may stop at (early stopping); NAN: none */
};

/* Trains the run sp names into *out (in a worker). */
typedef enum idim_status (*sched_trial_fn)(void *ctx, const struct sched_spec *sp,
                                           struct search_trial *out, struct idim_err *err);

/* One finished run. */
struct sched_result {
    uint64_t id;
    enum idim_status status;   /* IDIM_OK or what stopped the run */
    struct search_trial trial; /* valid when status == IDIM_OK */
    char msg[512];             /* the error sentence when status != IDIM_OK */
};

/* Encoders write one line ending in '\n' into buf[cap] and return its
 * length, or 0 when it does not fit. Decoders return 0 on success, -1 on a
 * malformed line. The result carries the trial as the bytes of struct
 * search_trial in hex, so every field arrives bit-exact; both ends run the
 * same binary (workers check it at start). */
size_t sched_spec_encode(const struct sched_spec *s, char *buf, size_t cap);
int sched_spec_decode(struct sched_spec *s, const char *line);
size_t sched_result_encode(const struct sched_result *r, char *buf, size_t cap);
int sched_result_decode(struct sched_result *r, const char *line);

enum sched_kind { SCHED_NONE = 0, SCHED_FORK, SCHED_MPI };

struct sched_slot {
    pid_t pid;               /* SCHED_FORK: the worker; 0 when none */
    int fd_to, fd_from;      /* SCHED_FORK: pipes to / from the worker */
    int busy;                /* a run is in flight */
    int retries;             /* restarts of the run in flight after a worker died */
    struct sched_spec spec;  /* the run in flight */
    char buf[SCHED_LINE_MAX];/* SCHED_FORK: partial result line */
    size_t n_buf;
};

struct sched {
    enum sched_kind kind;
    int n_slots;                 /* slots that train */
    int threads;                 /* threads per run */
    int is_worker;               /* MPI rank > 0: the worker loop has run; return */
    int rank, size;              /* MPI rank and world size (0, 1 without MPI) */
    sched_trial_fn fn;           /* borrowed */
    void *ctx;                   /* borrowed */
    uint64_t next_id;
    size_t n_restarts;           /* workers forked again after dying */
    struct sigaction old_pipe;   /* SIGPIPE disposition before SCHED_FORK started */
    struct sched_slot slot[SCHED_MAX_SLOTS];
};

/* World size of the MPI job this process was started in, read from the
 * launcher's environment (Open MPI, PMI, PMIx, Slurm's srun), or 1. */
int sched_mpi_env_size(void);

/* 1 when this idim was built with MPI. */
int sched_have_mpi(void);

/* Starts the slots. Under an MPI launcher with more than one process
 * (sched_mpi_env_size() > 1) this is SCHED_MPI: jobs must be 0 or 1
 * (IDIM_ERR_USAGE otherwise); on ranks > 0 it runs the worker loop until
 * rank 0 stops it and returns IDIM_OK with s->is_worker = 1 (the caller
 * then returns without output). Without MPI support under a launcher:
 * IDIM_ERR_USAGE saying so. Otherwise jobs >= 2 forks jobs workers
 * (SCHED_FORK). fn(ctx, ...) trains one run in a worker with `threads`
 * threads. Returns IDIM_OK, IDIM_ERR_USAGE, IDIM_ERR_NOMEM or
 * IDIM_ERR_INTERNAL (fork, pipe or MPI failed). */
enum idim_status sched_start(struct sched *s, int jobs, int threads, sched_trial_fn fn,
                             void *ctx, struct idim_err *err);

/* Ends every worker (finishing nothing) and, under MPI, MPI_Finalize.
 * Accepts a zeroed struct. */
void sched_stop(struct sched *s);

/* A planner: writes up to cap runs still needed, most needed first, into
 * want, given the finished runs in st and the runs in flight. Never lists a
 * run that is finished or in flight. Returns 0 when nothing more is
 * needed (the caller's work is done once nothing is in flight either). */
typedef size_t (*sched_plan_fn)(void *plan_ctx, const struct search_state *st,
                                const struct sched_spec *running, size_t n_running,
                                struct sched_spec *want, size_t cap);

/* Runs what plan asks for on the free slots until it asks for nothing and
 * nothing is in flight. Every finished run is added to st (and saved when
 * st->path[0]) as it arrives. On a run's error, on Ctrl-C
 * (IDIM_ERR_INTERRUPTED) or on a write error, waits for or ends the runs in
 * flight and returns that status; finished runs stay in st. */
enum idim_status sched_run(struct sched *s, sched_plan_fn plan, void *plan_ctx,
                           struct search_state *st, struct idim_err *err);

/* Planner for `idim measure`: the baseline's runs (when base != NULL),
 * then the d90 search of each cfg[i] (one per projection seed), explored
 * speculatively as described above. cfg[i].target is ignored: it is
 * threshold x the baseline (base's best metric, or `baseline` when base is
 * NULL); every probe's spec carries it. With cfg[i].early_stop a run stops
 * at the target, so no probe starts before the baseline is known (its
 * result would differ from the sequential one's). */
struct sched_search_plan {
    const struct search_config *cfg; /* [n_cfg], borrowed */
    size_t n_cfg;
    const struct search_config *base; /* baseline grid (d = 0, seed 0), or NULL */
    double baseline;                  /* used when base == NULL */
    double threshold;
    int threads;
    int guard;             /* measure's baseline guard: no search after a fine-tuned
                              baseline that is majority-only or not guard_margin above
                              guard_majority (NAN: no majority score) */
    double guard_majority, guard_margin;
};
size_t sched_plan_search(void *plan_ctx, const struct search_state *st,
                         const struct sched_spec *running, size_t n_running,
                         struct sched_spec *want, size_t cap);

/* Planner for `idim sweep`: every (seed, d[i], lr) of the list, in order
 * (the baseline is d = 0 with seed 0). */
struct sched_list_plan {
    const long *d;        /* [n_d], borrowed; 0 = the baseline */
    size_t n_d;
    uint64_t seed;        /* projection seed of every d > 0 */
    const double *lr[2];  /* lr grid for d = 0 ([0]) and for d > 0 ([1]), borrowed */
    int n_lr[2];
    int threads;
};
size_t sched_plan_list(void *plan_ctx, const struct search_state *st,
                       const struct sched_spec *running, size_t n_running,
                       struct sched_spec *want, size_t cap);

/* search_trial_fn that only looks runs up in the struct search_state
 * passed as ctx (IDIM_ERR_INTERNAL when one is missing): replays a search
 * whose runs sched_run has finished. */
enum idim_status sched_lookup_trial(void *ctx, long d, double lr, uint64_t seed,
                                    struct search_trial *out, struct idim_err *err);

#endif
