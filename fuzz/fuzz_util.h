/* fuzz_util.h - shared by the libFuzzer targets of fuzz/ (issue 12): the
 * fuzzed bytes as a file the readers can open by path (a memfd, so nothing
 * touches the disk), and a private scratch folder for readers of folders. */
#ifndef IDIM_FUZZ_UTIL_H
#define IDIM_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* "/proc/self/fd/N" of a memfd holding data[0..n). The memfd is reused. */
static inline const char *fuzz_mem_path(const uint8_t *data, size_t n)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("idim-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        abort();
    size_t off = 0;
    while (off < n) {
        ssize_t k = pwrite(fd, data + off, n - off, (off_t)off);
        if (k <= 0)
            abort();
        off += (size_t)k;
    }
    return path;
}

/* A scratch folder of this process under $TMPDIR, /dev/shm or /tmp, emptied
 * of the listed names on every call. */
static inline const char *fuzz_dir(const char *const *names, int n_names)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base)
            base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/idim-fuzz.%ld", base, (long)getpid());
        if (mkdir(dir, 0700) != 0)
            abort();
    }
    char p[512];
    for (int i = 0; i < n_names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    return dir;
}

/* Writes NAME in DIR with plain write(2): no stdio buffer to allocate and
 * fault in on every execution. */
static inline void fuzz_write(const char *dir, const char *name, const uint8_t *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < n) {
        ssize_t k = write(fd, data + off, n - off);
        if (k <= 0)
            abort();
        off += (size_t)k;
    }
    close(fd);
}

#endif
