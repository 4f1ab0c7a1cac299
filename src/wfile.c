/* wfile.c - the idim weights file (format 1.0): reader and writer.
 *
 * Stage: first. Input: a path. Output: architecture, tokenizer data and
 * named f32 tensors pointing into a read-only mapping. The normative spec
 * is docs/FORMAT.md; this is its summary. All integers little-endian.
 *
 *   HEADER (128 bytes, at 0)
 *   off  type     field         rule (a reader rejects anything else)
 *   0    u8[8]    magic         "IDIMWTS\0"
 *   8    u64      checksum      XXH64, seed 0, of file bytes [16, file_bytes)
 *   16   u16      version_major 1 (newer: refused, naming both versions)
 *   18   u16      version_minor any (1.x readers read all 1.x files)
 *   20   u32      byte_order    0x01020304
 *   24   u64      file_bytes    == the file's size
 *   32   u64      arch_offset   == 128
 *   40   u64      arch_bytes    >= 64
 *   48   u64      tok_offset    8-aligned, >= arch end
 *   56   u64      tok_bytes     == 48 + 4*(n_vocab+n_merges) + string_bytes
 *   64   u64      index_offset  8-aligned, >= tok end
 *   72   u64      index_bytes   == 160 * n_tensors
 *   80   u64      n_tensors     1..65536
 *   88   u64      data_offset   64-aligned, >= index end
 *   96   u64      data_bytes    data_offset + data_bytes == file_bytes
 *   104  u8[24]   reserved      0
 *   ARCH (64 bytes): u32 family, n_layers, hidden, n_heads, ffn, vocab_size,
 *     max_pos, type_vocab, pad_id; f32 ln_eps; u32 activation, has_pooler,
 *     n_labels; (1.1) u32 has_mlm_head, u32 pretrain_steps; u8[4] reserved.
 *     Ranges: arch_validate().
 *   TOKENIZER: u32 present (0/1), kind, flags; i32 unk, cls, sep, pad, mask;
 *     u32 n_vocab, n_merges; u64 string_bytes; u32 vocab_len[n_vocab];
 *     u32 merge_len[n_merges]; u8 strings[string_bytes] (vocab then merges).
 *   INDEX: n_tensors records of 160 bytes: u8 name[96] (NUL-padded),
 *     u32 dtype (1 = f32), u32 n_dims (1..4), u64 shape[4] (unused = 0),
 *     u64 offset (absolute, 64-aligned, inside DATA, increasing, no
 *     overlap), u64 n_bytes (== 4 * product of shape), u64 reserved.
 *   DATA: the tensors, f32 little-endian, row-major, zero padding between.
 * Tensors named in the ARCH_TABLE_FILE table must all be present with the
 * shapes the architecture implies; the writer writes them in table order. */
#include "wfile.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_BYTES 128u
#define ARCH_BYTES 64u
#define TOK_FIXED 48u
#define REC_BYTES 160u
#define NAME_BYTES 96u
#define MAX_TENSORS 65536u
#define BYTE_ORDER_MARK 0x01020304u
#define TOK_KNOWN_FLAGS 31u
#define TOK_MAX_VOCAB (1u << 24)
#define TOK_MAX_MERGES (1u << 24)
#define TOK_MAX_STRING 65536u

/* ---- XXH64 (Yann Collet, xxHash specification v0.1.1) ---- */

#define XP1 0x9E3779B185EBCA87ull
#define XP2 0xC2B2AE3D27D4EB4Full
#define XP3 0x165667B19E3779F9ull
#define XP4 0x85EBCA77C2B2AE63ull
#define XP5 0x27D4EB2F165667C5ull

struct xxh64 {
    uint64_t v[4];
    uint64_t total;
    uint64_t seed;
    unsigned char buf[32];
    size_t nbuf;
};

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static inline uint64_t xround(uint64_t acc, uint64_t in)
{
    acc += in * XP2;
    acc = rotl64(acc, 31);
    return acc * XP1;
}

static inline uint64_t xmerge(uint64_t acc, uint64_t val)
{
    acc ^= xround(0, val);
    return acc * XP1 + XP4;
}

static void xxh64_init(struct xxh64 *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + XP1 + XP2;
    s->v[1] = seed + XP2;
    s->v[2] = seed;
    s->v[3] = seed - XP1;
}

static void xxh64_stripes(struct xxh64 *s, const unsigned char *p, size_t n_stripes)
{
    uint64_t v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];
    for (size_t i = 0; i < n_stripes; i++, p += 32) {
        v0 = xround(v0, rd64(p));
        v1 = xround(v1, rd64(p + 8));
        v2 = xround(v2, rd64(p + 16));
        v3 = xround(v3, rd64(p + 24));
    }
    s->v[0] = v0, s->v[1] = v1, s->v[2] = v2, s->v[3] = v3;
}

