/* fileio.h - whole-file reads and the one output function, shared by every stage.
 *
 * Every output of every command goes through fileio_out_open/_write/_commit
 * (or fileio_write_atomic, which wraps them). What happens depends on what the
 * path names, after following symlinks:
 *   - nothing yet, or a regular file: the bytes go to a temp file in the same
 *     folder, which is fsync'd and renamed over the target on commit, then the
 *     folder is fsync'd. The temp file is anonymous (O_TMPFILE, linked on
 *     commit) where the filesystem supports it, so a killed run leaves nothing
 *     behind; elsewhere it is "<target>.tmp.<pid>", and opening an output
 *     removes such files left by processes that no longer run. An existing
 *     file keeps its permission bits.
 *   - a symlink: its final target is replaced as above; the link stays.
 *   - a character device or FIFO, and /dev/stdout, /dev/stderr, /dev/fd/N:
 *     written in place (the standard streams through a dup of the process's
 *     own descriptor, so `> file` and `>> file` behave as the shell says);
 *     every write is checked (a full device gives IDIM_ERR_WRITE), nothing is
 *     renamed over it.
 *   - anything else (folder, socket, block device): refused, IDIM_ERR_WRITE. */
#ifndef IDIM_FILEIO_H
#define IDIM_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* Readers refuse files larger than this unless they pass their own limit. */
#define FILEIO_READ_MAX ((size_t)1 << 30)

/* Reads the whole file into a malloc'd, NUL-terminated buffer (*out, owned
 * by the caller; *n bytes, the NUL not counted). The path must name a
 * regular file of at most max_bytes (0 = FILEIO_READ_MAX); a folder, device
 * or FIFO is refused before reading. Returns IDIM_OK, IDIM_ERR_IO (missing,
 * unreadable, not a regular file: message names path and the reason),
 * IDIM_ERR_FORMAT (larger than the limit) or IDIM_ERR_NOMEM. */
enum idim_status fileio_read_limit(const char *path, size_t max_bytes, char **out, size_t *n,
                                   struct idim_err *err);

/* fileio_read_limit with the default limit. */
enum idim_status fileio_read_all(const char *path, char **out, size_t *n, struct idim_err *err);

/* Checks that path names a regular file (following symlinks) of at most
 * max_bytes and returns its size in *size. IDIM_ERR_IO or IDIM_ERR_FORMAT
 * as fileio_read_limit. */
enum idim_status fileio_check_input(const char *path, size_t max_bytes, uint64_t *size,
                                    struct idim_err *err);

/* fopen(path, "rb") for a reader that needs a regular file (it seeks,
 * maps or reads line by line without its own bound): a folder, FIFO,
 * device or socket is refused with IDIM_ERR_IO, a file above max_bytes (0 =
 * FILEIO_READ_MAX) with IDIM_ERR_FORMAT. Returns NULL with *st set on
 * failure. */
FILE *fileio_open_input(const char *path, size_t max_bytes, enum idim_status *st,
                        struct idim_err *err);

enum fileio_mode {
    FILEIO_REPLACE = 1, /* temp file renamed over the target on commit */
    FILEIO_STREAM = 2,  /* device, FIFO or standard stream, written in place */
};

/* One output being written. Fields are private to fileio.c except mode. */
struct fileio_out {
    int fd;              /* descriptor written to, -1 when closed */
    enum fileio_mode mode;
    char *path;          /* path as given, for messages (owned copy) */
    char *target;        /* resolved target (symlinks followed; owned) */
    char *tmp;           /* named temp file (fallback), NULL with O_TMPFILE */
    unsigned char *buf;  /* write buffer, FILEIO_BUF bytes */
    size_t n_buf;        /* bytes waiting in buf */
    uint64_t pos;        /* bytes written so far (including buf) */
    int err;             /* first errno of a failed write, 0 if none */
};

/* Opens an output as described at the top. On success o owns a descriptor
 * and buffers; finish with fileio_out_commit (publishes) or fileio_out_abort
 * (discards; an in-place stream keeps what was written). Returns IDIM_OK or
 * IDIM_ERR_WRITE naming the path and the reason (folder, socket, missing
 * parent, permission) or IDIM_ERR_NOMEM. */
enum idim_status fileio_out_open(struct fileio_out *o, const char *path, struct idim_err *err);

/* Appends n bytes. Errors are remembered and reported by the next
 * fileio_out_write or fileio_out_commit: returns IDIM_OK or IDIM_ERR_WRITE. */
enum idim_status fileio_out_write(struct fileio_out *o, const void *p, size_t n,
                                  struct idim_err *err);

/* Overwrites n bytes at offset off (< bytes written so far), for a header
 * field known only at the end. Only for FILEIO_REPLACE outputs (asserted);
 * IDIM_OK or IDIM_ERR_WRITE. */
enum idim_status fileio_out_patch(struct fileio_out *o, uint64_t off, const void *p, size_t n,
                                  struct idim_err *err);

/* Flushes, fsyncs and publishes (rename over the target; for a stream only
 * flush). Frees o's resources whatever the result. IDIM_OK or IDIM_ERR_WRITE
 * (disk full, device full, rename failed). */
enum idim_status fileio_out_commit(struct fileio_out *o, struct idim_err *err);

/* Discards an unfinished output and frees o (safe on a zeroed struct or
 * after commit). */
void fileio_out_abort(struct fileio_out *o);

/* Checks up front that path can be an output (fileio_out_open's rules)
 * without writing anything to it: long runs call this before their first
 * hour of work. IDIM_OK or IDIM_ERR_WRITE. */
enum idim_status fileio_out_check(const char *path, struct idim_err *err);

/* 1 when path names this process's standard output (/dev/stdout,
 * /dev/fd/1, /proc/self/fd/1). */
int fileio_is_stdout(const char *path);

/* For a command whose output file is standard output: keeps the real
 * standard output for fileio_out ("/dev/stdout" then means it) and sends
 * descriptor 1 - the command's own messages - to standard error, so the
 * file's bytes are not mixed with text. IDIM_OK or IDIM_ERR_WRITE. */
enum idim_status fileio_move_stdout(struct idim_err *err);

/* Writes data[0..len) to path through fileio_out. IDIM_OK or IDIM_ERR_WRITE
 * naming path and the reason. */
enum idim_status fileio_write_atomic(const char *path, const void *data, size_t len,
                                     struct idim_err *err);

/* A scratch path for an output written several times before one version is
 * kept (e.g. one run per learning rate): "<target>.run.<pid>" beside the
 * resolved target when that is replaced atomically, else in $TMPDIR (or
 * /tmp). Written into buf (cap bytes). IDIM_OK or IDIM_ERR_WRITE. */
enum idim_status fileio_scratch_path(const char *path, char *buf, size_t cap,
                                     struct idim_err *err);

/* Publishes the finished file src as path (fileio_out rules): renamed over a
 * regular target on the same filesystem, else copied through fileio_out;
 * src is removed in every case. IDIM_OK, IDIM_ERR_IO (src unreadable) or
 * IDIM_ERR_WRITE. */
enum idim_status fileio_publish(const char *src, const char *path, struct idim_err *err);

#endif
