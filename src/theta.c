/* theta.c - the theta file: theta_d, the SAID lambdas, the seeds and the
 * model checksum, "the task encoded in a few kilobytes". Contract:
 * include/theta.h; normative layout: docs/THETA.md. */
#include "theta.h"
#include "fileio.h"

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

/* Every field of a version 1 file, checked in file order; messages name
 * the field and its byte offset. The layout is unchanged since version 1,
 * so every file idim ever wrote is still read: the checks only refuse
 * values the writer never produces (docs/THETA.md, "What a reader checks"). */
enum idim_status theta_parse(const unsigned char *buf, size_t len, const char *name,
                             struct theta_file *tf, struct idim_err *err)
{
    memset(tf, 0, sizeof *tf);
    if (len < 8 || memcmp(buf, THETA_MAGIC, 8) != 0)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: not a theta file: expected magic \"IDIMTHTA\" at byte 0", name);
    if (len < THETA_HDR + 8)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: %zu bytes: expected at least %u (header and checksum)", name, len,
                         THETA_HDR + 8);
    if (get32(buf + 8) != THETA_VERSION)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: version %u at byte 8: this idim reads version %u", name,
                         get32(buf + 8), THETA_VERSION);
    uint64_t d = get64(buf + 24);
    if (d == 0 || d > (len - THETA_HDR - 8) / 4 || len != THETA_HDR + 4 * d + 8)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: d = %llu at byte 24: expected a file of 136 + 4d + 8 bytes, "
                         "found %zu", name, (unsigned long long)d, len);
    uint64_t want = fnv1a(buf, len - 8), got = get64(buf + len - 8);
    if (got != want)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: checksum at byte %zu is %016llx, the bytes before it give %016llx "
                         "(file corrupt)", name, len - 8, (unsigned long long)got,
                         (unsigned long long)want);
    uint32_t method = get32(buf + 12), scope = get32(buf + 16), compat = get32(buf + 20);
    uint64_t m = get64(buf + 32);
    int32_t n_labels = (int32_t)get32(buf + 40), max_len = (int32_t)get32(buf + 44);
    uint32_t batch = get32(buf + 128), pk = get32(buf + 132);
    uint64_t mb = get64(buf + 112), n_dev = get64(buf + 120);
    double metric;
    memcpy(&metric, &mb, 8);
#define THETA_BAD(off, what, expect, fmt, v)                                                   \
    return idim_fail(err, IDIM_ERR_FORMAT, "%s: %s at byte %d: expected %s, found " fmt, name, \
                     what, off, expect, v)
    if (method != TRAIN_DID && method != TRAIN_SAID)
        THETA_BAD(12, "method", "2 (DID) or 3 (SAID)", "%u", method);
    if (scope != FF_SCOPE_TENSOR && scope != FF_SCOPE_GLOBAL)
        THETA_BAD(16, "scope", "1 (tensor) or 2 (global)", "%u", scope);
    if (compat > 1)
        THETA_BAD(20, "grad_compat", "0 or 1", "%u", compat);
    if (m < 1 || m > (1u << 24) || (method == TRAIN_SAID && m >= d))
        THETA_BAD(32, "tensor count m", "1..2^24 tensors, fewer than d for SAID", "%llu",
                  (unsigned long long)m);
    if (n_labels < 1 || n_labels > 65536)
        THETA_BAD(40, "n_labels", "1..65536", "%d", n_labels);
    if (max_len < 3 || max_len > 65536)
        THETA_BAD(44, "max_len", "3..65536 tokens", "%d", max_len);
    for (int i = 0; i < 16; i++) {
        unsigned char c = buf[64 + i];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        int random = !memcmp(buf + 64, "random", 6) && (i < 6 || c == 0);
        if (!hex && !random)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: model checksum at byte %d: expected 16 lower-case hex digits "
                             "or \"random\", found byte 0x%02x at byte %d", name, 64, c, 64 + i);
    }
    size_t tlen = strnlen((const char *)buf + 80, 32);
    if (tlen == 0 || tlen > 31)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: task name at byte 80: expected 1..31 bytes and a NUL, found %zu",
                         name, tlen);
    for (size_t i = 0; i < 32; i++) {
        unsigned char c = buf[80 + i];
        if ((i < tlen && (c < 0x21 || c > 0x7e)) || (i > tlen && c != 0))
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: task name at byte 80: expected printable ASCII then NUL "
                             "padding, found byte 0x%02x at byte %zu", name, c, 80 + i);
    }
    if (!(metric >= -1.0 && metric <= 1.0))
        THETA_BAD(112, "dev metric", "a finite metric in [-1, 1]", "%g", metric);
    if (n_dev > ((uint64_t)1 << 40))
        THETA_BAD(120, "dev example count", "at most 2^40 examples", "%llu",
                  (unsigned long long)n_dev);
    if (batch < 1 || batch > 65536)
        THETA_BAD(128, "eval batch size", "1..65536", "%u", batch);
    if (((pk & 0xff) != 0 && (pk & 0xff) != PROJ_DENSE && (pk & 0xff) != PROJ_IDENTITY) ||
        (pk >> 8) > PROJ_NORM_ROWS)
        THETA_BAD(132, "projection word", "kind 0, 2 or 3 in bits 0-7, norm 0 or 1 in bits 8-15, "
                  "other bits 0", "0x%x", pk);
#undef THETA_BAD
    for (uint64_t i = 0; i < d; i++) {
        uint32_t u = get32(buf + THETA_HDR + 4 * i);
        if ((u & 0x7f800000u) == 0x7f800000u)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: theta[%llu] at byte %llu is %s: expected a finite number", name,
                             (unsigned long long)i, (unsigned long long)(THETA_HDR + 4 * i),
                             (u & 0x007fffffu) ? "NaN" : "infinite");
    }
    tf->theta = malloc((size_t)d * sizeof(float));
    if (!tf->theta)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory for %llu values", name,
                         (unsigned long long)d);
    for (size_t i = 0; i < (size_t)d; i++) {
        uint32_t u = get32(buf + THETA_HDR + 4 * i);
        memcpy(&tf->theta[i], &u, 4);
    }
    tf->mode = (enum train_mode)method;
    tf->scope = (enum ff_scope)scope;
    tf->grad_compat = (int)compat;
    tf->d = (size_t)d;
    tf->n_tensors = (size_t)m;
    tf->n_labels = n_labels;
    tf->max_len = max_len;
    tf->seed = get64(buf + 48);
    tf->proj_seed = get64(buf + 56);
    memcpy(tf->model_checksum, buf + 64, 16);
    tf->model_checksum[16] = 0;
    memcpy(tf->task, buf + 80, 31);
    tf->task[31] = 0;
    tf->metric = metric;
    tf->n_dev = n_dev;
    tf->batch = (int)batch;
    tf->projection = (pk & 0xff) == 0 ? PROJ_FASTFOOD : (enum proj_kind)(pk & 0xff);
    tf->norm = (enum proj_norm)(pk >> 8);
    return IDIM_OK;
}

enum idim_status theta_load(const char *path, struct theta_file *tf, struct idim_err *err)
{
    memset(tf, 0, sizeof *tf);
    char *buf;
    size_t n;
    enum idim_status st = fileio_read_limit(path, THETA_MAX_BYTES, &buf, &n, err);
    if (st)
        return st;
    st = theta_parse((const unsigned char *)buf, n, path, tf, err);
    free(buf);
    return st;
}