static void xxh64_update(struct xxh64 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    s->total += n;
    if (s->nbuf) {
        size_t take = 32 - s->nbuf < n ? 32 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take, p += take, n -= take;
        if (s->nbuf < 32)
            return;
        xxh64_stripes(s, s->buf, 1);
        s->nbuf = 0;
    }
    xxh64_stripes(s, p, n / 32);
    p += n / 32 * 32;
    n %= 32;
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

static uint64_t xxh64_digest(const struct xxh64 *s)
{
    uint64_t h;
    if (s->total >= 32) {
        h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
        for (int i = 0; i < 4; i++)
            h = xmerge(h, s->v[i]);
    } else {
        h = s->seed + XP5;
    }
    h += s->total;
    const unsigned char *p = s->buf;
    size_t n = s->nbuf;
    for (; n >= 8; n -= 8, p += 8) {
        h ^= xround(0, rd64(p));
        h = rotl64(h, 27) * XP1 + XP4;
    }
    if (n >= 4) {
        h ^= (uint64_t)rd32(p) * XP1;
        h = rotl64(h, 23) * XP2 + XP3;
        n -= 4, p += 4;
    }
    for (; n > 0; n--, p++) {
        h ^= (uint64_t)*p * XP5;
        h = rotl64(h, 11) * XP1;
    }
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    h ^= h >> 32;
    return h;
}

uint64_t wfile_xxh64(const void *p, size_t n, uint64_t seed)
{
    struct xxh64 s;
    xxh64_init(&s, seed);
    xxh64_update(&s, p, n);
    return xxh64_digest(&s);
}

uint64_t wfile_checksum_image(const void *file, size_t n)
{
    return wfile_xxh64((const unsigned char *)file + 16, n - 16, 0);
}

/* ---- shared checks ---- */

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static int mul_ovf(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return 1;
    *out = a * b;
    return 0;
}

static void shape_str(char *buf, size_t cap, int n_dims, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < n_dims && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

struct name_ref {
    const char *name;
    size_t idx;
};

static int cmp_name_ref(const void *a, const void *b)
{
    return strcmp(((const struct name_ref *)a)->name, ((const struct name_ref *)b)->name);
}

static int starts_with(const char *s, const char *pre) { return strncmp(s, pre, strlen(pre)) == 0; }

/* Checks a tensor list against the config: names unique, every
 * ARCH_TABLE_FILE tensor present with the implied shape, and no tensor in
 * the encoder/pooler/head namespaces that the config does not have. */
static enum idim_status check_tensors(const struct arch_config *cfg, const struct wfile_tensor *t,
                                      size_t n, const char *path, struct idim_err *err)
{
    enum idim_status st = IDIM_OK;
    size_t nt = arch_tensors(cfg, ARCH_TABLE_FILE, cfg->n_labels, NULL, 0);
    struct arch_tensor *tab = calloc(nt ? nt : 1, sizeof *tab);
    struct name_ref *names = calloc(n ? n : 1, sizeof *names);
    struct name_ref *tnames = calloc(nt ? nt : 1, sizeof *tnames);
    if (!tab || !names || !tnames) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory checking %zu tensors", path, n);
        goto done;
    }
    arch_tensors(cfg, ARCH_TABLE_FILE, cfg->n_labels, tab, nt);
    for (size_t i = 0; i < n; i++)
        names[i] = (struct name_ref){t[i].name, i};
    for (size_t k = 0; k < nt; k++)
        tnames[k] = (struct name_ref){tab[k].name, k};
    qsort(names, n, sizeof *names, cmp_name_ref);
    qsort(tnames, nt, sizeof *tnames, cmp_name_ref);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1].name, names[i].name) == 0) {
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor '%s' appears twice", path,
                           names[i].name);
            goto done;
        }
    }
    const char *fam = arch_family_name(cfg->family);
    for (size_t k = 0; k < nt; k++) {
        struct name_ref key = {tab[k].name, 0};
        const struct name_ref *hit = bsearch(&key, names, n, sizeof *names, cmp_name_ref);
        if (!hit) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: header says %s with %d layers%s%s but the file lacks tensor '%s'",
                           path, fam, cfg->n_layers, cfg->has_pooler ? ", a pooler" : "",
                           cfg->n_labels ? " and a classification head" : "", key.name);
            goto done;
        }
        const struct wfile_tensor *ft = &t[hit->idx];
        int ok = ft->n_dims == tab[k].n_dims;
        for (int d = 0; ok && d < tab[k].n_dims; d++)
            ok = ft->shape[d] == tab[k].shape[d];
        if (!ok) {
            char got[128], want[128];
            shape_str(got, sizeof got, ft->n_dims, ft->shape);
            shape_str(want, sizeof want, tab[k].n_dims, tab[k].shape);
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: tensor '%s' contradicts the header: expected shape %s "
                           "(layers %d, hidden %d, ffn %d, vocab %d, max positions %d, type vocab "
                           "%d, labels %d), found %s",
                           path, key.name, want, cfg->n_layers, cfg->hidden, cfg->ffn,
                           cfg->vocab_size, cfg->max_pos, cfg->type_vocab, cfg->n_labels, got);
            goto done;
        }
    }
    /* Tensors in the namespaces the table owns must be in the table. */
    const char *pre[4] = {"bert.", "roberta.", "classifier.", "pooler."};
    for (size_t i = 0; i < n; i++) {
        int owned = 0;
        for (int q = 0; q < 4; q++)
            owned |= starts_with(t[i].name, pre[q]);
        struct name_ref key = {t[i].name, 0};
        if (owned && !bsearch(&key, tnames, nt, sizeof *tnames, cmp_name_ref)) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: the file holds tensor '%s' that the header's architecture (%s, %d "
                           "layers, pooler %s, %d labels) does not have",
                           path, t[i].name, fam, cfg->n_layers, cfg->has_pooler ? "yes" : "no",
                           cfg->n_labels);
            goto done;
        }
    }
done:
    free(tab);
    free(names);
    free(tnames);
    return st;
}

static enum idim_status check_tokdata(const struct tokdata *tok, const struct arch_config *cfg,
                                      const char *path, struct idim_err *err)
{
    if (tok->kind != TOK_WORDPIECE && tok->kind != TOK_BPE)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer kind is %d: expected 1 (WordPiece) or 2 (byte-level BPE)",
                         path, (int)tok->kind);
    if (tok->flags & ~TOK_KNOWN_FLAGS)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer flags are 0x%x: expected only bits 0x%x", path,
                         (unsigned)tok->flags, TOK_KNOWN_FLAGS);
    if (tok->n_vocab < 1 || tok->n_vocab > (uint32_t)cfg->vocab_size)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer has %u tokens: expected 1..%d (the embedding's vocab_size)",
                         path, (unsigned)tok->n_vocab, cfg->vocab_size);
    if (tok->n_merges > TOK_MAX_MERGES || (tok->kind == TOK_WORDPIECE && tok->n_merges))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: tokenizer has %u merges: expected %s", path,
                         (unsigned)tok->n_merges,
                         tok->kind == TOK_WORDPIECE ? "0 for WordPiece" : "at most 2^24");
    const struct {
        const char *name;
        int32_t v;
        int opt;
    } ids[5] = {{"unk_id", tok->unk_id, 0}, {"cls_id", tok->cls_id, 0},
                {"sep_id", tok->sep_id, 0}, {"pad_id", tok->pad_id, 0},
                {"mask_id", tok->mask_id, 1}};
    for (int i = 0; i < 5; i++) {
        if ((ids[i].v < 0 && !(ids[i].opt && ids[i].v == -1)) || ids[i].v >= (int64_t)tok->n_vocab)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: tokenizer %s is %d: expected %s..%u", path,
                             ids[i].name, (int)ids[i].v, ids[i].opt ? "-1" : "0",
                             (unsigned)tok->n_vocab - 1);
    }
    for (uint32_t i = 0; i < tok->n_vocab + tok->n_merges; i++) {
        const struct tok_str *s = i < tok->n_vocab ? &tok->vocab[i] : &tok->merges[i - tok->n_vocab];
        const char *what = i < tok->n_vocab ? "vocabulary entry" : "merge";
        uint32_t idx = i < tok->n_vocab ? i : i - tok->n_vocab;
        if (s->len < 1 || s->len > TOK_MAX_STRING)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: tokenizer %s %u has length %u: expected 1..%u",
                             path, what, (unsigned)idx, (unsigned)s->len, TOK_MAX_STRING);
        if (i >= tok->n_vocab) {
            const char *sp = memchr(s->s, ' ', s->len);
            if (!sp || sp == s->s || sp == s->s + s->len - 1 ||
                memchr(sp + 1, ' ', (size_t)(s->s + s->len - sp - 1)))
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: tokenizer merge %u is '%.*s': expected 'left right' with one "
                                 "space",
                                 path, (unsigned)idx, (int)(s->len > 60 ? 60 : s->len), s->s);
        }
    }
    return IDIM_OK;
}

