/* wfile.h - the idim weights file: reader and writer.
 *
 * The normative byte layout is docs/FORMAT.md; a summary table sits at the
 * top of src/wfile.c. The file is little-endian and mmap-able: every tensor
 * is f32 at a 64-byte-aligned offset, so a reader hands out pointers into
 * the read-only mapping (theta0 is never copied nor written).
 *
 * Stage: first. Inputs: a path. Outputs: config, tokenizer data, tensors. */
#ifndef IDIM_WFILE_H
#define IDIM_WFILE_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "status.h"
#include "tokdata.h"

#define WFILE_MAX_DIMS 4

/* Format version written by this build; a reader accepts any 1.x and
 * refuses a newer major version (docs/FORMAT.md, "Versioning"). */
#define WFILE_VERSION_MAJOR 1
#define WFILE_VERSION_MINOR 1
#define WFILE_MAGIC "IDIMWTS" /* 8 bytes on disk: these 7 and a NUL */
#define WFILE_DTYPE_F32 1u

struct wfile_tensor {
    char name[ARCH_NAME_MAX];
    int n_dims;
    int64_t shape[WFILE_MAX_DIMS];
    size_t n_elem;
    const float *data;   /* borrowed: points into the mapping (f32, aligned) */
};

struct wfile {
    struct arch_config cfg;     /* validated with arch_validate */
    struct tokdata tok;         /* strings point into the mapping; kind == 0: the file
                                   holds no tokenizer (idim init --vocab-size) */
    size_t n_tensors;
    struct wfile_tensor *tensors; /* [n_tensors], file order */
    uint64_t checksum;          /* the file's integrity checksum, as stored */
    char checksum_hex[17];      /* the same, 16 lower-case hex digits: "model checksum" in reports */
    uint16_t version_major, version_minor;
    size_t file_bytes;
    const char *path;           /* borrowed from the caller */
    void *map;                  /* mapping (owned) */
    int map_is_heap;            /* 1: map is an aligned heap block (mmap failed), else mmap */
};

/* Opens, maps and fully validates a weights file, including the checksum.
 * On success *w owns the mapping; release with wfile_free(). Returns
 * IDIM_OK, IDIM_ERR_IO (missing, unreadable) or IDIM_ERR_FORMAT (anything
 * else), with err->msg naming the path and the field. */
enum idim_status wfile_open(struct wfile *w, const char *path, struct idim_err *err);

/* The tensor called `name`, or NULL. */
const struct wfile_tensor *wfile_find(const struct wfile *w, const char *name);

/* Releases the mapping; accepts a zeroed struct. */
void wfile_free(struct wfile *w);

/* 1 when the file holds tokenizer data (w->tok.kind != 0), else 0. */
int wfile_has_tokenizer(const struct wfile *w);

/* IDIM_OK when the file holds a tokenizer, else IDIM_ERR_FORMAT with
 * "<path>: holds no tokenizer (...)": for commands that must tokenize. */
enum idim_status wfile_need_tokenizer(const struct wfile *w, struct idim_err *err);

/* Sum of n_elem over the file's tensors. */
size_t wfile_n_params(const struct wfile *w);

/* XXH64 (Collet; spec in docs/FORMAT.md) of n bytes with a 64-bit seed. */
uint64_t wfile_xxh64(const void *p, size_t n, uint64_t seed);

/* The checksum a complete file image of n bytes should carry in its
 * header: XXH64 with seed 0 of bytes [16, n). Used by tests that edit a
 * file's bytes and re-seal it. n must be >= 16. */
uint64_t wfile_checksum_image(const void *file, size_t n);

/* One tensor to write: f32 data in caller memory. */
struct wfile_src_tensor {
    const char *name;
    int n_dims;
    int64_t shape[WFILE_MAX_DIMS];
    const float *data;
};

/* The source entry for a tensor-table entry (name and shape borrowed from
 * *t) whose values are at data. */
struct wfile_src_tensor wfile_src_from_arch(const struct arch_tensor *t, const float *data);

/* Writes a weights file: cfg (validated), tokenizer data, tensors in the
 * order given. Writes "<path>.tmp.<pid>" then renames it over path, so a
 * failure (disk full, interrupt) leaves no partial file. Returns IDIM_OK,
 * IDIM_ERR_WRITE or IDIM_ERR_FORMAT (inconsistent input). tok may be NULL
 * or have kind 0: the file then holds no tokenizer. */
enum idim_status wfile_write(const char *path, const struct arch_config *cfg,
                             const struct tokdata *tok, const struct wfile_src_tensor *tensors,
                             size_t n_tensors, struct idim_err *err);

#endif
