/* status.h - status codes, error messages and the exit-code map.
 *
 * Every library function that can fail on bad input returns an
 * enum idim_status and fills a struct idim_err with one sentence that names
 * the file (or flag, or field) and what is wrong. Library code never prints
 * and never exits; only src/main.c turns a status into an exit code.
 * Our own bugs are assert()s, never checks on bytes from disk. */
#ifndef IDIM_STATUS_H
#define IDIM_STATUS_H

#include <stddef.h>

enum idim_status {
    IDIM_OK = 0,
    IDIM_ERR_INTERNAL = 1,  /* a bug or an impossible state: exit 1 */
    IDIM_ERR_USAGE = 2,     /* bad flag or argument combination: exit 2 */
    IDIM_ERR_IO = 3,        /* input missing or unreadable: exit 3 */
    IDIM_ERR_FORMAT = 4,    /* input readable but invalid (corrupt file, bad row): exit 3 */
    IDIM_ERR_NOMEM = 5,     /* out of memory: exit 4 */
    IDIM_ERR_WRITE = 6,     /* output not writable, disk full: exit 4 */
    IDIM_ERR_NOT_REACHED = 7, /* run finished but no d reached the target: exit 5 */
    IDIM_ERR_INTERRUPTED = 8, /* Ctrl-C / SIGTERM; state saved: exit 130 */
    IDIM_ERR_DIVERGED = 9,  /* training loss became NaN/Inf (reported, not fatal for grids) */
    IDIM_ERR_CHECK = 10,    /* `idim check`: the d90 is outside the tolerance: exit 6 */
};

/* Exit codes (documented in `idim --help` and README.md). */
#define IDIM_EXIT_OK 0
#define IDIM_EXIT_INTERNAL 1
#define IDIM_EXIT_USAGE 2
#define IDIM_EXIT_INPUT 3
#define IDIM_EXIT_OUTPUT 4
#define IDIM_EXIT_NOT_REACHED 5
#define IDIM_EXIT_CHECK 6
#define IDIM_EXIT_INTERRUPTED 130

struct idim_err {
    char msg[512]; /* one sentence, without the "idim: " prefix or newline */
};

/* Formats err->msg printf-style and returns st, so callers can write
 * `return idim_fail(err, IDIM_ERR_FORMAT, "%s: bad magic", path);`.
 * err may be NULL (the message is then dropped). */
enum idim_status idim_fail(struct idim_err *err, enum idim_status st,
                           const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Copies src[0..n) to dst (cap bytes, always NUL-terminated) with every
 * byte that could act on a terminal or is not UTF-8 - control characters,
 * DEL, C1 controls, invalid or overlong sequences - written as \xNN, so
 * input bytes quoted in a message are shown, never executed. idim_fail
 * applies it to every message. Stops before an escape that would not fit;
 * returns the length written. */
size_t idim_escape(char *dst, size_t cap, const char *src, size_t n);

/* s escaped as idim_escape does, for messages printed directly (warnings,
 * notes, "wrote PATH"): returns one of 8 per-thread buffers of 1 KiB in turn,
 * so up to 8 may appear in one printf. NULL gives "(null)". */
const char *idim_esc(const char *s);

/* Maps a status to the process exit code above. */
int idim_exit_code(enum idim_status st);

/* A short English name for a status ("input format error", ...). */
const char *idim_status_name(enum idim_status st);

/* Set by the SIGINT/SIGTERM handler that main.c installs; long-running
 * library loops poll it and return IDIM_ERR_INTERRUPTED after saving. */
extern volatile int idim_interrupted;

/* The folder holding idim's scripts/, data/demo and docs/ (an installed
 * idim: PREFIX/share/idim; a checkout: the checkout), for hints and help
 * examples; set once by main.c, NULL when not found. */
extern const char *idim_share_dir;

#endif