/* ---- reader ---- */

const struct wfile_tensor *wfile_find(const struct wfile *w, const char *name)
{
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return &w->tensors[i];
    return NULL;
}

void wfile_free(struct wfile *w)
{
    if (!w)
        return;
    free(w->tensors);
    free(w->tok.owned_arrays);
    if (w->map) {
        if (w->map_is_heap)
            free(w->map);
        else
            munmap(w->map, w->file_bytes);
    }
    memset(w, 0, sizeof *w);
}

int wfile_has_tokenizer(const struct wfile *w) { return w->tok.kind != 0; }

enum idim_status wfile_need_tokenizer(const struct wfile *w, struct idim_err *err)
{
    if (wfile_has_tokenizer(w))
        return IDIM_OK;
    return idim_fail(err, IDIM_ERR_FORMAT,
                     "%s: holds no tokenizer (it was made with 'idim init --vocab-size'): "
                     "re-create it with 'idim init --vocab FILE' or 'idim convert'",
                     w->path ? w->path : "model");
}

size_t wfile_n_params(const struct wfile *w)
{
    size_t s = 0;
    for (size_t i = 0; i < w->n_tensors; i++)
        s += w->tensors[i].n_elem;
    return s;
}

static const char *section_at(uint64_t off, const uint64_t *sec_off)
{
    static const char *names[5] = {"the header", "the architecture section",
                                   "the tokenizer section", "the tensor index",
                                   "the tensor data"};
    int s = 0;
    for (int i = 1; i < 5; i++)
        if (off >= sec_off[i])
            s = i;
    return names[s];
}

static enum idim_status map_file(struct wfile *w, const char *path, int fd, size_t size,
                                 struct idim_err *err)
{
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
        w->map = m;
        w->map_is_heap = 0;
        return IDIM_OK;
    }
    size_t cap = (size + 63) / 64 * 64;
    unsigned char *buf = aligned_alloc(64, cap);
    if (!buf)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return idim_fail(err, IDIM_ERR_IO, "%s: read failed after %zu of %zu bytes: %s", path,
                             got, size, r < 0 ? strerror(errno) : "unexpected end of file");
        }
        got += (size_t)r;
    }
    w->map = buf;
    w->map_is_heap = 1;
    return IDIM_OK;
}

static enum idim_status parse_tokdata(struct wfile *w, const unsigned char *p, uint64_t off,
                                      uint64_t bytes, struct idim_err *err)
{
    const char *path = w->path;
    const unsigned char *t = p + off;
    if (bytes < TOK_FIXED)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says the tokenizer section is %" PRIu64
                         " bytes: expected at least %u, at byte 56",
                         path, bytes, TOK_FIXED);
    uint32_t present = rd32(t);
    if (present > 1)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer 'present' is %u: expected 0 or 1, at byte %" PRIu64, path,
                         (unsigned)present, off);
    uint32_t nv = rd32(t + 32), nm = rd32(t + 36);
    uint64_t sbytes = rd64(t + 40);
    if (!present) {
        for (unsigned i = 4; i < TOK_FIXED; i++)
            if (t[i])
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: tokenizer section marked absent but byte %" PRIu64
                                 " is %u: expected 0",
                                 path, off + i, (unsigned)t[i]);
        if (bytes != TOK_FIXED)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: header says the absent tokenizer takes %" PRIu64
                             " bytes: expected %u, at byte 56",
                             path, bytes, TOK_FIXED);
        return IDIM_OK;
    }
    if (nv > TOK_MAX_VOCAB || nm > TOK_MAX_MERGES)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer says %u tokens and %u merges: expected at most 2^24 each, "
                         "at byte %" PRIu64,
                         path, (unsigned)nv, (unsigned)nm, off + 32);
    uint64_t want = TOK_FIXED + 4ull * ((uint64_t)nv + nm);
    if (sbytes > UINT64_MAX - want || want + sbytes != bytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer section size: expected 48 + 4*(%u tokens + %u merges) + %" PRIu64
                         " string bytes, found %" PRIu64 " bytes in the header",
                         path, (unsigned)nv, (unsigned)nm, sbytes, bytes);
    struct tokdata *td = &w->tok;
    td->kind = (enum tok_kind)rd32(t + 4);
    td->flags = rd32(t + 8);
    td->unk_id = (int32_t)rd32(t + 12);
    td->cls_id = (int32_t)rd32(t + 16);
    td->sep_id = (int32_t)rd32(t + 20);
    td->pad_id = (int32_t)rd32(t + 24);
    td->mask_id = (int32_t)rd32(t + 28);
    td->n_vocab = nv;
    td->n_merges = nm;
    td->owned = NULL;
    td->owned_arrays = calloc((size_t)nv + nm + 1, sizeof *td->owned_arrays);
    if (!td->owned_arrays)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory for %u tokenizer strings", path,
                         (unsigned)(nv + nm));
    td->vocab = td->owned_arrays;
    td->merges = td->owned_arrays + nv;
    const unsigned char *lens = t + TOK_FIXED;
    const char *str = (const char *)(t + want);
    uint64_t used = 0;
    for (uint64_t i = 0; i < (uint64_t)nv + nm; i++) {
        uint32_t len = rd32(lens + 4 * i);
        if (len > sbytes - used)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tokenizer string %" PRIu64 " of length %u runs past the %" PRIu64
                             " string bytes, at byte %" PRIu64,
                             path, i, (unsigned)len, sbytes, off + TOK_FIXED + 4 * i);
        td->owned_arrays[i].s = str + used;
        td->owned_arrays[i].len = len;
        used += len;
    }
    if (used != sbytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer string lengths add up to %" PRIu64 " bytes: expected %" PRIu64
                         " (string_bytes at byte %" PRIu64 ")",
                         path, used, sbytes, off + 40);
    if (td->kind != TOK_WORDPIECE && td->kind != TOK_BPE)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tokenizer kind is %u: expected 1 (WordPiece) or 2 (byte-level BPE), "
                         "at byte %" PRIu64,
                         path, (unsigned)rd32(t + 4), off + 4);
    return check_tokdata(td, &w->cfg, path, err);
}

