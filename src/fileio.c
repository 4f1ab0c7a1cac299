/* fileio.c - whole-file reads and atomic writes (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum idim_status fileio_read_all(const char *path, char **out, size_t *n, struct idim_err *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory reading the file",
                                 path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return idim_fail(err, IDIM_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    buf[len] = 0;
    *out = buf;
    *n = len;
    return IDIM_OK;
}

/* fsync the folder holding path, so that a rename into it is durable. */
static void sync_dir(const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

enum idim_status fileio_write_atomic(const char *path, const void *data, size_t len,
                                     struct idim_err *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return idim_fail(err, IDIM_ERR_WRITE, "%.60s...: output path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return idim_fail(err, IDIM_ERR_WRITE, "%s: cannot write: %s", path, strerror(errno));
    int bad = fwrite(data, 1, len, f) != len;
    int e = errno;
    if (!bad && fflush(f) != 0)
        bad = 1, e = errno;
    if (!bad && fsync(fileno(f)) != 0 && errno != EINVAL)
        bad = 1, e = errno;
    if (fclose(f) != 0 && !bad)
        bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0)
        bad = 1, e = errno;
    if (bad) {
        remove(tmp);
        return idim_fail(err, IDIM_ERR_WRITE, "%s: cannot write: %s", path, strerror(e));
    }
    sync_dir(path);
    return IDIM_OK;
}
