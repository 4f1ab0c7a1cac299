/* fileio.c - whole-file reads with a size limit, and the one output
 * function (see fileio.h for the rules per kind of target). */
#include "fileio.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILEIO_BUF ((size_t)1 << 20)

/* ------------------------------------------------------------------ reading */

static const char *kind_name(mode_t m)
{
    if (S_ISDIR(m))
        return "a folder";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISFIFO(m))
        return "a FIFO";
    return "not a regular file";
}

enum idim_status fileio_check_input(const char *path, size_t max_bytes, uint64_t *size,
                                    struct idim_err *err)
{
    struct stat sb;
    if (!max_bytes)
        max_bytes = FILEIO_READ_MAX;
    if (stat(path, &sb) != 0)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return idim_fail(err, IDIM_ERR_IO, "%s: is %s, not a file", path, kind_name(sb.st_mode));
    if ((uint64_t)sb.st_size > (uint64_t)max_bytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: %llu bytes: expected at most %zu for this kind of file", path,
                         (unsigned long long)sb.st_size, max_bytes);
    if (size)
        *size = (uint64_t)sb.st_size;
    return IDIM_OK;
}

FILE *fileio_open_input(const char *path, size_t max_bytes, enum idim_status *st,
                        struct idim_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (!max_bytes)
        max_bytes = FILEIO_READ_MAX;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *st = idim_fail(err, IDIM_ERR_IO, "%s: is %s, not a file", path, kind_name(sb.st_mode));
    } else if ((uint64_t)sb.st_size > (uint64_t)max_bytes) {
        *st = idim_fail(err, IDIM_ERR_FORMAT,
                        "%s: %llu bytes: expected at most %zu for this kind of file", path,
                        (unsigned long long)sb.st_size, max_bytes);
    } else {
        *st = IDIM_OK;
        return f;
    }
    fclose(f);
    return NULL;
}

enum idim_status fileio_read_limit(const char *path, size_t max_bytes, char **out, size_t *n,
                                   struct idim_err *err)
{
    *out = NULL;
    *n = 0;
    if (!max_bytes)
        max_bytes = FILEIO_READ_MAX;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    /* a FIFO or character device (`<(zcat train.tsv)`) is read up to the
     * limit; folders, sockets and block devices are not inputs */
    if (!S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode) && !S_ISCHR(sb.st_mode)) {
        close(fd);
        return idim_fail(err, IDIM_ERR_IO, "%s: is %s, not a file", path, kind_name(sb.st_mode));
    }
    if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > (uint64_t)max_bytes) {
        close(fd);
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: %llu bytes: expected at most %zu for this kind of file", path,
                         (unsigned long long)sb.st_size, max_bytes);
    }
    size_t cap = S_ISREG(sb.st_mode) ? (size_t)sb.st_size + 1 : 65536, len = 0;
    char *buf = malloc(cap + 1);
    enum idim_status st = IDIM_OK;
    if (!buf) {
        close(fd);
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory reading the file", path);
    }
    for (;;) {
        if (len == cap) {
            if (cap > max_bytes) {
                st = idim_fail(err, IDIM_ERR_FORMAT,
                               "%s: more than %zu bytes: expected at most that for this kind "
                               "of file", path, max_bytes);
                break;
            }
            size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            st = idim_fail(err, IDIM_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (st == IDIM_OK && len > max_bytes)
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: more than %zu bytes: expected at most that for this kind of file",
                       path, max_bytes);
    if (st) {
        free(buf);
        return st;
    }
    buf[len] = 0;
    *out = buf;
    *n = len;
    return IDIM_OK;
}

enum idim_status fileio_read_all(const char *path, char **out, size_t *n, struct idim_err *err)
{
    return fileio_read_limit(path, 0, out, n, err);
}

/* ------------------------------------------------------------------ writing */

static char *dup_str(const char *s)
{
    size_t k = strlen(s) + 1;
    char *p = malloc(k);
    if (p)
        memcpy(p, s, k);
    return p;
}

/* malloc'd "a" + "b" + "c" */
static char *cat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = malloc(la + lb + lc + 1);
    if (p) {
        memcpy(p, a, la);
        memcpy(p + la, b, lb);
        memcpy(p + la + lb, c, lc + 1);
    }
    return p;
}

