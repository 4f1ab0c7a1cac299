/* convert.c - Hugging Face checkpoint folder -> idim weights file.
 *
 * Stage: before wfile readers. Inputs: DIR/config.json, DIR/model.safetensors
 * (or DIR/model.safetensors.index.json and its shards), DIR's tokenizer
 * files. Output: one idim weights file (docs/FORMAT.md).
 *
 * safetensors layout (huggingface/safetensors): u64 LE header length N, N
 * bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
 * "__metadata__": {...}}, then the data; offsets are relative to the data
 * start. Every field is checked: JSON validity, N within the file, dtype
 * known, shape product without overflow, end - begin == size, end within
 * the file, no two tensors overlapping.
 *
 * Name mapping (checkpoint -> ARCH_TABLE_FILE name):
 *   [bert.|roberta.|electra.]embeddings.* / encoder.* / pooler.*
 *       -> <family>.embeddings.* / .encoder.* / .pooler.*
 *   LayerNorm.gamma / LayerNorm.beta (old TF-converted checkpoints)
 *       -> LayerNorm.weight / LayerNorm.bias
 *   classifier.* (bert: weight/bias; roberta: dense.*, out_proj.*) -> kept
 *   cls.predictions.{transform.*,bias} / lm_head.{dense,layer_norm,bias}
 *       -> kept under the same names when all five are there (has_mlm_head;
 *          the tied decoder weight and bias are dropped as duplicates)
 *   other cls.*, lm_head.*, discriminator_predictions.*, generator_* -> dropped
 *   embeddings.position_ids / token_type_ids (buffers) -> dropped
 * ELECTRA maps to the bert family (same embeddings, absolute positions,
 * two token types, post-LN encoder); it has no pooler, and its
 * classification head (dense, gelu, out_proj) is not BERT's, so it is
 * dropped and reported; embedding_size != hidden_size is refused. */
#include "convert.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokdata.h"
#include "wfile.h"

#define MAX_JSON_HEADER (100u << 20)
#define MAX_SHARDS 1024

float convert_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: man * 2^-24, normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float convert_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void convert_report_free(struct convert_report *rep)
{
    if (!rep)
        return;
    free(rep->kept);
    free(rep->dropped);
    memset(rep, 0, sizeof *rep);
}

/* ---- files ---- */

struct mfile {
    char path[4096];
    const unsigned char *p;
    size_t n;
};

static enum idim_status mfile_open(struct mfile *m, const char *path, struct idim_err *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return idim_fail(err, IDIM_ERR_IO, "%s: not a regular file (a folder, FIFO or device)",
                         path);
    }
    m->n = (size_t)sb.st_size;
    if (m->n == 0) {
        close(fd);
        return IDIM_OK;
    }
    void *p = mmap(NULL, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return idim_fail(err, IDIM_ERR_IO, "%s: cannot map %zu bytes: %s", path, m->n,
                         strerror(errno));
    m->p = p;
    return IDIM_OK;
}

static void mfile_close(struct mfile *m)
{
    if (m->p)
        munmap((void *)m->p, m->n);
    m->p = NULL;
}

/* Index of the first byte after the JSON value that is not whitespace, or n. */
static size_t json_trailing(const char *p, size_t n, const char *end)
{
    size_t i = end ? (size_t)(end - p) : n;
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

/* config.json and index files are kilobytes; tokenizer.json tens of megabytes */
#define CONVERT_JSON_MAX ((size_t)256 << 20)

static enum idim_status read_json(const char *path, cJSON **out, struct idim_err *err)
{
    struct mfile m;
    enum idim_status st = mfile_open(&m, path, err);
    if (st)
        return st;
    if (m.n > CONVERT_JSON_MAX) { /* cJSON would need several times this */
        mfile_close(&m);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: %zu bytes: expected a JSON file of at most %zu",
                         path, m.n, CONVERT_JSON_MAX);
    }
    const char *end = NULL;
    cJSON *j = m.n ? cJSON_ParseWithLengthOpts((const char *)m.p, m.n, &end, 0) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        size_t at = end && m.p ? (size_t)(end - (const char *)m.p) : 0;
        if (!j) {
            const char *e = cJSON_GetErrorPtr();
            if (e && m.p && e >= (const char *)m.p && e <= (const char *)m.p + m.n)
                at = (size_t)(e - (const char *)m.p);
        }
        cJSON_Delete(j);
        mfile_close(&m);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: %s at byte %zu", path,
                         j ? "expected a JSON object" : "not valid JSON", at);
    }
    size_t tr = json_trailing((const char *)m.p, m.n, end);
    mfile_close(&m);
    if (tr < m.n) {
        cJSON_Delete(j);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: not valid JSON: unexpected text after the "
                         "object at byte %zu", path, tr);
    }
    *out = j;
    return IDIM_OK;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- safetensors ---- */

