/* scheduler.c - independent training runs on N slots (forked workers or Open
 * MPI ranks), one line format for run specs and results, and the planners
 * that turn the d90 search and the sweep into runs. See include/scheduler.h. */
#include "scheduler.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef IDIM_HAVE_MPI
#include <mpi.h>
#endif

#ifndef IDIM_VERSION
#define IDIM_VERSION "0.0.0"
#endif

/* ---- one line per spec / result ---- */

size_t sched_spec_encode(const struct sched_spec *s, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "spec %llu %llu %ld %a %d %a\n", (unsigned long long)s->id,
                     (unsigned long long)s->seed, s->d, s->lr, s->threads, s->target);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int sched_spec_decode(struct sched_spec *s, const char *line)
{
    unsigned long long id, seed;
    int used = 0;
    memset(s, 0, sizeof *s);
    if (sscanf(line, "spec %llu %llu %ld %la %d %la%n", &id, &seed, &s->d, &s->lr, &s->threads,
               &s->target, &used) != 6)
        return -1;
    if (line[used] && line[used] != '\n')
        return -1;
    s->id = id;
    s->seed = seed;
    return s->d >= 0 && s->threads >= 1 ? 0 : -1;
}

size_t sched_result_encode(const struct sched_result *r, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "result %llu %d ", (unsigned long long)r->id, (int)r->status);
    if (n < 0 || (size_t)n + 2 * sizeof r->trial + 2 >= cap)
        return 0;
    size_t k = (size_t)n;
    const unsigned char *b = (const unsigned char *)&r->trial;
    for (size_t i = 0; i < sizeof r->trial; i++)
        k += (size_t)snprintf(buf + k, 3, "%02x", b[i]);
    buf[k++] = ' ';
    for (const char *m = r->msg; *m && k + 2 < cap; m++)
        buf[k++] = *m == '\n' ? ' ' : *m;
    buf[k++] = '\n';
    buf[k] = 0;
    return k;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int sched_result_decode(struct sched_result *r, const char *line)
{
    unsigned long long id;
    int status, used = 0;
    memset(r, 0, sizeof *r);
    if (sscanf(line, "result %llu %d %n", &id, &status, &used) != 2 || used == 0)
        return -1;
    r->id = id;
    r->status = (enum idim_status)status;
    const char *p = line + used;
    unsigned char *b = (unsigned char *)&r->trial;
    for (size_t i = 0; i < sizeof r->trial; i++) {
        int hi = hexval(p[2 * i]), lo = hi < 0 ? -1 : hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        b[i] = (unsigned char)(16 * hi + lo);
    }
    p += 2 * sizeof r->trial;
    if (*p != ' ')
        return -1;
    p++;
    size_t n = strcspn(p, "\n");
    if (n >= sizeof r->msg)
        n = sizeof r->msg - 1;
    memcpy(r->msg, p, n);
    r->msg[n] = 0;
    return 0;
}

/* ---- launcher environment ---- */

int sched_mpi_env_size(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                 "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return 1;
}