/* malloc'd folder part of path ("." when none) */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dup_str(".");
    if (slash == path)
        return dup_str("/");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = 0;
    }
    return d;
}

static int stdout_fd = 1; /* where "/dev/stdout" goes (fileio_move_stdout) */

/* The process's own descriptor when path is one of its standard streams or
 * /dev/fd/N (written through a dup, so the shell's redirection holds), else -1. */
static int std_stream_fd(const char *path)
{
    if (!strcmp(path, "/dev/stdout") || !strcmp(path, "/dev/fd/1") ||
        !strcmp(path, "/proc/self/fd/1"))
        return stdout_fd;
    if (!strcmp(path, "/dev/stderr"))
        return 2;
    const char *num = NULL;
    if (!strncmp(path, "/dev/fd/", 8))
        num = path + 8;
    else if (!strncmp(path, "/proc/self/fd/", 14))
        num = path + 14;
    if (!num || !*num)
        return -1;
    long v = 0;
    for (const char *c = num; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000)
            return -1;
        v = v * 10 + (*c - '0');
    }
    return (int)v;
}

int fileio_is_stdout(const char *path)
{
    return std_stream_fd(path) == stdout_fd;
}

enum idim_status fileio_move_stdout(struct idim_err *err)
{
    fflush(stdout);
    int keep = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (keep < 0 || dup2(2, 1) < 0)
        return idim_fail(err, IDIM_ERR_WRITE, "/dev/stdout: cannot take over: %s",
                         strerror(errno));
    stdout_fd = keep;
    return IDIM_OK;
}

/* Follows a chain of symlinks to the path that is finally written (which may
 * not exist yet). *std_fd is set when the chain reaches a standard stream. */
static enum idim_status resolve(const char *path, char **out, int *std_fd, struct idim_err *err)
{
    char *cur = dup_str(path);
    *std_fd = -1;
    for (int hop = 0; cur; hop++) {
        if ((*std_fd = std_stream_fd(cur)) >= 0) {
            *out = cur;
            return IDIM_OK;
        }
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) {
            *out = cur;
            return IDIM_OK;
        }
        if (hop == 40) {
            free(cur);
            return idim_fail(err, IDIM_ERR_WRITE, "%s: too many levels of symbolic links",
                             path);
        }
        char link[4096];
        ssize_t k = readlink(cur, link, sizeof link - 1);
        if (k < 0) {
            int e = errno;
            free(cur);
            return idim_fail(err, IDIM_ERR_WRITE, "%s: cannot read the link: %s", path,
                             strerror(e));
        }
        link[k] = 0;
        char *next;
        if (link[0] == '/' || !strchr(cur, '/')) {
            next = dup_str(link);
        } else {
            char *d = dir_of(cur);
            next = d ? cat3(d, "/", link) : NULL;
            free(d);
        }
        free(cur);
        cur = next;
    }
    return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
}

static int pid_is_dead(const char *digits)
{
    if (!*digits)
        return 0;
    long v = 0;
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000000)
            return 0;
        v = v * 10 + (*c - '0');
    }
    if (v <= 0 || v == (long)getpid())
        return 0;
    return kill((pid_t)v, 0) != 0 && errno == ESRCH;
}

/* Removes "<base>.tmp.<pid>" and "<base>.run.<pid>" left in target's folder by
 * idim processes that were killed (their pid no longer runs). */
static void sweep_stale(const char *target)
{
    char *dir = dir_of(target);
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    size_t lb = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *nm = e->d_name;
            if (strncmp(nm, base, lb) != 0)
                continue;
            const char *rest = nm + lb;
            if ((!strncmp(rest, ".tmp.", 5) || !strncmp(rest, ".run.", 5)) && pid_is_dead(rest + 5))
                (void)unlinkat(dirfd(d), nm, 0);
        }
        closedir(d);
    }
    free(dir);
}