struct st_tensor {
    char name[256];
    char dtype[8];
    int esize;          /* bytes per element */
    int n_dims;
    int64_t shape[8];
    uint64_t n_elem;
    const unsigned char *data; /* into the shard mapping */
    uint64_t begin, end;
    int shard;
    int used;           /* 1 once mapped */
};

struct st_set {
    struct mfile *shard; /* [cap_shards], grown as shards are opened (owned) */
    int n_shards, cap_shards;
    struct st_tensor *t;
    size_t n, cap;
};

static int dtype_size(const char *d)
{
    static const struct {
        const char *name;
        int size;
    } tab[] = {{"F64", 8},  {"F32", 4},  {"F16", 2},  {"BF16", 2},    {"I64", 8},
               {"I32", 4},  {"I16", 2},  {"I8", 1},   {"U64", 8},     {"U32", 4},
               {"U16", 2},  {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(d, tab[i].name))
            return tab[i].size;
    return 0;
}

static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v))
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int cmp_begin(const void *a, const void *b)
{
    const struct st_tensor *const *x = a, *const *y = b;
    if ((*x)->begin != (*y)->begin)
        return (*x)->begin < (*y)->begin ? -1 : 1;
    return (*x)->end < (*y)->end ? -1 : (*x)->end > (*y)->end;
}

/* Opens PATH as shard S->n_shards and maps it into S->shard[]. */
static enum idim_status st_add_shard(struct st_set *S, const char *path, struct idim_err *err)
{
    if (S->n_shards >= MAX_SHARDS)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: more than %d shards", path, MAX_SHARDS);
    if (S->n_shards == S->cap_shards) {
        int ncap = S->cap_shards ? 2 * S->cap_shards : 4;
        struct mfile *ns = realloc(S->shard, (size_t)ncap * sizeof *ns);
        if (!ns)
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
        S->shard = ns;
        S->cap_shards = ncap;
    }
    enum idim_status st = mfile_open(&S->shard[S->n_shards], path, err);
    if (st)
        return st;
    S->n_shards++;
    return IDIM_OK;
}

/* A safetensors file's JSON header: u64 length, then one object. On success
 * *json is the parsed object (the caller deletes it) and *hn its length. */
static enum idim_status st_parse_header(const struct mfile *m, const char *path, cJSON **json,
                                        uint64_t *hn_out, struct idim_err *err)
{
    if (m->n < 8)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: truncated: a safetensors file starts with an 8-byte header length, "
                         "found %zu bytes",
                         path, m->n);
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++)
        hn |= (uint64_t)m->p[i] << (8 * i);
    if (hn > m->n - 8)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says its JSON is %" PRIu64
                         " bytes: expected at most %zu (the file is %zu bytes), at byte 0",
                         path, hn, m->n - 8, m->n);
    if (hn > MAX_JSON_HEADER || hn < 2)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: header says its JSON is %" PRIu64 " bytes: expected 2..%u, at byte 0",
                         path, hn, MAX_JSON_HEADER);
    const char *js = (const char *)m->p + 8;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(js, (size_t)hn, &end, 0);
    if (!j || !cJSON_IsObject(j)) {
        size_t at = 8;
        const char *e = j ? NULL : cJSON_GetErrorPtr();
        if (e && e >= js && e <= js + hn)
            at = 8 + (size_t)(e - js);
        cJSON_Delete(j);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: safetensors header is %s, at byte %zu", path,
                         j ? "JSON but not an object" : "not valid JSON", at);
    }
    size_t tr = json_trailing(js, (size_t)hn, end);
    if (tr < hn) {
        cJSON_Delete(j);
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: safetensors header is not valid JSON: unexpected text after the "
                         "object, at byte %zu",
                         path, 8 + tr);
    }
    *json = j;
    *hn_out = hn;
    return IDIM_OK;
}

/* Shape of tensor NAME from the JSON array SH into t (n_dims, shape);
 * *prod is the element count. */
static enum idim_status st_parse_shape(struct st_tensor *t, const cJSON *sh, const char *name,
                                       uint64_t *prod, const char *path, struct idim_err *err)
{
    int nd = cJSON_GetArraySize(sh);
    if (nd > 8)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor '%s' has %d dimensions: expected <= 8",
                         path, name, nd);
    t->n_dims = nd;
    *prod = 1;
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        uint64_t v;
        if (!json_uint(x, &v) || v > INT64_MAX)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tensor '%s' dimension %d is not a non-negative whole number",
                             path, name, d);
        t->shape[d] = (int64_t)v;
        if (v && *prod > UINT64_MAX / v)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tensor '%s' shape product overflows 64 bits at dimension %d",
                             path, name, d);
        *prod *= v;
    }
    return IDIM_OK;
}