/* Opens PATH and maps it whole into w->map (w->file_bytes is its size). A
 * folder or an empty file is refused; a folder holding config.json gets the
 * 'idim convert' hint, the usual Hugging Face mistake. */
static enum idim_status open_and_map(struct wfile *w, const char *path, struct idim_err *err)
{
    enum idim_status st;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = idim_fail(err, IDIM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        if (access(cfg, R_OK) == 0)
            st = idim_fail(err, IDIM_ERR_IO,
                           "%s: is a folder, not a model file; it looks like a Hugging Face model "
                           "folder: run 'idim convert --hf %s -o model.idim' and give --model "
                           "model.idim",
                           path, path);
        else
            st = idim_fail(err, IDIM_ERR_IO, "%s: is a folder, not a model file", path);
    } else if (sb.st_size == 0) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: empty file: not an idim model file", path);
    } else {
        w->file_bytes = (size_t)sb.st_size;
        st = map_file(w, path, fd, w->file_bytes, err);
    }
    close(fd);
    return st;
}

/* The magic; other files people pass as a model (safetensors, torch.save's
 * zip) get a hint that says what to run instead. */
static enum idim_status check_magic(const unsigned char *p, size_t size, const char *path,
                                    struct idim_err *err)
{
    static const unsigned char magic[8] = {'I', 'D', 'I', 'M', 'W', 'T', 'S', 0};
    if (memcmp(p, magic, size < 8 ? size : 8) == 0)
        return IDIM_OK;
    if (size >= 9 && p[8] == '{')
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: not an idim model file (it looks like a safetensors file: convert "
                         "its folder with 'idim convert --hf DIR -o model.idim')",
                         path);
    if (size >= 4 && !memcmp(p, "PK\3\4", 4)) /* torch.save's zip: pytorch_model.bin */
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: not an idim model file: it is a PyTorch checkpoint "
                         "(pytorch_model.bin); convert its folder: run 'python3 "
                         "%s/scripts/pt2safetensors.py DIR', then 'idim convert --hf DIR -o "
                         "model.idim'",
                         path, idim_share_dir ? idim_share_dir : ".");
    return idim_fail(err, IDIM_ERR_FORMAT,
                     "%s: not an idim model file: expected magic \"IDIMWTS\\0\", found "
                     "%02x %02x %02x %02x... at byte 0",
                     path, p[0], size > 1 ? p[1] : 0, size > 2 ? p[2] : 0, size > 3 ? p[3] : 0);
}

/* The header's section table: offset and size of the header, architecture,
 * tokenizer, tensor index and tensor data, in file order. */
struct wfile_layout {
    uint64_t file_bytes; /* as the header says */
    uint64_t n_tensors;
    uint64_t off[5], bytes[5];
};

/* Reads the fixed header fields of a file that passed check_magic: byte
 * order, version (into w), the section table, the reserved bytes. */
static enum idim_status read_header(struct wfile *w, size_t size, struct wfile_layout *l,
                                    struct idim_err *err)
{
    const char *path = w->path;
    const unsigned char *p = w->map;
    if (size < HDR_BYTES)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: truncated inside the header: expected at least %u bytes, found %zu",
                         path, HDR_BYTES, size);
    uint32_t bom = rd32(p + 20);
    if (bom != BYTE_ORDER_MARK)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: byte-order mark is 0x%08x: expected 0x%08x%s, at byte 20", path,
                         (unsigned)bom, BYTE_ORDER_MARK,
                         bom == 0x04030201u ? " (the file was written big-endian)" : "");
    w->version_major = rd16(p + 16);
    w->version_minor = rd16(p + 18);
    if (w->version_major != WFILE_VERSION_MAJOR)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: format version %u.%u %s: this idim reads version %d.x, at byte 16",
                         path, w->version_major, w->version_minor,
                         w->version_major > WFILE_VERSION_MAJOR
                             ? "is newer than this reader (upgrade idim)"
                             : "is not a released version",
                         WFILE_VERSION_MAJOR);
    l->file_bytes = rd64(p + 24);
    l->off[0] = 0, l->bytes[0] = HDR_BYTES;
    l->off[1] = rd64(p + 32), l->bytes[1] = rd64(p + 40);
    l->off[2] = rd64(p + 48), l->bytes[2] = rd64(p + 56);
    l->off[3] = rd64(p + 64), l->bytes[3] = rd64(p + 72);
    l->n_tensors = rd64(p + 80);
    l->off[4] = rd64(p + 88), l->bytes[4] = rd64(p + 96);
    for (int i = 104; i < 128; i++)
        if (p[i])
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: reserved header byte %d is %u: expected 0", path, i, p[i]);
    return IDIM_OK;
}

/* The section table against itself and the real file size: sections in
 * order, aligned, inside the file, the index sized for n_tensors. */