int sched_have_mpi(void)
{
#ifdef IDIM_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

/* ---- running one spec (in a worker) ---- */

static void run_one(struct sched *s, const struct sched_spec *sp, struct sched_result *r)
{
    memset(r, 0, sizeof *r);
    r->id = sp->id;
    if (sp->threads != s->threads) {
        r->status = IDIM_ERR_USAGE;
        snprintf(r->msg, sizeof r->msg,
                 "a worker resolved %d threads per run but the search asked for %d; give "
                 "--threads-per-run",
                 s->threads, sp->threads);
        return;
    }
    struct search_trial t;
    memset(&t, 0, sizeof t);
    t.metric = NAN;
    struct idim_err e;
    memset(&e, 0, sizeof e);
    r->status = s->fn(s->ctx, sp, &t, &e);
    /* as search_probe_d does: the trial names its own run */
    t.d = sp->d;
    t.lr = sp->lr;
    t.seed = sp->seed;
    r->trial = t;
    snprintf(r->msg, sizeof r->msg, "%s", e.msg);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- fork transport ---- */

/* The worker: one spec line in, one result line out, until EOF. */
static void fork_worker(struct sched *s, int fd_in, int fd_out)
{
    FILE *in = fdopen(fd_in, "r");
    if (!in)
        return;
    char *line = NULL;
    size_t cap = 0;
    char buf[SCHED_LINE_MAX];
    while (getline(&line, &cap, in) > 0) {
        struct sched_spec sp;
        struct sched_result r;
        if (sched_spec_decode(&sp, line) != 0) {
            memset(&r, 0, sizeof r);
            r.status = IDIM_ERR_INTERNAL;
            snprintf(r.msg, sizeof r.msg, "worker: malformed run spec");
        } else {
            run_one(s, &sp, &r);
        }
        size_t n = sched_result_encode(&r, buf, sizeof buf);
        if (!n || write_all(fd_out, buf, n) != 0)
            break;
    }
    free(line);
    fclose(in);
}

static enum idim_status fork_spawn(struct sched *s, int i, struct idim_err *err)
{
    int to[2], from[2];
    if (pipe(to) != 0)
        return idim_fail(err, IDIM_ERR_INTERNAL, "--jobs: cannot make a pipe: %s",
                         strerror(errno));
    if (pipe(from) != 0) {
        close(to[0]);
        close(to[1]);
        return idim_fail(err, IDIM_ERR_INTERNAL, "--jobs: cannot make a pipe: %s",
                         strerror(errno));
    }
    fflush(NULL); /* the child must not write the parent's buffered output again */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        return idim_fail(err, IDIM_ERR_INTERNAL, "--jobs: cannot start a worker: %s",
                         strerror(errno));
    }
    if (pid == 0) {
        /* A worker outlives nothing: when the parent dies (kill -9) it goes too. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        for (int j = 0; j < s->n_slots; j++)
            if (j != i && s->slot[j].pid > 0) {
                close(s->slot[j].fd_to);
                close(s->slot[j].fd_from);
            }
        close(to[1]);
        close(from[0]);
        signal(SIGPIPE, SIG_IGN);
        fork_worker(s, to[0], from[1]);
        _exit(0);
    }
    close(to[0]);
    close(from[1]);
    struct sched_slot *sl = &s->slot[i];
    sl->pid = pid;
    sl->fd_to = to[1];
    sl->fd_from = from[0];
    sl->n_buf = 0;
    return IDIM_OK;
}

/* Describes how worker pid ended (reaps it). */
static void fork_reap(pid_t pid, char *why, size_t cap)
{
    int ws = 0;
    snprintf(why, cap, "ended");
    if (waitpid(pid, &ws, 0) == pid) {
        if (WIFSIGNALED(ws))
            snprintf(why, cap, "was killed by signal %d", WTERMSIG(ws));
        else if (WIFEXITED(ws))
            snprintf(why, cap, "exited with status %d", WEXITSTATUS(ws));
    }
}

/* ---- MPI transport ---- */

#ifdef IDIM_HAVE_MPI
enum { TAG_HELLO = 11, TAG_SPEC, TAG_RESULT, TAG_STOP };

/* Waits (polling, so an idle rank does not spin a core) for a message with
 * tag from source; returns 1 with *st filled, 0 when interrupted. */
static int mpi_wait(int source, int tag, MPI_Status *st)
{
    long ms = 1;
    for (;;) {
        int flag = 0;
        MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, st);
        if (flag)
            return 1;
        if (idim_interrupted)
            return 0;
        sleep_ms(ms);
        if (ms < 20)
            ms++;
    }
}

static int mpi_recv_line(int source, int tag, char *buf, size_t cap, int *from)
{
    MPI_Status st;
    if (!mpi_wait(source, tag, &st))
        return -1;
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    if (n < 0 || (size_t)n >= cap)
        n = (int)cap - 1;
    MPI_Recv(buf, n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    buf[n] = 0;
    if (from)
        *from = st.MPI_SOURCE;
    return 0;
}

static void mpi_worker(struct sched *s)
{
    char buf[SCHED_LINE_MAX];
    snprintf(buf, sizeof buf, "hello %zu %d %s", sizeof(struct search_trial), s->threads,
             IDIM_VERSION);
    MPI_Send(buf, (int)strlen(buf) + 1, MPI_CHAR, 0, TAG_HELLO, MPI_COMM_WORLD);
    for (;;) {
        MPI_Status st;
        if (!mpi_wait(0, MPI_ANY_TAG, &st))
            break;
        if (st.MPI_TAG == TAG_STOP) {
            MPI_Recv(buf, 0, MPI_CHAR, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            break;
        }
        if (mpi_recv_line(0, st.MPI_TAG, buf, sizeof buf, NULL) != 0)
            break;
        if (st.MPI_TAG != TAG_SPEC)
            continue;
        struct sched_spec sp;
        struct sched_result r;
        if (sched_spec_decode(&sp, buf) != 0) {
            memset(&r, 0, sizeof r);
            r.status = IDIM_ERR_INTERNAL;
            snprintf(r.msg, sizeof r.msg, "rank %d: malformed run spec", s->rank);
        } else {
            run_one(s, &sp, &r);
        }
        size_t n = sched_result_encode(&r, buf, sizeof buf);
        MPI_Send(buf, (int)n + 1, MPI_CHAR, 0, TAG_RESULT, MPI_COMM_WORLD);
    }
}

static enum idim_status mpi_start(struct sched *s, struct idim_err *err)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return idim_fail(err, IDIM_ERR_INTERNAL, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &s->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &s->size);
    s->kind = SCHED_MPI;
    s->n_slots = s->size - 1;
    if (s->n_slots > SCHED_MAX_SLOTS)
        return idim_fail(err, IDIM_ERR_USAGE, "mpirun: at most %d worker ranks, found %d",
                         SCHED_MAX_SLOTS, s->n_slots);
    if (s->rank > 0) {
        mpi_worker(s);
        s->is_worker = 1;
        return IDIM_OK;
    }
    /* Every worker says which binary it is and how many threads a run
     * gets; a mismatch would make results depend on the rank. */
    char buf[SCHED_LINE_MAX], want[256];
    snprintf(want, sizeof want, "hello %zu %d %s", sizeof(struct search_trial), s->threads,
             IDIM_VERSION);
    for (int i = 1; i < s->size; i++) {
        int from = 0;
        if (mpi_recv_line(i, TAG_HELLO, buf, sizeof buf, &from) != 0)
            return idim_fail(err, IDIM_ERR_INTERRUPTED, "interrupted while the ranks started");
        if (strcmp(buf, want) != 0)
            return idim_fail(err, IDIM_ERR_USAGE,
                             "mpirun: rank %d says '%s' but rank 0 is '%s': run the same idim "
                             "build with the same --threads-per-run on every rank",
                             from, buf, want);
    }
    return IDIM_OK;
}
#endif

/* ---- start, stop ---- */

enum idim_status sched_start(struct sched *s, int jobs, int threads, sched_trial_fn fn,
                             void *ctx, struct idim_err *err)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->ctx = ctx;
    s->threads = threads < 1 ? 1 : threads;
    s->size = 1;
    s->next_id = 1;
    int world = sched_mpi_env_size();
    if (world > 1) {
#ifdef IDIM_HAVE_MPI
        if (jobs > 1)
            return idim_fail(err, IDIM_ERR_USAGE,
                             "--jobs and mpirun exclude each other: under mpirun the worker "
                             "ranks are the slots (mpirun -np N gives N-1)");
        return mpi_start(s, err);
#else
        return idim_fail(err, IDIM_ERR_USAGE,
                         "this idim was built without MPI but was started by an MPI launcher "
                         "(%d processes); install Open MPI's development files (make deps) "
                         "and rebuild, or use --jobs N on one machine",
                         world);
#endif
    }
    if (jobs < 2)
        return IDIM_OK;
    if (jobs > SCHED_MAX_SLOTS)
        return idim_fail(err, IDIM_ERR_USAGE, "--jobs: at most %d, found %d", SCHED_MAX_SLOTS,
                         jobs);
    s->kind = SCHED_FORK;
    s->n_slots = jobs;
    /* a write to a dead worker's pipe must fail with EPIPE, not kill us */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &s->old_pipe);
    for (int i = 0; i < jobs; i++) {
        enum idim_status st = fork_spawn(s, i, err);
        if (st) {
            sched_stop(s);
            return st;
        }
    }
    return IDIM_OK;
}

void sched_stop(struct sched *s)
{
    if (!s)
        return;
    if (s->kind == SCHED_FORK) {
        for (int i = 0; i < s->n_slots; i++) {
            struct sched_slot *sl = &s->slot[i];
            if (sl->pid <= 0)
                continue;
            close(sl->fd_to); /* EOF: an idle worker exits */
            if (sl->busy)     /* a busy one stops its run at the next step */
                kill(sl->pid, SIGTERM);
            char why[64];
            fork_reap(sl->pid, why, sizeof why);
            close(sl->fd_from);
            sl->pid = 0;
            sl->busy = 0;
        }
        sigaction(SIGPIPE, &s->old_pipe, NULL);
    }
#ifdef IDIM_HAVE_MPI
    if (s->kind == SCHED_MPI) {
        if (s->rank == 0)
            for (int i = 1; i < s->size; i++)
                MPI_Send(NULL, 0, MPI_CHAR, i, TAG_STOP, MPI_COMM_WORLD);
        MPI_Finalize();
    }
#endif
    s->kind = SCHED_NONE;
}

/* ---- the run loop ---- */

/* Reaps dead worker i and forks a new one in its slot. */
static enum idim_status fork_restart(struct sched *s, int i, char *why, size_t why_cap,
                                     struct idim_err *err)
{
    struct sched_slot *sl = &s->slot[i];
    fork_reap(sl->pid, why, why_cap);
    close(sl->fd_to);
    close(sl->fd_from);
    sl->pid = 0;
    enum idim_status st = fork_spawn(s, i, err);
    if (st == IDIM_OK)
        s->n_restarts++;
    return st;
}

static enum idim_status submit(struct sched *s, int i, const struct sched_spec *sp,
                               struct idim_err *err)
{
    char buf[SCHED_LINE_MAX];
    size_t n = sched_spec_encode(sp, buf, sizeof buf);
    if (!n)
        return idim_fail(err, IDIM_ERR_INTERNAL, "run spec too long");
    struct sched_slot *sl = &s->slot[i];
    if (s->kind == SCHED_FORK && write_all(sl->fd_to, buf, n) != 0) {
        /* an idle worker died (EPIPE: SIGPIPE is ignored while workers run) */
        char why[64];
        enum idim_status st = fork_restart(s, i, why, sizeof why, err);
        if (st)
            return st;
        if (write_all(sl->fd_to, buf, n) != 0)
            return idim_fail(err, IDIM_ERR_INTERNAL, "worker %d: cannot send it a run: %s", i,
                             strerror(errno));
    }
#ifdef IDIM_HAVE_MPI
    if (s->kind == SCHED_MPI)
        MPI_Send(buf, (int)n + 1, MPI_CHAR, i + 1, TAG_SPEC, MPI_COMM_WORLD);
#endif
    sl->busy = 1;
    sl->spec = *sp;
    return IDIM_OK;
}

/* Waits for the next result of a busy slot. Returns IDIM_OK with *slot
 * and *r filled; IDIM_ERR_INTERRUPTED on Ctrl-C (nothing received); or an
 * error when a worker died twice on one run. A worker that dies the first
 * time is forked again and its run resent (*slot = -1, nothing received). */
static enum idim_status wait_result(struct sched *s, int *slot, struct sched_result *r,
                                    int stopping, struct idim_err *err)
{
    *slot = -1;
#ifdef IDIM_HAVE_MPI
    if (s->kind == SCHED_MPI) {
        char buf[SCHED_LINE_MAX];
        int from = 0;
        if (mpi_recv_line(MPI_ANY_SOURCE, TAG_RESULT, buf, sizeof buf, &from) != 0)
            return idim_fail(err, IDIM_ERR_INTERRUPTED, "interrupted");
        if (from < 1 || from > s->n_slots || sched_result_decode(r, buf) != 0)
            return idim_fail(err, IDIM_ERR_INTERNAL, "rank %d sent a malformed result", from);
        *slot = from - 1;
        return IDIM_OK;
    }
#endif
    for (;;) {
        struct pollfd pf[SCHED_MAX_SLOTS];
        int idx[SCHED_MAX_SLOTS], n = 0;
        for (int i = 0; i < s->n_slots; i++)
            if (s->slot[i].busy) {
                pf[n].fd = s->slot[i].fd_from;
                pf[n].events = POLLIN;
                pf[n].revents = 0;
                idx[n++] = i;
            }
        if (!n)
            return idim_fail(err, IDIM_ERR_INTERNAL, "waiting with no run in flight");
        if (idim_interrupted && !stopping)
            return idim_fail(err, IDIM_ERR_INTERRUPTED, "interrupted");
        int k = poll(pf, (nfds_t)n, 200);
        if (k < 0 && errno != EINTR)
            return idim_fail(err, IDIM_ERR_INTERNAL, "poll: %s", strerror(errno));
        if (k <= 0)
            continue;
        for (int j = 0; j < n; j++) {
            if (!pf[j].revents)
                continue;
            int i = idx[j];
            struct sched_slot *sl = &s->slot[i];
            ssize_t got = read(sl->fd_from, sl->buf + sl->n_buf, sizeof sl->buf - 1 - sl->n_buf);
            if (got < 0 && errno == EINTR)
                continue;
            if (got > 0) {
                sl->n_buf += (size_t)got;
                sl->buf[sl->n_buf] = 0;
                char *nl = memchr(sl->buf, '\n', sl->n_buf);
                if (!nl) {
                    if (sl->n_buf + 1 >= sizeof sl->buf)
                        return idim_fail(err, IDIM_ERR_INTERNAL, "worker %d: result too long",
                                         i);
                    continue;
                }
                *nl = 0;
                int bad = sched_result_decode(r, sl->buf);
                size_t rest = sl->n_buf - (size_t)(nl + 1 - sl->buf);
                memmove(sl->buf, nl + 1, rest);
                sl->n_buf = rest;
                if (bad)
                    return idim_fail(err, IDIM_ERR_INTERNAL, "worker %d sent a malformed result",
                                     i);
                *slot = i;
                return IDIM_OK;
            }
            /* EOF: the worker died in the middle of its run. */
            char why[64];
            if (stopping) {
                fork_reap(sl->pid, why, sizeof why);
                close(sl->fd_to);
                close(sl->fd_from);
                sl->pid = 0;
                sl->busy = 0;
                return IDIM_OK; /* *slot = -1: nothing to wait for there */
            }
            sl->busy = 0;
            struct sched_spec again = sl->spec;
            int retries = sl->retries;
            enum idim_status st = fork_restart(s, i, why, sizeof why, err);
            if (st)
                return st;
            if (retries >= 1)
                return idim_fail(err, IDIM_ERR_INTERNAL,
                                 "worker %d %s twice while training d=%ld lr=%g (out of "
                                 "memory?); finished runs are saved",
                                 i, why, again.d, again.lr);
            st = submit(s, i, &again, err);
            if (st)
                return st;
            sl->retries = 1;
            return IDIM_OK; /* *slot = -1 */
        }
    }
}

static int any_busy(const struct sched *s)
{
    for (int i = 0; i < s->n_slots; i++)
        if (s->slot[i].busy)
            return 1;
    return 0;
}

enum idim_status sched_run(struct sched *s, sched_plan_fn plan, void *plan_ctx,
                           struct search_state *st, struct idim_err *err)
{
    struct sched_spec running[SCHED_MAX_SLOTS], want[SCHED_MAX_SLOTS];
    enum idim_status rc = IDIM_OK;
    for (;;) {
        if (idim_interrupted) {
            rc = idim_fail(err, IDIM_ERR_INTERRUPTED, "interrupted; finished runs are saved%s%s",
                           st->path[0] ? " in " : "", st->path);
            break;
        }
        size_t n_run = 0, n_free = 0;
        for (int i = 0; i < s->n_slots; i++) {
            if (s->slot[i].busy)
                running[n_run++] = s->slot[i].spec;
            else
                n_free++;
        }
        size_t n_want = n_free ? plan(plan_ctx, st, running, n_run, want, n_free) : 0;
        for (size_t k = 0, i = 0; k < n_want && i < (size_t)s->n_slots; i++) {
            if (s->slot[i].busy)
                continue;
            want[k].id = s->next_id++;
            want[k].threads = s->threads;
            if ((rc = submit(s, (int)i, &want[k], err)))
                goto stop;
            k++;
        }
        if (!any_busy(s))
            break; /* nothing in flight and nothing wanted: done */
        int slot;
        struct sched_result r;
        if ((rc = wait_result(s, &slot, &r, 0, err)))
            goto stop;
        if (slot < 0)
            continue;
        s->slot[slot].busy = 0;
        s->slot[slot].retries = 0;
        if (r.status != IDIM_OK) {
            rc = r.status;
            idim_fail(err, rc, "%s", r.msg);
            break;
        }
        if ((rc = search_state_add(st, &r.trial, err)))
            break;
    }
stop:
    if (rc == IDIM_OK || !any_busy(s))
        return rc;
    /* Stopping: forked workers stop their runs at the next step (SIGTERM);
     * MPI ranks finish theirs. A run that still finishes is kept. */
    if (s->kind == SCHED_FORK)
        for (int i = 0; i < s->n_slots; i++)
            if (s->slot[i].busy)
                kill(s->slot[i].pid, SIGTERM);
    while (any_busy(s)) {
        int slot;
        struct sched_result r;
        struct idim_err e2;
        if (wait_result(s, &slot, &r, 1, &e2) != IDIM_OK)
            break;
        if (slot < 0)
            continue;
        s->slot[slot].busy = 0;
        if (r.status == IDIM_OK)
            search_state_add(st, &r.trial, &e2);
    }
    return rc;
}

/* ---- planners ---- */

enum idim_status sched_lookup_trial(void *ctx, long d, double lr, uint64_t seed,
                                    struct search_trial *out, struct idim_err *err)
{
    const struct search_trial *t = search_state_find(ctx, seed, d, lr);
    if (!t)
        return idim_fail(err, IDIM_ERR_INTERNAL,
                         "parallel search: run d=%ld lr=%g proj-seed %llu was never finished", d,
                         lr, (unsigned long long)seed);
    *out = *t;
    return IDIM_OK;
}

static int same_run(const struct sched_spec *a, uint64_t seed, long d, double lr)
{
    return a->seed == seed && a->d == d && a->lr == lr;
}

/* Adds (seed, d, lr) to want unless finished, in flight or already there. */
static void want_add(const struct search_state *st, const struct sched_spec *running,
                     size_t n_running, struct sched_spec *want, size_t *n, size_t cap,
                     uint64_t seed, long d, double lr, int threads, double target)
{
    if (*n >= cap || search_state_find(st, seed, d, lr))
        return;
    for (size_t i = 0; i < n_running; i++)
        if (same_run(&running[i], seed, d, lr))
            return;
    for (size_t i = 0; i < *n; i++)
        if (same_run(&want[i], seed, d, lr))
            return;
    struct sched_spec *w = &want[(*n)++];
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->d = d;
    w->lr = lr;
    w->threads = threads;
    w->target = target;
}

size_t sched_plan_list(void *plan_ctx, const struct search_state *st,
                       const struct sched_spec *running, size_t n_running,
                       struct sched_spec *want, size_t cap)
{
    const struct sched_list_plan *p = plan_ctx;
    size_t n = 0;
    for (size_t i = 0; i < p->n_d && n < cap; i++) {
        int k = p->d[i] > 0;
        uint64_t seed = k ? p->seed : 0;
        for (int j = 0; j < p->n_lr[k]; j++)
            want_add(st, running, n_running, want, &n, cap, seed, p->d[i], p->lr[k][j],
                     p->threads, NAN);
    }
    return n;
}

/* A node of the speculation tree: one assumed outcome of one unfinished
 * run, on top of its parent's assumptions (-1: a search's root). */
struct spec_node {
    int cfg;            /* which search (projection seed) */
    int parent;
    uint64_t seed;
    long d;
    double lr;
    int met;            /* assumed: meets the target, or not */
};

#define REPLAY_MAX_NEED 64

struct replay {
    const struct search_state *st;
    const struct spec_node *nodes;
    int leaf;           /* the node whose assumptions apply, or -1 */
    double target;
    int pending;        /* the replay stopped at an unfinished run ... */
    uint64_t seed;      /* ... this one */
    long d;
    double lr;
    size_t n_need;      /* unfinished runs whose outcome the assumptions imply */
    struct sched_spec need[REPLAY_MAX_NEED];
};

/* Stand-in metrics for assumed outcomes: finite, valid, and on the right
 * side of any finite target. */
#define ASSUME_MET 1e300
#define ASSUME_FAILED (-1e300)

/* The outcome of an unfinished run (seed, d, lr) that the assumptions and
 * the finished runs imply when the metric rises with d (same seed and lr):
 * 1 met (something met at a d' <= d), 0 not met (something failed at a
 * d' >= d), -1 open. Only for ordering the speculation: the path the search
 * takes is decided by the real runs alone. */
static int implied(const struct replay *rp, uint64_t seed, long d, double lr)
{
    if (d <= 0 || !isfinite(rp->target))
        return -1;
    for (int i = rp->leaf; i >= 0; i = rp->nodes[i].parent) {
        const struct spec_node *nd = &rp->nodes[i];
        if (nd->d > 0 && nd->seed == seed && nd->lr == lr) {
            if (nd->met && nd->d <= d)
                return 1;
            if (!nd->met && nd->d >= d)
                return 0;
        }
    }
    for (size_t i = 0; i < rp->st->n; i++) {
        const struct search_trial *t = &rp->st->trials[i];
        if (t->d > 0 && t->seed == seed && t->lr == lr) {
            int met = search_trial_meets(t, rp->target);
            if (met && t->d <= d)
                return 1;
            if (!met && t->d >= d)
                return 0;
        }
    }
    return -1;
}

static enum idim_status replay_trial(void *ctx, long d, double lr, uint64_t seed,
                                     struct search_trial *out, struct idim_err *err)
{
    struct replay *rp = ctx;
    const struct search_trial *t = search_state_find(rp->st, seed, d, lr);
    if (t) {
        *out = *t;
        return IDIM_OK;
    }
    for (int i = rp->leaf; i >= 0; i = rp->nodes[i].parent) {
        const struct spec_node *nd = &rp->nodes[i];
        if (nd->seed == seed && nd->d == d && nd->lr == lr) {
            out->metric = nd->met ? ASSUME_MET : ASSUME_FAILED;
            return IDIM_OK;
        }
    }
    int im = implied(rp, seed, d, lr);
    if (im >= 0 && rp->n_need < REPLAY_MAX_NEED) {
        /* needed on this branch, but no branching on it */
        struct sched_spec *w = &rp->need[rp->n_need++];
        memset(w, 0, sizeof *w);
        w->seed = seed;
        w->d = d;
        w->lr = lr;
        out->metric = im ? ASSUME_MET : ASSUME_FAILED;
        return IDIM_OK;
    }
    rp->pending = 1;
    rp->seed = seed;
    rp->d = d;
    rp->lr = lr;
    return idim_fail(err, IDIM_ERR_INTERRUPTED, "pending");
}

#define PLAN_MAX_NODES 4096
#define PLAN_MAX_REPLAYS 2048

size_t sched_plan_search(void *plan_ctx, const struct search_state *st,
                         const struct sched_spec *running, size_t n_running,
                         struct sched_spec *want, size_t cap)
{
    const struct sched_search_plan *p = plan_ctx;
    size_t n = 0;
    double target = p->threshold * p->baseline;
    if (p->base) {
        int missing = 0;
        for (int j = 0; j < p->base->n_lr; j++)
            if (!search_state_find(st, 0, 0, p->base->lr[j])) {
                missing = 1;
                want_add(st, running, n_running, want, &n, cap, 0, 0, p->base->lr[j],
                         p->threads, NAN);
            }
        if (missing) {
            target = INFINITY; /* unknown: plan the "not met" path only */
        } else {
            struct search_probe pr;
            struct idim_err e;
            if (search_probe_d(p->base, 0, sched_lookup_trial, (void *)st, NULL, &pr, &e) !=
                IDIM_OK)
                return n;
            double b = pr.best.metric;
            if (p->guard && (pr.best.majority_only ||
                             (isfinite(p->guard_majority) &&
                              !(b - p->guard_majority >= p->guard_margin))))
                return n; /* the caller stops before the search (the guard) */
            target = p->threshold * b;
        }
    }
    if (isnan(target))
        return n; /* the sequential search reports why */
    for (size_t i = 0; i < p->n_cfg; i++)
        if (p->cfg[i].early_stop && !isfinite(target))
            return n; /* runs stop at the target: wait for it */
    int branch = isfinite(target);

    struct spec_node *nodes = malloc(PLAN_MAX_NODES * sizeof *nodes);
    struct search_result *res = malloc(sizeof *res);
    struct replay *rpbuf = malloc(sizeof *rpbuf);
    if (!nodes || !res || !rpbuf) {
        free(nodes);
        free(res);
        free(rpbuf);
        return n;
    }
    /* Breadth-first over (search, assumptions): queue = nodes[head..tail). */
    int tail = 0;
    for (size_t i = 0; i < p->n_cfg && tail < PLAN_MAX_NODES; i++)
        nodes[tail++] = (struct spec_node){.cfg = (int)i, .parent = -1, .d = -1};
    for (int head = 0, replays = 0; head < tail && n < cap && replays < PLAN_MAX_REPLAYS;
         head++, replays++) {
        const struct spec_node *nd = &nodes[head];
        struct search_config cfg = p->cfg[nd->cfg];
        cfg.target = target;
        /* a root's own entry carries no assumption */
        struct replay *rp = rpbuf;
        memset(rp, 0, sizeof *rp);
        rp->st = st;
        rp->nodes = nodes;
        rp->leaf = nd->d < 0 ? -1 : head;
        rp->target = target;
        struct idim_err e;
        search_run(&cfg, replay_trial, rp, NULL, res, &e);
        for (size_t i = 0; i < rp->n_need; i++)
            want_add(st, running, n_running, want, &n, cap, rp->need[i].seed, rp->need[i].d,
                     rp->need[i].lr, p->threads, target);
        if (!rp->pending)
            continue; /* this branch of the search is complete */
        want_add(st, running, n_running, want, &n, cap, rp->seed, rp->d, rp->lr, p->threads,
                 target);
        for (int met = 0; met <= branch && tail < PLAN_MAX_NODES; met++)
            nodes[tail++] = (struct spec_node){.cfg = nd->cfg, .parent = head, .seed = rp->seed,
                                               .d = rp->d, .lr = rp->lr, .met = met};
    }
    free(nodes);
    free(res);
    free(rpbuf);
    return n;
}