/* One header entry E of shard SI (its data section: DATA, DATA_BYTES long)
 * appended to S->t: dtype, shape and a data range that fits. */
static enum idim_status st_parse_entry(struct st_set *S, const cJSON *e, int si,
                                       const unsigned char *data, uint64_t data_bytes,
                                       const char *path, struct idim_err *err)
{
    const char *name = e->string ? e->string : "";
    if (strlen(name) >= sizeof S->t[0].name || !name[0])
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor name of %zu bytes: expected 1..%zu",
                         path, strlen(name), sizeof S->t[0].name - 1);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
        cJSON_GetArraySize(of) != 2)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s': expected {\"dtype\": string, \"shape\": [..], "
                         "\"data_offsets\": [begin, end]}",
                         path, name);
    if (S->n == S->cap) {
        size_t nc = S->cap ? 2 * S->cap : 256;
        struct st_tensor *nt = realloc(S->t, nc * sizeof *nt);
        if (!nt)
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
        S->t = nt, S->cap = nc;
    }
    struct st_tensor *t = &S->t[S->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->shard = si;
    t->esize = dtype_size(dt->valuestring);
    if (!t->esize)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' has unknown dtype '%.20s': expected a safetensors dtype "
                         "(F32, F16, BF16, ...)",
                         path, name, dt->valuestring);
    snprintf(t->dtype, sizeof t->dtype, "%s", dt->valuestring);
    uint64_t prod = 0;
    enum idim_status st = st_parse_shape(t, sh, name, &prod, path, err);
    if (st)
        return st;
    uint64_t b, en;
    if (!json_uint(of->child, &b) || !json_uint(of->child->next, &en) || en < b)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' data_offsets: expected two whole numbers begin <= end",
                         path, name);
    if (prod > UINT64_MAX / (uint64_t)t->esize || en - b != prod * (uint64_t)t->esize)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                         " bytes: expected %" PRIu64 " elements x %d bytes (%s)",
                         path, name, b, en, en - b, prod, t->esize, t->dtype);
    if (en > data_bytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' data_offsets end at %" PRIu64
                         " past the end of the data (%" PRIu64 " bytes after the header)",
                         path, name, en, data_bytes);
    t->n_elem = prod;
    t->begin = b, t->end = en;
    t->data = data + b;
    S->n++;
    return IDIM_OK;
}

/* No two of the tensors S->t[first..] (one file's) share bytes. */
static enum idim_status st_check_overlap(const struct st_set *S, size_t first, const char *path,
                                         struct idim_err *err)
{
    size_t cnt = S->n - first;
    if (cnt < 2)
        return IDIM_OK;
    struct st_tensor **v = malloc(cnt * sizeof *v);
    if (!v)
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < cnt; i++)
        v[i] = &S->t[first + i];
    qsort(v, cnt, sizeof *v, cmp_begin);
    enum idim_status st = IDIM_OK;
    for (size_t i = 1; i < cnt && !st; i++) {
        if (v[i]->begin < v[i - 1]->end)
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64
                           ", %" PRIu64 ") overlap",
                           path, v[i - 1]->name, v[i - 1]->begin, v[i - 1]->end, v[i]->name,
                           v[i]->begin, v[i]->end);
    }
    free(v);
    return st;
}

static enum idim_status st_load(struct st_set *S, const char *path, struct idim_err *err)
{
    enum idim_status st = st_add_shard(S, path, err);
    if (st)
        return st;
    int si = S->n_shards - 1;
    const struct mfile *m = &S->shard[si];
    cJSON *j = NULL;
    uint64_t hn = 0;
    if ((st = st_parse_header(m, path, &j, &hn, err)))
        return st;
    const unsigned char *data = m->p + 8 + hn;
    uint64_t data_bytes = m->n - 8 - hn;
    size_t first = S->n;
    for (cJSON *e = j->child; e && !st; e = e->next)
        if (!e->string || strcmp(e->string, "__metadata__"))
            st = st_parse_entry(S, e, si, data, data_bytes, path, err);
    cJSON_Delete(j);
    if (st)
        return st;
    return st_check_overlap(S, first, path, err);
}