/* fsync the folder holding path, so that a rename into it is durable. */
static void sync_dir(const char *path)
{
    char *dir = dir_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Decides the mode for path; *target is the resolved path (owned) and
 * *std_fd a standard stream's descriptor or -1. *existing is set to the
 * mode of an existing regular target (0 when new). */
static enum idim_status classify(const char *path, char **target, int *std_fd,
                                 enum fileio_mode *mode, mode_t *existing, struct idim_err *err)
{
    *existing = 0;
    enum idim_status st = resolve(path, target, std_fd, err);
    if (st)
        return st;
    if (*std_fd >= 0) {
        int fl = fcntl(*std_fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
            free(*target);
            *target = NULL;
            return idim_fail(err, IDIM_ERR_WRITE, "%s: not open for writing in this process",
                             path);
        }
        *mode = FILEIO_STREAM;
        return IDIM_OK;
    }
    struct stat sb;
    if (stat(*target, &sb) != 0) {
        if (errno == ENOENT) {
            *mode = FILEIO_REPLACE;
            return IDIM_OK;
        }
        st = idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create: %s", path, strerror(errno));
    } else if (S_ISREG(sb.st_mode)) {
        *mode = FILEIO_REPLACE;
        *existing = sb.st_mode & 07777;
        return IDIM_OK;
    } else if (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode)) {
        *mode = FILEIO_STREAM;
        return IDIM_OK;
    } else {
        st = idim_fail(err, IDIM_ERR_WRITE, "%s: is %s; outputs go to a file, a character "
                       "device or a FIFO", path, kind_name(sb.st_mode));
    }
    free(*target);
    *target = NULL;
    return st;
}

/* Opens the temp file for a REPLACE output: anonymous where the filesystem
 * allows, else "<target>.tmp.<pid>" (o->tmp). Returns the fd or -1 (errno). */
static int open_temp(struct fileio_out *o, mode_t existing)
{
    char *dir = dir_of(o->target);
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    mode_t perm = existing ? existing : 0666;
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, perm);
    int e = errno;
#else
    int e = EOPNOTSUPP;
#endif
    free(dir);
    if (fd < 0 && (e == EOPNOTSUPP || e == EISDIR || e == EINVAL)) {
        char pid[32];
        snprintf(pid, sizeof pid, ".tmp.%ld", (long)getpid());
        o->tmp = cat3(o->target, pid, "");
        if (!o->tmp) {
            errno = ENOMEM;
            return -1;
        }
        (void)unlink(o->tmp);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, perm);
        if (fd < 0) {
            e = errno;
            free(o->tmp);
            o->tmp = NULL;
        }
    }
    if (fd >= 0 && existing)
        (void)fchmod(fd, existing); /* umask must not narrow an existing file's mode */
    errno = e;
    return fd;
}

static void out_free(struct fileio_out *o)
{
    if (o->fd >= 0)
        close(o->fd);
    if (o->tmp)
        (void)unlink(o->tmp);
    free(o->tmp);
    free(o->target);
    free(o->path);
    free(o->buf);
    memset(o, 0, sizeof *o);
    o->fd = -1;
}