static enum idim_status check_layout(const struct wfile_layout *l, size_t size, const char *path,
                                     struct idim_err *err)
{
    static const char *sec_name[5] = {"header", "architecture section", "tokenizer section",
                                      "tensor index", "tensor data"};
    static const unsigned align[5] = {1, 8, 8, 8, 64};
    static const unsigned off_at[5] = {0, 32, 48, 64, 88};
    const uint64_t *so = l->off, *sn = l->bytes;
    uint64_t fbytes = l->file_bytes, n_tensors = l->n_tensors;
    if (so[1] != HDR_BYTES)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says the architecture section starts at %" PRIu64
                         ": expected 128, at byte 32",
                         path, so[1]);
    if (sn[1] < ARCH_BYTES)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says the architecture section is %" PRIu64
                         " bytes: expected at least 64, at byte 40",
                         path, sn[1]);
    for (int i = 1; i < 5; i++) {
        uint64_t prev_end = so[i - 1] + sn[i - 1];
        if (so[i] % align[i] || so[i] < prev_end || sn[i] > UINT64_MAX - so[i] ||
            so[i] + sn[i] > fbytes)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: header says the %s spans bytes %" PRIu64 "..+%" PRIu64
                             ": expected a %u-aligned start at or after byte %" PRIu64
                             " and an end within the %" PRIu64 "-byte file, at byte %u",
                             path, sec_name[i], so[i], sn[i], align[i], prev_end, fbytes,
                             off_at[i]);
    }
    if (so[4] + sn[4] != fbytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says the tensor data ends at byte %" PRIu64
                         " but the file is %" PRIu64 " bytes, at byte 96",
                         path, so[4] + sn[4], fbytes);
    if (n_tensors < 1 || n_tensors > MAX_TENSORS || sn[3] != n_tensors * REC_BYTES)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says %" PRIu64 " tensors in a %" PRIu64
                         "-byte index: expected 1..%u tensors of %u bytes each, at byte 72",
                         path, n_tensors, sn[3], MAX_TENSORS, REC_BYTES);
    if (size < fbytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: truncated inside %s: header says the file is %" PRIu64
                         " bytes, found %zu",
                         path, section_at(size, so), fbytes, size);
    if (size > fbytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says the file is %" PRIu64 " bytes, found %zu (trailing data)",
                         path, fbytes, size);
    return IDIM_OK;
}

/* The checksum in the header against the bytes; sets w->checksum(_hex). */
static enum idim_status verify_checksum(struct wfile *w, size_t size, struct idim_err *err)
{
    const unsigned char *p = w->map;
    w->checksum = rd64(p + 8);
    snprintf(w->checksum_hex, sizeof w->checksum_hex, "%016" PRIx64, w->checksum);
    /* XXH64 in 64 MiB pieces (~20 ms each warm, more from a cold disk),
     * so Ctrl-C acts within a second on the largest models */
    struct xxh64 hs;
    xxh64_init(&hs, 0);
    for (size_t o = 16, piece = (size_t)64 << 20; o < size; o += piece) {
        if (idim_interrupted)
            return idim_fail(err, IDIM_ERR_INTERRUPTED,
                             "%s: interrupted while checking the checksum", w->path);
        xxh64_update(&hs, p + o, size - o < piece ? size - o : piece);
    }
    uint64_t got = xxh64_digest(&hs);
    if (got != w->checksum)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: checksum mismatch: header says %016" PRIx64
                         ", the bytes hash to %016" PRIx64 " (the file is corrupted), at byte 8",
                         w->path, w->checksum, got);
    return IDIM_OK;
}

/* The architecture section at file offset OFF into w->cfg, range-checked
 * by arch_validate(). */
static enum idim_status parse_arch(struct wfile *w, uint64_t off, struct idim_err *err)
{
    const char *path = w->path;
    const unsigned char *a = (const unsigned char *)w->map + off;
    static const char *afield[13] = {"family", "n_layers", "hidden", "n_heads", "ffn",
                                     "vocab_size", "max_pos", "type_vocab", "pad_id", "ln_eps",
                                     "activation", "has_pooler", "n_labels"};
    for (int i = 0; i < 13; i++)
        if (i != 9 && rd32(a + 4 * i) > INT32_MAX)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: header says %s is %u: out of range, at byte %" PRIu64, path,
                             afield[i], (unsigned)rd32(a + 4 * i), off + 4 * (uint64_t)i);
    struct arch_config *c = &w->cfg;
    c->family = (enum arch_family)rd32(a);
    c->n_layers = (int)rd32(a + 4);
    c->hidden = (int)rd32(a + 8);
    c->n_heads = (int)rd32(a + 12);
    c->ffn = (int)rd32(a + 16);
    c->vocab_size = (int)rd32(a + 20);
    c->max_pos = (int)rd32(a + 24);
    c->type_vocab = (int)rd32(a + 28);
    c->pad_id = (int)rd32(a + 32);
    uint32_t eps_bits = rd32(a + 36);
    memcpy(&c->ln_eps, &eps_bits, 4);
    c->act = (enum arch_act)rd32(a + 40);
    c->has_pooler = (int)rd32(a + 44);
    c->n_labels = (int)rd32(a + 48);
    /* 1.1: bytes 52..59 (reserved, written 0, in 1.0) */
    if (rd32(a + 52) > 1)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says has_mlm_head is %u: expected 0 or 1, at byte %" PRIu64,
                         path, (unsigned)rd32(a + 52), off + 52);
    c->has_mlm_head = (int)rd32(a + 52);
    c->pretrain_steps = (int64_t)rd32(a + 56);
    return arch_validate(c, path, err);
}

/* One 160-byte index record I at file offset ROFF into *t: name, dtype,
 * shape, and a data range that starts at or after *prev_end (advanced past
 * it) and ends inside the data section. */