static void st_free(struct st_set *S)
{
    for (int i = 0; i < S->n_shards; i++)
        mfile_close(&S->shard[i]);
    free(S->shard);
    free(S->t);
    memset(S, 0, sizeof *S);
}

static enum idim_status load_weights(struct st_set *S, const char *dir, struct idim_err *err)
{
    char path[4096], idx[4096];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!file_exists(idx)) {
        if (!file_exists(path)) {
            char pt[4096];
            snprintf(pt, sizeof pt, "%s/pytorch_model.bin", dir);
            if (file_exists(pt))
                return idim_fail(err, IDIM_ERR_IO,
                                 "%s: missing; the folder only has pytorch_model.bin: write "
                                 "model.safetensors with '/usr/bin/python3 scripts/pt2safetensors.py "
                                 "%s' (needs torch)",
                                 path, dir);
            return idim_fail(err, IDIM_ERR_IO,
                             "%s: missing (expected model.safetensors or "
                             "model.safetensors.index.json in %s)",
                             path, dir);
        }
        return st_load(S, path, err);
    }
    cJSON *j = NULL;
    enum idim_status st = read_json(idx, &j, err);
    if (st)
        return st;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(j);
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: expected a non-empty \"weight_map\" object {tensor: shard file}", idx);
    }
    /* Load each distinct shard once, in order of first mention. */
    for (const cJSON *e = wm->child; e && !st; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') ||
            e->valuestring[0] == '.') {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: weight_map entry '%s': expected a file name in the same folder",
                           idx, e->string ? e->string : "");
            break;
        }
        int seen = 0;
        for (const cJSON *f = wm->child; f != e && !seen; f = f->next)
            seen = !strcmp(f->valuestring, e->valuestring);
        if (seen)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        st = st_load(S, path, err);
    }
    /* Every weight_map entry must be in the shard it names. */
    for (const cJSON *e = wm->child; e && !st; e = e->next) {
        int found = 0;
        for (size_t i = 0; i < S->n && !found; i++) {
            const char *sp = strrchr(S->shard[S->t[i].shard].path, '/');
            found = !strcmp(S->t[i].name, e->string) && !strcmp(sp + 1, e->valuestring);
        }
        if (!found)
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: weight_map says tensor '%s' is in %s, but that file does not hold "
                           "it",
                           idx, e->string, e->valuestring);
    }
    cJSON_Delete(j);
    return st;
}

/* ---- config ---- */

static enum idim_status cfg_int(const cJSON *j, const char *key, int def, int required, long lo,
                                long hi, int *out, const char *path, struct idim_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: \"%s\" is missing", path, key);
        *out = def;
        return IDIM_OK;
    }
    uint64_t u;
    if (!json_uint(v, &u) || (long long)u < lo || (long long)u > hi)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: \"%s\" must be a whole number from %ld to %ld",
                         path, key, lo, hi);
    *out = (int)u;
    return IDIM_OK;
}

