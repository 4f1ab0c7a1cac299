/* theta.c - the theta file: theta_d, the SAID lambdas, the seeds and the
 * model checksum, "the task encoded in a few kilobytes". Contract:
 * include/theta.h; normative layout: docs/THETA.md. */
#include "theta.h"
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- theta file
 * Layout (little-endian), docs/THETA.md:
 *   0  char[8] magic "IDIMTHTA"      8  u32 version (1)
 *  12  u32 method (2 did, 3 said)    16  u32 scope (1 tensor, 2 global)
 *  20  u32 grad_compat               24  u64 d
 *  32  u64 n_tensors (m)             40  i32 n_labels     44  i32 max_len
 *  48  u64 seed                      56  u64 proj_seed
 *  64  char[16] model checksum (hex) 80  char[32] task (NUL-padded)
 * 112  f64 dev metric               120  u64 n_dev (0 = whole split)
 * 128  u32 eval batch size          132  u32 projection: bits 0-7 kind (0 fastfood,
 *      2 dense, 3 identity), bits 8-15 norm (0 columns, 1 rows); 0 before issue 15
 * 136  f32 theta[d] (SAID: theta_{d-m} then the m lambdas)
 * 136+4d  u64 FNV-1a 64 of every byte before it. */

#define THETA_MAGIC "IDIMTHTA"
#define THETA_VERSION 1u
#define THETA_HDR 136u

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

enum idim_status theta_save(const char *path, const struct theta_file *tf,
                            struct idim_err *err)
{
    size_t n = THETA_HDR + 4 * tf->d + 8;
    unsigned char *buf = calloc(1, n);
    if (!buf)
        return idim_fail(err, IDIM_ERR_NOMEM, "out of memory writing %s", path);
    memcpy(buf, THETA_MAGIC, 8);
    put32(buf + 8, THETA_VERSION);
    put32(buf + 12, (uint32_t)tf->mode);
    put32(buf + 16, (uint32_t)tf->scope);
    put32(buf + 20, (uint32_t)tf->grad_compat);
    put64(buf + 24, tf->d);
    put64(buf + 32, tf->n_tensors);
    put32(buf + 40, (uint32_t)tf->n_labels);
    put32(buf + 44, (uint32_t)tf->max_len);
    put64(buf + 48, tf->seed);
    put64(buf + 56, tf->proj_seed);
    memcpy(buf + 64, tf->model_checksum, 16);
    memcpy(buf + 80, tf->task, strnlen(tf->task, 31));
    uint64_t mb;
    memcpy(&mb, &tf->metric, 8);
    put64(buf + 112, mb);
    put64(buf + 120, tf->n_dev);
    put32(buf + 128, (uint32_t)tf->batch);
    put32(buf + 132, (tf->projection == PROJ_FASTFOOD ? 0u : (uint32_t)tf->projection) |
                         ((uint32_t)tf->norm << 8));
    for (size_t i = 0; i < tf->d; i++) {
        uint32_t u;
        memcpy(&u, &tf->theta[i], 4);
        put32(buf + THETA_HDR + 4 * i, u);
    }
    put64(buf + n - 8, fnv1a(buf, n - 8));

    enum idim_status st = fileio_write_atomic(path, buf, n, err);
    free(buf);
    return st;
}

void theta_free(struct theta_file *tf)
{
    if (!tf)
        return;
    free(tf->theta);
    memset(tf, 0, sizeof *tf);
}

enum idim_status theta_load(const char *path, struct theta_file *tf, struct idim_err *err)
{
    memset(tf, 0, sizeof *tf);
    FILE *f = fopen(path, "rb");
    if (!f)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    enum idim_status st = IDIM_OK;
    if (fseek(f, 0, SEEK_END) != 0) {
        st = idim_fail(err, IDIM_ERR_IO, "%s: cannot seek", path);
        goto out;
    }
    long len = ftell(f);
    rewind(f);
    if (len < (long)THETA_HDR + 8) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: not a theta file: %ld bytes, a header needs %u", path, len,
                       THETA_HDR + 8);
        goto out;
    }
    buf = malloc((size_t)len);
    if (!buf) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        st = idim_fail(err, IDIM_ERR_IO, "%s: short read", path);
        goto out;
    }
    if (memcmp(buf, THETA_MAGIC, 8) != 0) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: not a theta file (bad magic)", path);
        goto out;
    }
    if (get32(buf + 8) != THETA_VERSION) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: theta file version %u, this idim reads %u",
                       path, get32(buf + 8), THETA_VERSION);
        goto out;
    }
    uint64_t d = get64(buf + 24);
    if (d == 0 || d > ((uint64_t)len - THETA_HDR - 8) / 4 ||
        (uint64_t)len != THETA_HDR + 4 * d + 8) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: header says d = %llu but the file holds %ld bytes",
                       path, (unsigned long long)d, len);
        goto out;
    }
    if (get64(buf + (size_t)len - 8) != fnv1a(buf, (size_t)len - 8)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: checksum mismatch (file corrupt)", path);
        goto out;
    }
    tf->mode = (enum train_mode)get32(buf + 12);
    tf->scope = (enum ff_scope)get32(buf + 16);
    tf->grad_compat = (int)get32(buf + 20);
    tf->d = (size_t)d;
    tf->n_tensors = (size_t)get64(buf + 32);
    tf->n_labels = (int)get32(buf + 40);
    tf->max_len = (int)get32(buf + 44);
    tf->seed = get64(buf + 48);
    tf->proj_seed = get64(buf + 56);
    memcpy(tf->model_checksum, buf + 64, 16);
    tf->model_checksum[16] = 0;
    memcpy(tf->task, buf + 80, 31);
    tf->task[31] = 0;
    uint64_t mb = get64(buf + 112);
    memcpy(&tf->metric, &mb, 8);
    tf->n_dev = get64(buf + 120);
    tf->batch = (int)get32(buf + 128);
    uint32_t pk = get32(buf + 132);
    tf->projection = (pk & 0xff) == 0 ? PROJ_FASTFOOD : (enum proj_kind)(pk & 0xff);
    tf->norm = (enum proj_norm)(pk >> 8);
    if ((tf->projection != PROJ_FASTFOOD && tf->projection != PROJ_DENSE &&
         tf->projection != PROJ_IDENTITY) ||
        (tf->norm != PROJ_NORM_COLUMNS && tf->norm != PROJ_NORM_ROWS)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: bad projection field (byte 132): 0x%x", path,
                       (unsigned)pk);
        goto out;
    }
    if ((tf->mode != TRAIN_DID && tf->mode != TRAIN_SAID) ||
        (tf->scope != FF_SCOPE_TENSOR && tf->scope != FF_SCOPE_GLOBAL) || tf->n_labels < 1 ||
        tf->max_len < 3 || tf->batch < 1 || tf->batch > 65536) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: bad method, scope, label count, max_len or batch field",
                       path);
        goto out;
    }
    tf->theta = malloc((size_t)d * sizeof(float));
    if (!tf->theta) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (size_t i = 0; i < (size_t)d; i++) {
        uint32_t u = get32(buf + THETA_HDR + 4 * i);
        memcpy(&tf->theta[i], &u, 4);
    }
out:
    free(buf);
    fclose(f);
    if (st)
        theta_free(tf);
    return st;
}