static enum idim_status parse_tensor_record(struct wfile *w, uint64_t i,
                                            const struct wfile_layout *l, uint64_t *prev_end,
                                            struct idim_err *err)
{
    const char *path = w->path;
    uint64_t roff = l->off[3] + i * REC_BYTES;
    const unsigned char *r = (const unsigned char *)w->map + roff;
    struct wfile_tensor *t = &w->tensors[i];
    size_t nlen = strnlen((const char *)r, NAME_BYTES);
    if (nlen == 0 || nlen >= NAME_BYTES || nlen >= ARCH_NAME_MAX)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor %" PRIu64 " has a name of %zu bytes: expected 1..%d bytes "
                         "and a NUL, at byte %" PRIu64,
                         path, i, nlen, ARCH_NAME_MAX - 1, roff);
    for (size_t k = nlen; k < NAME_BYTES; k++)
        if (r[k])
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tensor %" PRIu64 " name is not NUL-padded, at byte %" PRIu64,
                             path, i, roff + k);
    memcpy(t->name, r, nlen);
    uint32_t dtype = rd32(r + 96), nd = rd32(r + 100);
    if (dtype != WFILE_DTYPE_F32)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' has unknown dtype %u: expected 1 (f32), at byte %" PRIu64,
                         path, t->name, (unsigned)dtype, roff + 96);
    if (nd < 1 || nd > WFILE_MAX_DIMS)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' has %u dimensions: expected 1..%d, at byte %" PRIu64,
                         path, t->name, (unsigned)nd, WFILE_MAX_DIMS, roff + 100);
    t->n_dims = (int)nd;
    uint64_t prod = 1;
    for (int d = 0; d < WFILE_MAX_DIMS; d++) {
        uint64_t v = rd64(r + 104 + 8 * d);
        if ((d < (int)nd && (v < 1 || v > INT64_MAX)) || (d >= (int)nd && v != 0))
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tensor '%s' dimension %d is %" PRIu64
                             ": expected %s, at byte %" PRIu64,
                             path, t->name, d, v, d < (int)nd ? "at least 1" : "0 (unused)",
                             roff + 104 + 8 * (uint64_t)d);
        if (d < (int)nd) {
            t->shape[d] = (int64_t)v;
            if (mul_ovf(prod, v, &prod))
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: tensor '%s' shape product overflows 64 bits at dimension "
                                 "%d (%" PRIu64 "), at byte %" PRIu64,
                                 path, t->name, d, v, roff + 104 + 8 * (uint64_t)d);
        }
    }
    uint64_t toff = rd64(r + 136), tbytes = rd64(r + 144), want;
    uint64_t data_end = l->off[4] + l->bytes[4];
    if (mul_ovf(prod, 4, &want) || want != tbytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' size: expected %" PRIu64 " elements x 4 bytes, found %" PRIu64
                         " bytes, at byte %" PRIu64,
                         path, t->name, prod, tbytes, roff + 144);
    if (toff % 64 || toff < *prev_end || tbytes > data_end - toff || toff > data_end)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' at offset %" PRIu64 " (+%" PRIu64
                         " bytes): expected a 64-aligned offset at or after byte %" PRIu64
                         " with its end within the file (%" PRIu64 " bytes), at byte %" PRIu64,
                         path, t->name, toff, tbytes, *prev_end, l->file_bytes, roff + 136);
    if (rd64(r + 152) != 0)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' reserved field is not 0, at byte %" PRIu64, path,
                         t->name, roff + 152);
    *prev_end = toff + tbytes;
    t->n_elem = (size_t)prod;
    t->data = (const float *)(const void *)((const unsigned char *)w->map + toff);
    return IDIM_OK;
}

/* The tensor index into w->tensors, then the tensors against the
 * architecture's table (check_tensors). */
static enum idim_status parse_index(struct wfile *w, const struct wfile_layout *l,
                                    struct idim_err *err)
{
    w->tensors = calloc((size_t)l->n_tensors, sizeof *w->tensors);
    if (!w->tensors)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory for %" PRIu64 " tensors",
                         w->path, l->n_tensors);
    w->n_tensors = (size_t)l->n_tensors;
    uint64_t prev_end = l->off[4];
    for (uint64_t i = 0; i < l->n_tensors; i++) {
        enum idim_status st = parse_tensor_record(w, i, l, &prev_end, err);
        if (st)
            return st;
    }
    return check_tensors(&w->cfg, w->tensors, w->n_tensors, w->path, err);
}

enum idim_status wfile_open(struct wfile *w, const char *path, struct idim_err *err)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    if (!host_is_little_endian())
        return idim_fail(err, IDIM_ERR_INTERNAL,
                         "%s: idim model files are little-endian and this host is big-endian", path);
    struct wfile_layout l;
    enum idim_status st = open_and_map(w, path, err);
    if (!st)
        st = check_magic(w->map, w->file_bytes, path, err);
    if (!st)
        st = read_header(w, w->file_bytes, &l, err);
    if (!st)
        st = check_layout(&l, w->file_bytes, path, err);
    if (!st)
        st = verify_checksum(w, w->file_bytes, err);
    if (!st)
        st = parse_arch(w, l.off[1], err);
    if (!st)
        st = parse_tokdata(w, w->map, l.off[2], l.bytes[2], err);
    if (!st)
        st = parse_index(w, &l, err);
    if (st) {
        wfile_free(w);
        w->path = path;
    }
    return st;
}

/* ---- writer ---- */

struct wout {
    struct fileio_out *out; /* borrowed */
    int dry;                /* only hash: the first pass for an output written in place */
    struct xxh64 h;
    uint64_t pos;
    int err;
};

static void wbytes(struct wout *o, const void *p, size_t n)
{
    if (o->err || n == 0)
        return;
    if (o->pos >= 16) {
        xxh64_update(&o->h, p, n);
    } else if (o->pos + n > 16) {
        size_t skip = (size_t)(16 - o->pos);
        xxh64_update(&o->h, (const unsigned char *)p + skip, n - skip);
    }
    if (!o->dry && fileio_out_write(o->out, p, n, NULL) != IDIM_OK)
        o->err = o->out->err ? o->out->err : EIO;
    o->pos += n;
}

static void wzero(struct wout *o, uint64_t n)
{
    static const unsigned char z[64];
    while (n > 0) {
        size_t k = n > 64 ? 64 : (size_t)n;
        wbytes(o, z, k);
        n -= k;
    }
}