static enum idim_status read_config(const char *dir, struct convert_report *rep, int *electra,
                                    struct idim_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *j = NULL;
    enum idim_status st = read_json(path, &j, err);
    if (st)
        return st;
    struct arch_config *c = &rep->cfg;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (!cJSON_IsString(mt)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: \"model_type\" is missing or not a string", path);
        goto done;
    }
    snprintf(rep->model_type, sizeof rep->model_type, "%s", mt->valuestring);
    const char *m = mt->valuestring;
    *electra = 0;
    if (!strcmp(m, "bert")) {
        c->family = ARCH_BERT;
    } else if (!strcmp(m, "roberta") || !strcmp(m, "xlm-roberta")) {
        c->family = ARCH_ROBERTA;
    } else if (!strcmp(m, "electra")) {
        c->family = ARCH_BERT;
        *electra = 1;
    } else {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: unsupported model_type '%.40s': expected bert, roberta, xlm-roberta or "
                       "electra",
                       path, m);
        goto done;
    }
    int rob = c->family == ARCH_ROBERTA;
    if ((st = cfg_int(j, "num_hidden_layers", 0, 1, 1, ARCH_MAX_LAYERS, &c->n_layers, path, err)) ||
        (st = cfg_int(j, "hidden_size", 0, 1, 1, 65536, &c->hidden, path, err)) ||
        (st = cfg_int(j, "num_attention_heads", 0, 1, 1, 1024, &c->n_heads, path, err)) ||
        (st = cfg_int(j, "intermediate_size", 0, 1, 1, 1 << 20, &c->ffn, path, err)) ||
        (st = cfg_int(j, "vocab_size", 0, 1, 1, 1 << 24, &c->vocab_size, path, err)) ||
        (st = cfg_int(j, "max_position_embeddings", 0, 1, 1, 1 << 20, &c->max_pos, path, err)) ||
        (st = cfg_int(j, "type_vocab_size", 2, 0, 1, 1024, &c->type_vocab, path, err)) ||
        (st = cfg_int(j, "pad_token_id", rob ? 1 : 0, 0, 0, (1 << 24) - 1, &c->pad_id, path, err)))
        goto done;
    if (*electra) {
        int emb = c->hidden;
        if ((st = cfg_int(j, "embedding_size", c->hidden, 0, 1, 65536, &emb, path, err)))
            goto done;
        if (emb != c->hidden) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: ELECTRA embedding_size %d differs from hidden_size %d: this model "
                           "projects its embeddings (embeddings_project), which idim does not "
                           "support",
                           path, emb, c->hidden);
            goto done;
        }
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    c->ln_eps = 1e-12f;
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1)) {
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: \"layer_norm_eps\" must be a number in (0, 1)",
                           path);
            goto done;
        }
        c->ln_eps = (float)eps->valuedouble;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "gelu"))) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: hidden_act '%.30s' is not supported: expected \"gelu\" (exact erf form)",
                       path, cJSON_IsString(act) ? act->valuestring : "?");
        goto done;
    }
    c->act = ARCH_GELU;
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(j, "position_embedding_type");
    if (pe && !(cJSON_IsString(pe) && !strcmp(pe->valuestring, "absolute"))) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: position_embedding_type '%.30s' is not supported: expected \"absolute\"",
                       path, cJSON_IsString(pe) ? pe->valuestring : "?");
        goto done;
    }
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "is_decoder");
    if (cJSON_IsTrue(dec)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: is_decoder is true: idim supports encoders only",
                       path);
        goto done;
    }
done:
    cJSON_Delete(j);
    return st;
}

/* ---- names ---- */

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* body with TF-style LayerNorm.gamma/.beta renamed .weight/.bias. */
static void ln_rename(char *body, size_t cap)
{
    size_t bl = strlen(body);
    if (bl > 16 && !strcmp(body + bl - 16, ".LayerNorm.gamma"))
        snprintf(body + bl - 6, cap - (bl - 6), ".weight");
    else if (bl > 15 && !strcmp(body + bl - 15, ".LayerNorm.beta"))
        snprintf(body + bl - 5, cap - (bl - 5), ".bias");
}

/* The family's five masked-LM head names of the file table (arch.h), in
 * table order. Found once per conversion: they do not depend on the layer
 * count, so the table is built without layers (a handful of rows on the
 * stack) instead of once per checkpoint tensor. */
struct mlm_names {
    char n[5][ARCH_NAME_MAX];
};

static void mlm_names_of(const struct arch_config *c, struct mlm_names *out)
{
    struct arch_config m = *c;
    m.has_mlm_head = 1;
    m.n_labels = 0;
    m.has_pooler = 0;
    m.n_layers = 0;
    struct arch_tensor all[16]; /* 5 embeddings + 5 head rows */
    size_t nt = arch_tensors(&m, ARCH_TABLE_FILE, 0, all, sizeof all / sizeof all[0]);
    assert(nt >= 5 && nt <= sizeof all / sizeof all[0]);
    for (int k = 0; k < 5; k++) /* the head closes the table */
        memcpy(out->n[k], all[nt - 5 + (size_t)k].name, ARCH_NAME_MAX);
}

/* Index 0..4 of a (renamed) checkpoint name among the head names, or -1. */
static int mlm_index(const char *name, const struct mlm_names *h)
{
    for (int k = 0; k < 5; k++)
        if (!strcmp(h->n[k], name))
            return k;
    return -1;
}

/* Maps a checkpoint name to its table name (returns 1) or gives the reason
 * it is dropped (returns 0). keep_mlm: the checkpoint holds the whole
 * masked-LM head, kept under its HF names. */