enum idim_status fileio_out_open(struct fileio_out *o, const char *path, struct idim_err *err)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    int std_fd;
    mode_t existing;
    enum idim_status st = classify(path, &o->target, &std_fd, &o->mode, &existing, err);
    if (st)
        return st;
    o->path = dup_str(path);
    o->buf = malloc(FILEIO_BUF);
    if (!o->path || !o->buf) {
        out_free(o);
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (std_fd >= 0) {
        o->fd = fcntl(std_fd, F_DUPFD_CLOEXEC, 3);
    } else if (o->mode == FILEIO_STREAM) {
        /* no O_TRUNC, no O_CREAT: a device or FIFO is written, never made */
        o->fd = open(o->target, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    } else {
        sweep_stale(o->target);
        o->fd = open_temp(o, existing);
    }
    if (o->fd < 0) {
        int e = errno;
        out_free(o);
        /* a FIFO with no reader blocks in open(2); Ctrl-C ends the wait (no
         * SA_RESTART) and is an interruption, not a write error */
        if (e == EINTR && idim_interrupted)
            return idim_fail(err, IDIM_ERR_INTERRUPTED,
                             "%s: interrupted while waiting for a reader; nothing written", path);
        return idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create: %s", path, strerror(e));
    }
    return IDIM_OK;
}

static void flush_buf(struct fileio_out *o)
{
    size_t off = 0;
    while (!o->err && off < o->n_buf) {
        ssize_t k = write(o->fd, o->buf + off, o->n_buf - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            o->err = k < 0 ? errno : EIO;
        else
            off += (size_t)k;
    }
    o->n_buf = 0;
}

static enum idim_status write_failed(struct fileio_out *o, struct idim_err *err)
{
    return idim_fail(err, IDIM_ERR_WRITE, "%s: write failed after %llu bytes: %s", o->path,
                     (unsigned long long)o->pos, strerror(o->err));
}

enum idim_status fileio_out_write(struct fileio_out *o, const void *p, size_t n,
                                  struct idim_err *err)
{
    const unsigned char *c = p;
    while (n > 0 && !o->err) {
        size_t k = FILEIO_BUF - o->n_buf;
        if (k > n)
            k = n;
        memcpy(o->buf + o->n_buf, c, k);
        o->n_buf += k;
        o->pos += k;
        c += k;
        n -= k;
        if (o->n_buf == FILEIO_BUF)
            flush_buf(o);
    }
    return o->err ? write_failed(o, err) : IDIM_OK;
}

enum idim_status fileio_out_patch(struct fileio_out *o, uint64_t off, const void *p, size_t n,
                                  struct idim_err *err)
{
    assert(o->mode == FILEIO_REPLACE && off + n <= o->pos);
    flush_buf(o);
    while (!o->err && n > 0) {
        ssize_t k = pwrite(o->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            o->err = k < 0 ? errno : EIO;
            break;
        }
        p = (const unsigned char *)p + k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return o->err ? write_failed(o, err) : IDIM_OK;
}

/* Gives the anonymous temp file a name beside the target. */
static int link_anon(struct fileio_out *o)
{
    char pid[32];
    snprintf(pid, sizeof pid, ".tmp.%ld", (long)getpid());
    o->tmp = cat3(o->target, pid, "");
    if (!o->tmp)
        return ENOMEM;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        int e = errno;
#ifdef AT_EMPTY_PATH
        if (e == ENOENT && linkat(o->fd, "", AT_FDCWD, o->tmp, AT_EMPTY_PATH) == 0)
            return 0;
#endif
        if (e != EEXIST || attempt) {
            free(o->tmp);
            o->tmp = NULL;
            return e;
        }
        (void)unlink(o->tmp);
    }
    return EEXIST;
}

enum idim_status fileio_out_commit(struct fileio_out *o, struct idim_err *err)
{
    flush_buf(o);
    if (o->err) {
        enum idim_status st = write_failed(o, err);
        out_free(o);
        return st;
    }
    int e = 0;
    const char *what = "write failed";
    if (o->mode == FILEIO_REPLACE) {
        if (fsync(o->fd) != 0 && errno != EINVAL)
            e = errno;
        if (!e && !o->tmp) {
            e = link_anon(o);
            what = "cannot name the finished file";
        }
        if (!e && rename(o->tmp, o->target) != 0) {
            e = errno;
            what = "cannot rename the finished file over it";
        }
        if (!e) {
            free(o->tmp);
            o->tmp = NULL;
        }
    }
    int fd = o->fd;
    o->fd = -1;
    if (close(fd) != 0 && !e && errno != EINTR)
        e = errno;
    if (e) {
        enum idim_status st = idim_fail(err, IDIM_ERR_WRITE, "%s: %s: %s", o->path, what,
                                        strerror(e));
        out_free(o);
        return st;
    }
    if (o->mode == FILEIO_REPLACE)
        sync_dir(o->target);
    out_free(o);
    return IDIM_OK;
}

void fileio_out_abort(struct fileio_out *o)
{
    if (o->path || o->fd >= 0 || o->buf)
        out_free(o);
}

enum idim_status fileio_out_check(const char *path, struct idim_err *err)
{
    char *target = NULL;
    int std_fd;
    enum fileio_mode mode;
    mode_t existing;
    enum idim_status st = classify(path, &target, &std_fd, &mode, &existing, err);
    if (st)
        return st;
    if (mode == FILEIO_STREAM) {
        /* opening a FIFO would wait for its reader: check permission only */
        if (std_fd < 0 && access(target, W_OK) != 0)
            st = idim_fail(err, IDIM_ERR_WRITE, "%s: cannot write: %s", path, strerror(errno));
        free(target);
        return st;
    }
    struct fileio_out o;
    memset(&o, 0, sizeof o);
    o.target = target;
    o.fd = open_temp(&o, existing);
    if (o.fd < 0)
        st = idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create: %s", path, strerror(errno));
    out_free(&o);
    return st;
}

enum idim_status fileio_write_atomic(const char *path, const void *data, size_t len,
                                     struct idim_err *err)
{
    struct fileio_out o;
    enum idim_status st = fileio_out_open(&o, path, err);
    if (st)
        return st;
    if ((st = fileio_out_write(&o, data, len, err))) {
        fileio_out_abort(&o);
        return st;
    }
    return fileio_out_commit(&o, err);
}

enum idim_status fileio_scratch_path(const char *path, char *buf, size_t cap,
                                     struct idim_err *err)
{
    char *target = NULL;
    int std_fd;
    enum fileio_mode mode;
    mode_t existing;
    enum idim_status st = classify(path, &target, &std_fd, &mode, &existing, err);
    if (st)
        return st;
    int k;
    if (mode == FILEIO_REPLACE) {
        sweep_stale(target);
        k = snprintf(buf, cap, "%s.run.%ld", target, (long)getpid());
    } else {
        const char *t = getenv("TMPDIR");
        k = snprintf(buf, cap, "%s/idim.run.%ld", t && *t ? t : "/tmp", (long)getpid());
    }
    free(target);
    if (k < 0 || (size_t)k >= cap)
        return idim_fail(err, IDIM_ERR_WRITE, "%.80s...: output path too long", path);
    return IDIM_OK;
}

enum idim_status fileio_publish(const char *src, const char *path, struct idim_err *err)
{
    struct fileio_out o;
    enum idim_status st = fileio_out_open(&o, path, err);
    if (st) {
        (void)unlink(src);
        return st;
    }
    struct stat sb;
    if (o.mode == FILEIO_REPLACE && stat(o.target, &sb) == 0)
        (void)chmod(src, sb.st_mode & 07777); /* the replaced file's mode stays */
    if (o.mode == FILEIO_REPLACE && rename(src, o.target) == 0) {
        char *target = o.target;
        o.target = NULL;
        fileio_out_abort(&o);
        sync_dir(target);
        free(target);
        return IDIM_OK;
    }
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        fileio_out_abort(&o);
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", src, strerror(e));
    }
    unsigned char chunk[65536];
    for (;;) {
        ssize_t k = read(fd, chunk, sizeof chunk);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            st = idim_fail(err, IDIM_ERR_IO, "%s: read error: %s", src, strerror(errno));
            break;
        }
        if (k == 0 || (st = fileio_out_write(&o, chunk, (size_t)k, err)))
            break;
    }
    close(fd);
    (void)unlink(src);
    if (st) {
        fileio_out_abort(&o);
        return st;
    }
    return fileio_out_commit(&o, err);
}