static void put16(unsigned char *b, uint16_t v) { b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void w32(struct wout *o, uint32_t v)
{
    unsigned char b[4];
    put32(b, v);
    wbytes(o, b, 4);
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct wfile_src_tensor wfile_src_from_arch(const struct arch_tensor *t, const float *data)
{
    struct wfile_src_tensor s;
    memset(&s, 0, sizeof s);
    s.name = t->name;
    s.n_dims = t->n_dims;
    s.shape[0] = t->shape[0];
    s.shape[1] = t->shape[1];
    s.data = data;
    return s;
}

/* Checks the tensors to write and fills TV (name, shape, element count);
 * *data_bytes is the size of the data section, each tensor 64-aligned. */
static enum idim_status plan_tensors(struct wfile_tensor *tv,
                                     const struct wfile_src_tensor *tensors, size_t n_tensors,
                                     uint64_t *data_bytes, const char *path, struct idim_err *err)
{
    *data_bytes = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const struct wfile_src_tensor *s = &tensors[i];
        size_t nlen = s->name ? strlen(s->name) : 0;
        if (nlen < 1 || nlen >= ARCH_NAME_MAX || s->n_dims < 1 || s->n_dims > WFILE_MAX_DIMS ||
            !s->data)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tensor %zu ('%s'): expected a 1..%d byte name, 1..%d dimensions "
                             "and data",
                             path, i, s->name ? s->name : "", ARCH_NAME_MAX - 1, WFILE_MAX_DIMS);
        memcpy(tv[i].name, s->name, nlen);
        tv[i].n_dims = s->n_dims;
        uint64_t prod = 1;
        for (int d = 0; d < s->n_dims; d++) {
            if (s->shape[d] < 1 || mul_ovf(prod, (uint64_t)s->shape[d], &prod) ||
                prod > (UINT64_MAX >> 8))
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: tensor '%s' dimension %d is %" PRId64
                                 ": expected >= 1 and a product that fits",
                                 path, s->name, d, s->shape[d]);
            tv[i].shape[d] = s->shape[d];
        }
        tv[i].n_elem = (size_t)prod;
        *data_bytes = align_up(*data_bytes, 64) + prod * 4;
    }
    return IDIM_OK;
}

/* Bytes of the tokenizer's strings (vocabulary, then merges). */
static uint64_t tok_string_bytes(const struct tokdata *tok)
{
    uint64_t sbytes = 0;
    for (uint64_t i = 0; i < tok->n_vocab; i++)
        sbytes += tok->vocab[i].len;
    for (uint64_t i = 0; i < tok->n_merges; i++)
        sbytes += tok->merges[i].len;
    return sbytes;
}

/* The section table a writer lays out: sections packed in order with the
 * alignment the reader's check_layout() demands. TOK is NULL for none. */
static void plan_layout(struct wfile_layout *l, const struct tokdata *tok, size_t n_tensors,
                        uint64_t data_bytes)
{
    uint64_t nv = tok ? tok->n_vocab : 0, nm = tok ? tok->n_merges : 0;
    uint64_t sbytes = tok ? tok_string_bytes(tok) : 0;
    l->n_tensors = n_tensors;
    l->off[0] = 0, l->bytes[0] = HDR_BYTES;
    l->off[1] = HDR_BYTES, l->bytes[1] = ARCH_BYTES;
    l->off[2] = l->off[1] + ARCH_BYTES, l->bytes[2] = TOK_FIXED + 4 * (nv + nm) + sbytes;
    l->off[3] = align_up(l->off[2] + l->bytes[2], 8), l->bytes[3] = REC_BYTES * n_tensors;
    l->off[4] = align_up(l->off[3] + l->bytes[3], 64), l->bytes[4] = data_bytes;
    l->file_bytes = l->off[4] + data_bytes;
}

static void put_header(struct wout *o, const struct wfile_layout *l, uint64_t digest)
{
    unsigned char h[HDR_BYTES] = {0};
    memcpy(h, "IDIMWTS", 8);
    put64(h + 8, digest);
    put16(h + 16, WFILE_VERSION_MAJOR);
    put16(h + 18, WFILE_VERSION_MINOR);
    put32(h + 20, BYTE_ORDER_MARK);
    put64(h + 24, l->file_bytes);
    put64(h + 32, l->off[1]);
    put64(h + 40, l->bytes[1]);
    put64(h + 48, l->off[2]);
    put64(h + 56, l->bytes[2]);
    put64(h + 64, l->off[3]);
    put64(h + 72, l->bytes[3]);
    put64(h + 80, l->n_tensors);
    put64(h + 88, l->off[4]);
    put64(h + 96, l->bytes[4]);
    wbytes(o, h, sizeof h);
}

static void put_arch(struct wout *o, const struct arch_config *cfg)
{
    unsigned char ab[ARCH_BYTES] = {0};
    uint32_t eps_bits;
    memcpy(&eps_bits, &cfg->ln_eps, 4);
    const uint32_t av[13] = {(uint32_t)cfg->family, (uint32_t)cfg->n_layers, (uint32_t)cfg->hidden,
                             (uint32_t)cfg->n_heads, (uint32_t)cfg->ffn, (uint32_t)cfg->vocab_size,
                             (uint32_t)cfg->max_pos, (uint32_t)cfg->type_vocab,
                             (uint32_t)cfg->pad_id, eps_bits, (uint32_t)cfg->act,
                             (uint32_t)cfg->has_pooler, (uint32_t)cfg->n_labels};
    for (int i = 0; i < 13; i++)
        put32(ab + 4 * i, av[i]);
    put32(ab + 52, (uint32_t)cfg->has_mlm_head);
    put32(ab + 56, (uint32_t)cfg->pretrain_steps);
    wbytes(o, ab, sizeof ab);
}