static int map_name(const char *src, const struct arch_config *c, int electra, int keep_mlm,
                    const struct mlm_names *head, char *dst, size_t cap, const char **reason)
{
    const char *fam = arch_family_name(c->family);
    const char *s = src;
    static const char *pre[3] = {"bert.", "roberta.", "electra."};
    for (int i = 0; i < 3; i++)
        if (has_prefix(s, pre[i])) {
            s += strlen(pre[i]);
            break;
        }
    char body[256];
    snprintf(body, sizeof body, "%s", s);
    ln_rename(body, sizeof body);
    if (keep_mlm && mlm_index(body, head) >= 0) {
        snprintf(dst, cap, "%s", body);
        return 1;
    }
    if (!strcmp(body, "embeddings.position_ids") || !strcmp(body, "embeddings.token_type_ids")) {
        *reason = "buffer, not a parameter";
        return 0;
    }
    if (has_prefix(body, "embeddings.") || has_prefix(body, "encoder.") ||
        has_prefix(body, "pooler.")) {
        snprintf(dst, cap, "%s.%s", fam, body);
        return 1;
    }
    if (has_prefix(src, "classifier.")) {
        if (electra) {
            *reason = "ELECTRA classification head (dense, gelu, out_proj) is not BERT's "
                      "pooler + classifier; idim creates a fresh head";
            return 0;
        }
        snprintf(dst, cap, "%s", src);
        return 1;
    }
    if (keep_mlm && (!strcmp(src, "cls.predictions.decoder.weight") ||
                     !strcmp(src, "lm_head.decoder.weight"))) {
        *reason = "MLM decoder weight, tied to the word embeddings (kept once)";
        return 0;
    }
    if (keep_mlm && (!strcmp(src, "cls.predictions.decoder.bias") ||
                     !strcmp(src, "lm_head.decoder.bias"))) {
        *reason = "MLM decoder bias, the same tensor as the head's bias (kept once)";
        return 0;
    }
    if (has_prefix(src, "cls.") || has_prefix(src, "lm_head.") ||
        has_prefix(src, "generator_") || has_prefix(src, "discriminator_predictions."))
        *reason = "pretraining head (masked-LM / replaced-token detection)";
    else
        *reason = "not part of the encoder or a sequence-classification head";
    return 0;
}

static enum idim_status add_item(struct convert_item **arr, size_t *n, const struct st_tensor *t,
                                 const char *dst, const char *reason, struct idim_err *err)
{
    /* capacity: the next power of two (16 at least), so the list grows in
     * O(n) copies, not one realloc per tensor */
    size_t cap = 16;
    while (cap < *n)
        cap *= 2;
    if (*n == 0 || *n == cap) {
        if (*n)
            cap *= 2;
        struct convert_item *na = realloc(*arr, cap * sizeof *na);
        if (!na)
            return idim_fail(err, IDIM_ERR_NOMEM, "convert: out of memory");
        *arr = na;
    }
    struct convert_item *it = &(*arr)[(*n)++];
    memset(it, 0, sizeof *it);
    snprintf(it->src, sizeof it->src, "%s", t->name);
    snprintf(it->dst, sizeof it->dst, "%s", dst ? dst : "");
    snprintf(it->dtype, sizeof it->dtype, "%s", t->dtype);
    it->reason = reason;
    return IDIM_OK;
}

static void widen(float *out, const struct st_tensor *t)
{
    const unsigned char *p = t->data;
    if (!strcmp(t->dtype, "F32")) {
        memcpy(out, p, t->n_elem * 4); /* little-endian host (checked by wfile_write) */
    } else if (!strcmp(t->dtype, "F16")) {
        for (uint64_t i = 0; i < t->n_elem; i++)
            out[i] = convert_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    } else {
        for (uint64_t i = 0; i < t->n_elem; i++)
            out[i] = convert_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    }
}

/* Whether to keep the checkpoint's masked-LM head: only when all five of
 * its tensors are there (never for ELECTRA, whose head is a discriminator). */
static int keep_mlm_head(const struct st_set *S, const struct mlm_names *head, int electra)
{
    int mlm_seen[5] = {0};
    for (size_t i = 0; !electra && i < S->n; i++) {
        char nb[256];
        snprintf(nb, sizeof nb, "%s", S->t[i].name);
        ln_rename(nb, sizeof nb);
        int k = mlm_index(nb, head);
        if (k >= 0)
            mlm_seen[k] = 1;
    }
    return !electra && mlm_seen[0] && mlm_seen[1] && mlm_seen[2] && mlm_seen[3] && mlm_seen[4];
}

/* Gives each checkpoint tensor its idim name in mapped[i] (NULL: dropped,
 * listed in rep->dropped with the reason) and sets c->has_pooler and
 * c->n_labels from what the checkpoint holds. */