/* The tokenizer section; TOK NULL writes the 48-byte "absent" form. */
static void put_tokenizer(struct wout *o, const struct tokdata *tok)
{
    unsigned char tb[TOK_FIXED] = {0};
    uint64_t nv = tok ? tok->n_vocab : 0, nm = tok ? tok->n_merges : 0;
    if (tok) {
        put32(tb, 1);
        put32(tb + 4, (uint32_t)tok->kind);
        put32(tb + 8, tok->flags);
        put32(tb + 12, (uint32_t)tok->unk_id);
        put32(tb + 16, (uint32_t)tok->cls_id);
        put32(tb + 20, (uint32_t)tok->sep_id);
        put32(tb + 24, (uint32_t)tok->pad_id);
        put32(tb + 28, (uint32_t)tok->mask_id);
        put32(tb + 32, (uint32_t)nv);
        put32(tb + 36, (uint32_t)nm);
        put64(tb + 40, tok_string_bytes(tok));
    }
    wbytes(o, tb, sizeof tb);
    for (uint64_t i = 0; i < nv; i++)
        w32(o, tok->vocab[i].len);
    for (uint64_t i = 0; i < nm; i++)
        w32(o, tok->merges[i].len);
    for (uint64_t i = 0; i < nv; i++)
        wbytes(o, tok->vocab[i].s, tok->vocab[i].len);
    for (uint64_t i = 0; i < nm; i++)
        wbytes(o, tok->merges[i].s, tok->merges[i].len);
}

static void put_index(struct wout *o, const struct wfile_tensor *tv, size_t n_tensors,
                      uint64_t data_off)
{
    uint64_t toff = data_off;
    for (size_t i = 0; i < n_tensors; i++) {
        unsigned char r[REC_BYTES] = {0};
        memcpy(r, tv[i].name, strlen(tv[i].name));
        put32(r + 96, WFILE_DTYPE_F32);
        put32(r + 100, (uint32_t)tv[i].n_dims);
        for (int d = 0; d < tv[i].n_dims; d++)
            put64(r + 104 + 8 * d, (uint64_t)tv[i].shape[d]);
        toff = align_up(toff, 64);
        put64(r + 136, toff);
        put64(r + 144, (uint64_t)tv[i].n_elem * 4);
        wbytes(o, r, sizeof r);
        toff += (uint64_t)tv[i].n_elem * 4;
    }
}

/* The tensor data, each tensor 64-aligned; stops early on a write error
 * (left in o->err) or Ctrl-C (IDIM_ERR_INTERRUPTED). */
static enum idim_status put_data(struct wout *o, const struct wfile_src_tensor *tensors,
                                 const struct wfile_tensor *tv, size_t n_tensors, const char *path,
                                 struct idim_err *err)
{
    for (size_t i = 0; i < n_tensors && !o->err; i++) {
        wzero(o, align_up(o->pos, 64) - o->pos);
        wbytes(o, tensors[i].data, tv[i].n_elem * 4);
        if (idim_interrupted)
            return idim_fail(err, IDIM_ERR_INTERRUPTED, "%s: interrupted while writing", path);
    }
    return IDIM_OK;
}

/* One pass over the whole image: hashes it and, unless o->dry, writes it. */
static enum idim_status put_image(struct wout *o, const struct wfile_layout *l, uint64_t digest,
                                  const struct arch_config *cfg, const struct tokdata *tok,
                                  const struct wfile_src_tensor *tensors,
                                  const struct wfile_tensor *tv, const char *path,
                                  struct idim_err *err)
{
    xxh64_init(&o->h, 0);
    put_header(o, l, digest);
    put_arch(o, cfg);
    put_tokenizer(o, tok);
    wzero(o, l->off[3] - o->pos);
    put_index(o, tv, l->n_tensors, l->off[4]);
    wzero(o, l->off[4] - o->pos);
    enum idim_status st = put_data(o, tensors, tv, l->n_tensors, path, err);
    if (st)
        return st;
    if (o->err)
        return idim_fail(err, IDIM_ERR_WRITE, "%s: write failed after %" PRIu64 " bytes: %s",
                         path, o->out->pos, strerror(o->err));
    if (o->pos != l->file_bytes)
        return idim_fail(err, IDIM_ERR_INTERNAL, "%s: wrote %" PRIu64 " bytes, planned %" PRIu64,
                         path, o->pos, l->file_bytes);
    return IDIM_OK;
}

enum idim_status wfile_write(const char *path, const struct arch_config *cfg,
                             const struct tokdata *tok, const struct wfile_src_tensor *tensors,
                             size_t n_tensors, struct idim_err *err)
{
    enum idim_status st = arch_validate(cfg, path, err);
    if (st)
        return st;
    if (!host_is_little_endian())
        return idim_fail(err, IDIM_ERR_INTERNAL, "%s: writing model files needs a little-endian host",
                         path);
    if (tok && tok->kind == 0)
        tok = NULL;
    if (tok && (st = check_tokdata(tok, cfg, path, err)))
        return st;
    if (n_tensors < 1 || n_tensors > MAX_TENSORS)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: %zu tensors to write: expected 1..%u", path,
                         n_tensors, MAX_TENSORS);
    struct wfile_tensor *tv = calloc(n_tensors, sizeof *tv);
    struct fileio_out out;
    int opened = 0;
    if (!tv)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    uint64_t data_bytes;
    if ((st = plan_tensors(tv, tensors, n_tensors, &data_bytes, path, err)) ||
        (st = check_tensors(cfg, tv, n_tensors, path, err)))
        goto done;
    struct wfile_layout l;
    plan_layout(&l, tok, n_tensors, data_bytes);

    if ((st = fileio_out_open(&out, path, err)))
        goto done;
    opened = 1;
    /* a device or FIFO cannot be seeked back to for the checksum: a first
     * pass only hashes, the second writes with the checksum known */
    uint64_t digest = 0;
    for (int pass = out.mode == FILEIO_STREAM ? 0 : 1; pass < 2; pass++) {
        struct wout o = {&out, pass == 0, {{0}, 0, 0, {0}, 0}, 0, 0};
        if ((st = put_image(&o, &l, digest, cfg, tok, tensors, tv, path, err)))
            goto done;
        digest = xxh64_digest(&o.h);
    }
    if (out.mode == FILEIO_REPLACE) {
        unsigned char cb[8];
        put64(cb, digest);
        if ((st = fileio_out_patch(&out, 8, cb, 8, err)))
            goto done;
    }
    opened = 0;
    st = fileio_out_commit(&out, err);
done:
    if (opened)
        fileio_out_abort(&out);
    free(tv);
    return st;
}