static enum idim_status map_tensors(struct st_set *S, struct arch_config *c, int electra,
                                    const struct mlm_names *head, char **mapped, struct convert_report *rep, const char *dir,
                                    struct idim_err *err)
{
    char wfile_pre[32];
    snprintf(wfile_pre, sizeof wfile_pre, "%s.", arch_family_name(c->family));
    const char *head_w = c->family == ARCH_BERT ? "classifier.weight" : "classifier.out_proj.weight";
    enum idim_status st;
    int pool_w = 0, pool_b = 0;
    for (size_t i = 0; i < S->n; i++) {
        char dst[320];
        const char *reason = NULL;
        if (!map_name(S->t[i].name, c, electra, c->has_mlm_head, head, dst, sizeof dst, &reason)) {
            if ((st = add_item(&rep->dropped, &rep->n_dropped, &S->t[i], NULL, reason, err)))
                return st;
            continue;
        }
        if (strlen(dst) >= ARCH_NAME_MAX)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: tensor name '%s' is too long", dir,
                             S->t[i].name);
        for (size_t k = 0; k < i; k++)
            if (mapped[k] && !strcmp(mapped[k], dst))
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: checkpoint tensors '%s' and '%s' both map to '%s'", dir,
                                 S->t[k].name, S->t[i].name, dst);
        mapped[i] = strdup(dst);
        if (!mapped[i])
            return idim_fail(err, IDIM_ERR_NOMEM, "convert: out of memory");
        const char *rest = dst + strlen(wfile_pre);
        if (has_prefix(dst, wfile_pre) && !strcmp(rest, "pooler.dense.weight"))
            pool_w = 1;
        if (has_prefix(dst, wfile_pre) && !strcmp(rest, "pooler.dense.bias"))
            pool_b = 1;
        if (!strcmp(dst, head_w)) {
            if (S->t[i].n_dims != 2 || S->t[i].shape[0] < 1 || S->t[i].shape[0] > 1024)
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: head tensor '%s' must be [n_labels, hidden] with 1..1024 "
                                 "labels",
                                 dir, S->t[i].name);
            c->n_labels = (int)S->t[i].shape[0];
        }
    }
    c->has_pooler = pool_w || pool_b; /* a half pooler is reported as missing below */
    return IDIM_OK;
}

/* The folder's tokenizer agrees with config.json (kind, vocabulary size),
 * and the configuration is in range. */
static enum idim_status check_tokenizer(const struct tokdata *tok, const struct convert_report *rep,
                                        const char *dir, struct idim_err *err)
{
    const struct arch_config *c = &rep->cfg;
    if ((tok->kind == TOK_WORDPIECE) != (c->family == ARCH_BERT))
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: model_type %s needs a %s tokenizer but the folder holds a %s one",
                         dir, rep->model_type,
                         c->family == ARCH_BERT ? "WordPiece" : "byte-level BPE",
                         tok->kind == TOK_WORDPIECE ? "WordPiece" : "byte-level BPE");
    if (tok->n_vocab > (uint32_t)c->vocab_size)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s/config.json: vocab_size is %d but the tokenizer has %u tokens", dir,
                         c->vocab_size, (unsigned)tok->n_vocab);
    char cpath[4200];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    return arch_validate(c, cpath, err);
}

/* Checkpoint tensor T against the table row WANT: same shape, a float
 * dtype. SHARD names the file for the message. */
static enum idim_status check_tensor_fits(const struct st_tensor *t, const struct arch_tensor *want,
                                          const char *shard, struct idim_err *err)
{
    int ok = t->n_dims == want->n_dims;
    for (int d = 0; ok && d < t->n_dims; d++)
        ok = t->shape[d] == want->shape[d];
    if (!ok) {
        char got[128] = "[", exp[128];
        for (int d = 0; d < t->n_dims; d++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "%s%" PRId64, d ? ", " : "", t->shape[d]);
        }
        strcat(got, "]");
        if (want->n_dims == 2)
            snprintf(exp, sizeof exp, "[%" PRId64 ", %" PRId64 "]", want->shape[0],
                     want->shape[1]);
        else
            snprintf(exp, sizeof exp, "[%" PRId64 "]", want->shape[0]);
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' contradicts config.json: expected shape %s, found %s",
                         shard, t->name, exp, got);
    }
    if (strcmp(t->dtype, "F32") && strcmp(t->dtype, "F16") && strcmp(t->dtype, "BF16"))
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: tensor '%s' has dtype %s: expected F32, F16 or BF16", shard, t->name,
                         t->dtype);
    return IDIM_OK;
}

/* Fills BLOCK (and SRC, views into it) with the NT table tensors in table
 * order, widened to f32; every mapped checkpoint tensor must find a place. */
static enum idim_status gather_tensors(struct st_set *S, char *const *mapped,
                                       const struct arch_tensor *tab, size_t nt, float *block,
                                       struct wfile_src_tensor *src, struct convert_report *rep,
                                       const char *dir, struct idim_err *err)
{
    const struct arch_config *c = &rep->cfg;
    enum idim_status st;
    for (size_t k = 0; k < nt; k++) {
        if (idim_interrupted) /* a tensor widens in at most ~0.1 s (base's word embeddings) */
            return idim_fail(err, IDIM_ERR_INTERRUPTED, "%s: interrupted while reading the weights",
                             dir);
        size_t i = 0;
        while (i < S->n && !(mapped[i] && !strcmp(mapped[i], tab[k].name)))
            i++;
        if (i == S->n)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: the checkpoint lacks tensor '%s' (config.json says %d layers%s%s)",
                             dir, tab[k].name, c->n_layers, c->has_pooler ? " and a pooler" : "",
                             c->n_labels ? " and a classification head" : "");
        struct st_tensor *t = &S->t[i];
        if ((st = check_tensor_fits(t, &tab[k], S->shard[t->shard].path, err)))
            return st;
        t->used = 1;
        widen(block + tab[k].offset, t);
        src[k] = wfile_src_from_arch(&tab[k], block + tab[k].offset);
        if ((st = add_item(&rep->kept, &rep->n_kept, t, tab[k].name, NULL, err)))
            return st;
    }
    for (size_t i = 0; i < S->n; i++)
        if (mapped[i] && !S->t[i].used)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: tensor '%s' (as '%s') has no place in a %s encoder with %d layers",
                             S->shard[S->t[i].shard].path, S->t[i].name, mapped[i],
                             arch_family_name(c->family), c->n_layers);
    return IDIM_OK;
}

enum idim_status convert_hf(const char *dir, const char *out, struct convert_report *rep,
                            struct idim_err *err)
{
    memset(rep, 0, sizeof *rep);
    struct st_set *S = calloc(1, sizeof *S);
    struct tokdata tok;
    memset(&tok, 0, sizeof tok);
    struct arch_tensor *tab = NULL;
    struct wfile_src_tensor *src = NULL;
    char **mapped = NULL;
    float *block = NULL;
    int electra = 0;
    enum idim_status st;
    struct stat sb;
    if (!S)
        return idim_fail(err, IDIM_ERR_NOMEM, "convert: out of memory");
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        st = idim_fail(err, IDIM_ERR_IO, "%s: not a folder (expected a Hugging Face model folder)",
                       dir);
        goto done;
    }
    if ((st = read_config(dir, rep, &electra, err)))
        goto done;
    struct arch_config *c = &rep->cfg;
    if ((st = load_weights(S, dir, err)))
        goto done;
    rep->n_shards = S->n_shards;

    /* Map every checkpoint tensor; find pooler and head. */
    mapped = calloc(S->n ? S->n : 1, sizeof *mapped);
    if (!mapped) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "convert: out of memory");
        goto done;
    }
    c->has_pooler = 0;
    c->n_labels = 0;
    struct mlm_names head;
    mlm_names_of(c, &head);
    c->has_mlm_head = keep_mlm_head(S, &head, electra);
    if ((st = map_tensors(S, c, electra, &head, mapped, rep, dir, err)))
        goto done;
    if ((st = tokdata_load_hf(&tok, dir, err)) || (st = check_tokenizer(&tok, rep, dir, err)))
        goto done;

    /* Gather in table order, checking shapes and dtypes. */
    size_t nt = arch_tensors(c, ARCH_TABLE_FILE, c->n_labels, NULL, 0);
    rep->n_params = arch_n_params(c, ARCH_TABLE_FILE, c->n_labels);
    tab = calloc(nt, sizeof *tab);
    src = calloc(nt, sizeof *src);
    block = malloc(rep->n_params * sizeof *block);
    if (!tab || !src || !block) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "convert: out of memory for %zu parameters",
                       rep->n_params);
        goto done;
    }
    arch_tensors(c, ARCH_TABLE_FILE, c->n_labels, tab, nt);
    if ((st = gather_tensors(S, mapped, tab, nt, block, src, rep, dir, err)))
        goto done;
    if (electra)
        snprintf(rep->note, sizeof rep->note,
                 "ELECTRA converts as a bert-family encoder without a pooler; fine-tuning adds a "
                 "fresh BERT-style pooler and classifier");
    else if (!strcmp(rep->model_type, "xlm-roberta"))
        snprintf(rep->note, sizeof rep->note, "xlm-roberta converts as a roberta-family encoder");
    st = wfile_write(out, c, &tok, src, nt, err);
done:
    if (mapped)
        for (size_t i = 0; i < S->n; i++)
            free(mapped[i]);
    free(mapped);
    free(block);
    free(tab);
    free(src);
    tokdata_free(&tok);
    st_free(S);
    free(S);
    return st;
}
