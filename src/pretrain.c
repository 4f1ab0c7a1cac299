/* pretrain.c - masked-LM pretraining (see pretrain.h for the recipe, the
 * corpus packing and the resume contract).
 *
 * One step: fill B blocks in the epoch's order, mask them (stream keyed by
 * the step), encoder forward with dropout (stream keyed by the step), MLM
 * head forward/backward at the masked rows, encoder backward from the
 * head's dhidden, the decoder's gradient into the tied word embeddings,
 * global-norm clipping, AdamW (train.h's, decoupled decay on matrices only)
 * with linear warm-up and decay. Nothing is allocated inside a step.
 *
 * State file (out_dir/state.bin), little-endian, written atomically:
 *   "IDIMPTS1", u64 fingerprint (options + corpus), u64 step, u64 log bytes,
 *   f64 loss sum and u64 count since the last log line, u64 n_model,
 *   u64 n_head, then f32 params, head params, and the AdamW moments
 *   (m, v) of both, then u64 XXH64 of everything before it. */
#include "pretrain.h"

#include <errno.h>
#include <stdint.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <utf8proc.h>

#include "fileio.h"
#include "mlm.h"
#include "model.h"
#include "tokenizer.h"
#include "train.h"
#include "wfile.h"

#define PT_ORDER_STREAM 4000000u
#define PT_MASK_STREAM 4000001u
#define PT_DROP_STREAM 4000002u
#define PT_HELD_STREAM 4000003u
#define PT_HEAD_SEED_STREAM 4000004u

void pretrain_opts_default(struct pretrain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->doc_lines = 1;
    o->steps = 1000;
    o->batch = 32;
    o->seq_len = 128;
    o->warmup = -1;
    o->lr = 5e-4;
    o->weight_decay = 0.01;
    o->clip = 1.0;
    o->dropout = 0.1;
    o->mask_prob = 0.15;
    o->checkpoint_every = 500;
    o->log_every = 10;
    o->threads = 1;
    o->wv_vocab = 16384;
    o->wv_window = 5;
    o->wv_power = 8;
    o->wv_std = 0.0325;
}

double pretrain_flops_step(const struct arch_config *c, int B, int T, int M)
{
    double N = (double)B * T, C = c->hidden, F = c->ffn;
    double layer = 2.0 * N * (4.0 * C * C + 2.0 * C * F) + 4.0 * B * (double)T * T * C;
    double head = 2.0 * M * (C * C + C * (double)c->vocab_size);
    return 3.0 * (c->n_layers * layer + head);
}

/* ---- corpus --------------------------------------------------------------- */

void pretrain_corpus_free(struct pretrain_corpus *c)
{
    free(c->tok);
    memset(c, 0, sizeof *c);
}

/* Binary (NUL) or invalid UTF-8: IDIM_ERR_FORMAT naming line and byte. */
static enum idim_status check_text(const char *path, const char *s, size_t n,
                                   struct idim_err *err)
{
    size_t line = 1, i = 0;
    while (i < n) {
        if (s[i] == '\0')
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: holds a NUL byte at line %zu, byte %zu: a binary file, not "
                             "plain UTF-8 text",
                             path, line, i);
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k < 1)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: invalid UTF-8 at line %zu, byte %zu: expected plain UTF-8 text",
                             path, line, i);
        line += s[i] == '\n';
        i += (size_t)k;
    }
    return IDIM_OK;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static enum idim_status push_doc(struct pretrain_corpus *c, size_t *cap, struct tokenizer *tk,
                                 const char *s, size_t n, int32_t sep_id, const char *path,
                                 struct idim_err *err)
{
    for (;;) {
        size_t room = *cap - c->n_tok;
        long k = room > 1 ? tokenizer_encode(tk, s, n, c->tok + c->n_tok, room - 1) : -2;
        if (k == -1)
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory tokenizing", path);
        if (k >= 0 && (size_t)k + 1 <= room) {
            if (k == 0)
                return IDIM_OK;
            c->n_tok += (size_t)k;
            c->tok[c->n_tok++] = sep_id;
            c->n_docs++;
            return IDIM_OK;
        }
        size_t need = c->n_tok + (k > 0 ? (size_t)k : n + 16) + 1;
        size_t nc = *cap ? *cap * 2 : 1 << 16;
        while (nc < need)
            nc *= 2;
        int32_t *t = realloc(c->tok, nc * sizeof *t);
        if (!t)
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory for %zu tokens", path, nc);
        c->tok = t;
        *cap = nc;
    }
}

enum idim_status pretrain_corpus_load(struct pretrain_corpus *c, struct tokenizer *tk,
                                      const char *const *paths, int n_paths, int doc_lines,
                                      int32_t sep_id, struct idim_err *err)
{
    memset(c, 0, sizeof *c);
    size_t cap = 0;
    enum idim_status st = IDIM_OK;
    for (int f = 0; f < n_paths && !st; f++) {
        const char *path = paths[f];
        char *text = NULL;
        size_t n = 0;
        if ((st = fileio_read_all(path, &text, &n, err)))
            break;
        if ((st = check_text(path, text, n, err))) {
            free(text);
            break;
        }
        size_t docs0 = c->n_docs;
        c->n_bytes += n;
        size_t i = 0, doc = SIZE_MAX;
        while (!st) {
            size_t e = i;
            while (e < n && text[e] != '\n')
                e++;
            int bl = blank(text + i, e - i);
            if (doc_lines) {
                if (!bl)
                    st = push_doc(c, &cap, tk, text + i, e - i, sep_id, path, err);
            } else {
                /* a document: a run of non-blank lines */
                if (!bl && doc == SIZE_MAX)
                    doc = i;
                if ((bl || e >= n) && doc != SIZE_MAX) {
                    size_t end = bl ? i : e;
                    st = push_doc(c, &cap, tk, text + doc, end - doc, sep_id, path, err);
                    doc = SIZE_MAX;
                }
            }
            if (!st && idim_interrupted)
                st = idim_fail(err, IDIM_ERR_INTERRUPTED, "pretrain: interrupted reading %s",
                               path);
            if (e >= n)
                break;
            i = e + 1;
        }
        free(text);
        if (!st && c->n_docs == docs0)
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: holds no text (%zu bytes, no document)",
                           path, n);
    }
    if (st)
        pretrain_corpus_free(c);
    return st;
}

/* ---- masking -------------------------------------------------------------- */

static int special(int32_t id, const struct pretrain_specials *sp)
{
    return id == sp->cls_id || id == sp->sep_id || id == sp->pad_id;
}

static void corrupt(int32_t *ids, int n, const struct pretrain_specials *sp, struct rng *r)
{
    float u = rng_uniformf(r);
    if (u < 0.8f)
        ids[n] = sp->mask_id;
    else if (u < 0.9f)
        ids[n] = (int32_t)rng_below(r, (uint64_t)sp->n_vocab);
}

int pretrain_mask(int32_t *ids, int N, const struct pretrain_specials *sp, double p,
                  struct rng *r, int32_t *pos, int32_t *labels, int max_M)
{
    int M = 0, eligible = 0;
    float fp = (float)p;
    for (int n = 0; n < N; n++) {
        if (special(ids[n], sp))
            continue;
        eligible++;
        if (rng_uniformf(r) >= fp || M >= max_M)
            continue;
        pos[M] = n;
        labels[M] = ids[n];
        M++;
        corrupt(ids, n, sp, r);
    }
    if (M == 0 && eligible > 0 && max_M > 0) {
        int k = (int)rng_below(r, (uint64_t)eligible);
        for (int n = 0; n < N; n++)
            if (!special(ids[n], sp) && k-- == 0) {
                pos[0] = n;
                labels[0] = ids[n];
                corrupt(ids, n, sp, r);
                M = 1;
                break;
            }
    }
    return M;
}

/* ---- the run -------------------------------------------------------------- */

struct run {
    const struct pretrain_opts *o;
    struct wfile w;
    struct tokenizer *tk;
    struct pretrain_corpus corpus;
    struct pretrain_specials sp;
    struct model m;
    struct mlm_head h;
    int B, T, max_M;
    size_t n_blocks, n_train, n_held;
    size_t *train_idx;         /* [n_train] block numbers */
    size_t *perm;              /* [n_train] this epoch's order */
    long perm_epoch;
    /* optimised parameters: model params [0, n_enc) (the encoder), head */
    size_t n_enc;
    float *mom, *vel, *hmom, *hvel;
    uint8_t *decay, *hdecay;
    /* batch */
    int32_t *ids, *type_ids, *mask, *pos, *labels;
    /* held-out: masked ids and targets of every held-out block, fixed */
    int32_t *held_ids, *held_mask;
    int32_t *held_pos, *held_lab; /* concatenated per block */
    size_t *held_off;          /* [n_held + 1] into held_pos */
    int32_t *eval_pos, *eval_lab; /* [max_M] scratch */
    uint64_t fingerprint;
    char *state_buf;
    size_t state_bytes;
    char *logbuf;              /* log.jsonl's bytes (owned); rewritten whole at each line */
    size_t log_cap;
    long log_bytes;
    double loss_sum;
    long loss_n;
    char path[4096];
};

/* Block b of the stream into ids/mask rows [T]. */
static void fill_block(const struct run *R, size_t b, int32_t *ids, int32_t *mask)
{
    int T = R->T, body = T - 2;
    size_t start = b * (size_t)body;
    size_t n = R->corpus.n_tok - start < (size_t)body ? R->corpus.n_tok - start : (size_t)body;
    ids[0] = R->sp.cls_id;
    memcpy(ids + 1, R->corpus.tok + start, n * sizeof(int32_t));
    ids[1 + n] = R->sp.sep_id;
    for (int t = 0; t < T; t++)
        mask[t] = t < (int)n + 2;
    for (int t = (int)n + 2; t < T; t++)
        ids[t] = R->sp.pad_id;
}

static void epoch_order(struct run *R, long epoch)
{
    if (R->perm_epoch == epoch)
        return;
    struct rng r;
    rng_init(&r, rng_key(rng_key(R->o->seed, PT_ORDER_STREAM), (uint64_t)epoch));
    memcpy(R->perm, R->train_idx, R->n_train * sizeof(size_t));
    for (size_t i = R->n_train; i > 1; i--) {
        size_t j = (size_t)rng_below(&r, i);
        size_t t = R->perm[i - 1];
        R->perm[i - 1] = R->perm[j];
        R->perm[j] = t;
    }
    R->perm_epoch = epoch;
}

static enum idim_status out_path(struct run *R, const char *name, struct idim_err *err)
{
    int k = snprintf(R->path, sizeof R->path, "%s/%s", R->o->out_dir, name);
    if (k < 0 || (size_t)k >= sizeof R->path)
        return idim_fail(err, IDIM_ERR_USAGE, "pretrain: --out-dir path is too long");
    return IDIM_OK;
}

/* The file table of a checkpoint: the encoder (+ the input's pooler), the
 * MLM head. */
static enum idim_status write_checkpoint(struct run *R, long step, struct idim_err *err)
{
    struct arch_config c = R->w.cfg;
    c.n_labels = 0;
    c.has_pooler = R->w.cfg.has_pooler && c.family == ARCH_BERT;
    c.has_mlm_head = 1;
    c.pretrain_steps = R->w.cfg.pretrain_steps + step;
    size_t nt = arch_tensors(&c, ARCH_TABLE_FILE, 0, NULL, 0);
    struct arch_tensor *tab = calloc(nt, sizeof *tab);
    struct wfile_src_tensor *src = calloc(nt, sizeof *src);
    enum idim_status st = IDIM_OK;
    if (!tab || !src) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory writing a checkpoint");
        goto done;
    }
    arch_tensors(&c, ARCH_TABLE_FILE, 0, tab, nt);
    for (size_t t = 0; t < nt; t++) {
        const float *data = NULL;
        for (size_t k = 0; k < R->m.n_tensors && !data; k++)
            if (!strcmp(R->m.tensors[k].name, tab[t].name))
                data = R->m.params + R->m.tensors[k].offset;
        for (int k = 0; k < MLM_N_TENSORS && !data; k++)
            if (!strcmp(R->h.tensors[k].name, tab[t].name))
                data = R->h.params + R->h.tensors[k].offset;
        if (!data) {
            st = idim_fail(err, IDIM_ERR_INTERNAL, "pretrain: no values for tensor %s",
                           tab[t].name);
            goto done;
        }
        src[t] = wfile_src_from_arch(&tab[t], data);
    }
    char name[64];
    snprintf(name, sizeof name, "step-%07ld.bin", step);
    if ((st = out_path(R, name, err)))
        goto done;
    st = wfile_write(R->path, &c, &R->w.tok, src, nt, err);
done:
    free(tab);
    free(src);
    return st;
}

/* ---- state ---------------------------------------------------------------- */

static size_t state_size(const struct run *R)
{
    return 8 + 8 * 7 + 4 * 3 * (R->m.n_params + R->h.n_params) + 8;
}

static void put64(char **p, uint64_t v)
{
    memcpy(*p, &v, 8);
    *p += 8;
}

static void putf(char **p, const float *x, size_t n)
{
    memcpy(*p, x, n * 4);
    *p += n * 4;
}

static enum idim_status save_state(struct run *R, long step, struct idim_err *err)
{
    char *p = R->state_buf;
    memcpy(p, "IDIMPTS1", 8);
    p += 8;
    double ls = R->loss_sum;
    uint64_t lsb;
    memcpy(&lsb, &ls, 8);
    put64(&p, R->fingerprint);
    put64(&p, (uint64_t)step);
    put64(&p, (uint64_t)R->log_bytes);
    put64(&p, lsb);
    put64(&p, (uint64_t)R->loss_n);
    put64(&p, R->m.n_params);
    put64(&p, R->h.n_params);
    putf(&p, R->m.params, R->m.n_params);
    putf(&p, R->h.params, R->h.n_params);
    putf(&p, R->mom, R->m.n_params);
    putf(&p, R->hmom, R->h.n_params);
    putf(&p, R->vel, R->m.n_params);
    putf(&p, R->hvel, R->h.n_params);
    put64(&p, wfile_xxh64(R->state_buf, (size_t)(p - R->state_buf), 0));
    if ((size_t)(p - R->state_buf) != R->state_bytes)
        return idim_fail(err, IDIM_ERR_INTERNAL, "pretrain: state size mismatch");
    enum idim_status st = out_path(R, "state.bin", err);
    if (!st)
        st = fileio_write_atomic(R->path, R->state_buf, R->state_bytes, err);
    return st;
}

/* Loads out_dir/state.bin when present: *step = its step (0 when absent). */
static enum idim_status load_state(struct run *R, long *step, struct idim_err *err)
{
    *step = 0;
    enum idim_status st = out_path(R, "state.bin", err);
    if (st)
        return st;
    if (access(R->path, F_OK) != 0)
        return IDIM_OK;
    char *buf = NULL;
    size_t n = 0;
    if ((st = fileio_read_all(R->path, &buf, &n, err)))
        return st;
    uint64_t v[7], sum;
    if (n != R->state_bytes || memcmp(buf, "IDIMPTS1", 8) != 0) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: not a state file of this run (%zu bytes, expected %zu): remove it or "
                       "use another --out-dir",
                       R->path, n, R->state_bytes);
        goto done;
    }
    memcpy(&sum, buf + n - 8, 8);
    if (sum != wfile_xxh64(buf, n - 8, 0)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: checksum mismatch (the file is corrupted)",
                       R->path);
        goto done;
    }
    memcpy(v, buf + 8, sizeof v);
    if (v[0] != R->fingerprint || v[5] != R->m.n_params || v[6] != R->h.n_params) {
        st = idim_fail(err, IDIM_ERR_USAGE,
                       "%s: holds a run with other options, model or corpus: give the same "
                       "command to resume it, or another --out-dir",
                       R->path);
        goto done;
    }
    *step = (long)v[1];
    R->log_bytes = (long)v[2];
    memcpy(&R->loss_sum, &v[3], 8);
    R->loss_n = (long)v[4];
    const char *p = buf + 8 + sizeof v;
    float *dst[6] = {R->m.params, R->h.params, R->mom, R->hmom, R->vel, R->hvel};
    size_t cnt[6] = {R->m.n_params, R->h.n_params, R->m.n_params,
                     R->h.n_params, R->m.n_params, R->h.n_params};
    for (int i = 0; i < 6; i++) {
        memcpy(dst[i], p, cnt[i] * 4);
        p += cnt[i] * 4;
    }
done:
    free(buf);
    return st;
}

/* ---- evaluation ------------------------------------------------------------ */

/* Runs to the end even after Ctrl-C (its step is complete and is logged,
 * checkpointed and saved first); the training step's forward and backward
 * stop at the model's checks instead. */
static void heldout_score(struct run *R, double *loss, double *acc)
{
    const volatile int *stop = R->m.stop;
    R->m.stop = NULL;
    double total = 0.0;
    long rows = 0, hits = 0;
    int T = R->T;
    for (size_t b0 = 0; b0 < R->n_held; b0 += (size_t)R->B) {
        int B = (int)(R->n_held - b0 < (size_t)R->B ? R->n_held - b0 : (size_t)R->B);
        int M = 0;
        for (int i = 0; i < B; i++) {
            size_t k = b0 + (size_t)i;
            memcpy(R->ids + (size_t)i * T, R->held_ids + k * T, (size_t)T * 4);
            memcpy(R->mask + (size_t)i * T, R->held_mask + k * T, (size_t)T * 4);
            for (size_t j = R->held_off[k]; j < R->held_off[k + 1] && M < R->max_M; j++) {
                if (R->h.K && R->h.out_col[R->held_lab[j]] < 0)
                    continue; /* --mlm-vocab: not scored */
                R->eval_pos[M] = R->held_pos[j] + i * T;
                R->eval_lab[M] = R->held_lab[j];
                M++;
            }
        }
        if (M == 0)
            continue;
        struct batch bt = {.B = B, .T = T, .ids = R->ids, .type_ids = R->type_ids,
                           .mask = R->mask};
        model_forward(&R->m, &bt, 0);
        mlm_forward(&R->h, model_hidden(&R->m), R->m.params + R->m.tensors[0].offset,
                    R->eval_pos, R->eval_lab, M);
        total += R->h.loss * M;
        rows += M;
        hits += R->h.n_correct;
    }
    *loss = rows ? total / rows : NAN;
    *acc = rows ? (double)hits / rows : NAN;
    R->m.stop = stop;
}

/* ---- setup ----------------------------------------------------------------- */

static uint64_t fingerprint(const struct run *R)
{
    const struct pretrain_opts *o = R->o;
    char s[1024];
    int n = snprintf(s, sizeof s,
                     "v1 steps %ld batch %ld T %ld warmup %ld lr %.17g wd %.17g clip %.17g "
                     "drop %.17g mask %.17g ckpt %ld log %ld held %zu seed %" PRIu64
                     " model %s lines %d",
                     o->steps, o->batch, o->seq_len, o->warmup, o->lr, o->weight_decay, o->clip,
                     o->dropout, o->mask_prob, o->checkpoint_every, o->log_every, R->n_held,
                     o->seed, R->w.checksum_hex, o->doc_lines);
    if (o->mlm_vocab > 0) /* older runs keep their fingerprint */
        n += snprintf(s + n, sizeof s - (size_t)n, " mlm_vocab %ld", o->mlm_vocab);
    uint64_t h = wfile_xxh64(s, (size_t)n, 0);
    return wfile_xxh64(R->corpus.tok, R->corpus.n_tok * sizeof(int32_t), h);
}

static enum idim_status check_opts(const struct pretrain_opts *o, struct idim_err *err)
{
    if (o->n_corpus < 1)
        return idim_fail(err, IDIM_ERR_USAGE, "pretrain: give --corpus FILE[,FILE...]");
    if (!o->model)
        return idim_fail(err, IDIM_ERR_USAGE, "pretrain: give --model FILE or --preset NAME");
    if (!o->out_dir)
        return idim_fail(err, IDIM_ERR_USAGE, "pretrain: give --out-dir DIR");
    if (o->steps < 1 || o->batch < 1 || o->seq_len < 4)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "pretrain: --steps and --batch must be >= 1 and --seq-len >= 4");
    if (o->checkpoint_every < 1 || o->log_every < 1)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "pretrain: --checkpoint-every and --log-every must be >= 1");
    return IDIM_OK;
}

static void run_free(struct run *R)
{
    free(R->logbuf);
    model_free(&R->m);
    mlm_free(&R->h);
    pretrain_corpus_free(&R->corpus);
    if (R->tk)
        tokenizer_free(R->tk);
    wfile_free(&R->w);
    free(R->train_idx), free(R->perm), free(R->mom), free(R->vel), free(R->hmom),
        free(R->hvel), free(R->decay), free(R->hdecay), free(R->ids), free(R->type_ids),
        free(R->mask), free(R->pos), free(R->labels), free(R->held_ids), free(R->held_mask),
        free(R->held_pos), free(R->held_lab), free(R->held_off), free(R->eval_pos),
        free(R->eval_lab), free(R->state_buf);
}

static int by_freq(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* (count << 32 | ~id): larger first */
    return (*x < *y) - (*x > *y);
}

/* --mlm-vocab K: the softmax over the K most frequent corpus tokens (ties:
 * the lower id), specials never. */
static enum idim_status restrict_output(struct run *R, struct idim_err *err)
{
    int V = R->w.cfg.vocab_size;
    uint64_t *f = calloc((size_t)V, sizeof *f);
    int32_t *ids = malloc((size_t)V * sizeof *ids);
    if (!f || !ids) {
        free(f);
        free(ids);
        return idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory");
    }
    for (size_t t = 0; t < R->corpus.n_tok; t++)
        f[R->corpus.tok[t]]++;
    int n = 0;
    for (int v = 0; v < V; v++) {
        int sp = v == R->sp.cls_id || v == R->sp.sep_id || v == R->sp.pad_id ||
                 v == R->sp.mask_id;
        if (f[v] && !sp)
            f[n++] = (f[v] < UINT32_MAX ? f[v] : UINT32_MAX) << 32 | (uint32_t)~(uint32_t)v;
    }
    qsort(f, (size_t)n, sizeof *f, by_freq);
    int K = n < R->o->mlm_vocab ? n : (int)R->o->mlm_vocab;
    for (int j = 0; j < K; j++)
        ids[j] = (int32_t)~(uint32_t)(f[j] & 0xffffffffu);
    enum idim_status st = mlm_set_vocab(&R->h, ids, K, err);
    free(f);
    free(ids);
    return st;
}

static enum idim_status setup(struct run *R, struct idim_err *err)
{
    const struct pretrain_opts *o = R->o;
    enum idim_status st;
    if ((st = wfile_open(&R->w, o->model, err)) || (st = wfile_need_tokenizer(&R->w, err)))
        return st;
    const struct tokdata *td = &R->w.tok;
    if (td->mask_id < 0)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: the tokenizer has no mask token ([MASK] / <mask>)", o->model);
    int rob = R->w.cfg.family == ARCH_ROBERTA;
    int max_T = rob ? R->w.cfg.max_pos - R->w.cfg.pad_id - 1 : R->w.cfg.max_pos;
    if (o->seq_len > max_T)
        return idim_fail(err, IDIM_ERR_USAGE, "pretrain: --seq-len %ld exceeds the %d positions of %s",
                         o->seq_len, max_T, o->model);
    R->sp = (struct pretrain_specials){td->cls_id, td->sep_id, td->pad_id, td->mask_id,
                                       (int32_t)td->n_vocab};
    if ((st = tokenizer_new(&R->tk, td, err)))
        return st;
    if ((st = pretrain_corpus_load(&R->corpus, R->tk, o->corpus, o->n_corpus, o->doc_lines,
                                   td->sep_id, err)))
        return st;
    R->B = (int)o->batch;
    R->T = (int)o->seq_len;
    size_t body = (size_t)R->T - 2;
    R->n_blocks = (R->corpus.n_tok + body - 1) / body;
    if (R->n_blocks < 2)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "pretrain: the corpus holds %zu tokens, %zu block of %ld: need at least 2 "
                         "(one to train, one held out)",
                         R->corpus.n_tok, R->n_blocks, o->seq_len);
    R->n_held = o->heldout > 0 ? (size_t)o->heldout : R->n_blocks / 100;
    if (R->n_held < 1)
        R->n_held = 1;
    if (o->heldout <= 0 && R->n_held > 256)
        R->n_held = 256;
    if (R->n_held > R->n_blocks / 2)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "pretrain: --heldout %zu blocks leaves too few of the %zu to train on",
                         R->n_held, R->n_blocks);
    R->n_train = R->n_blocks - R->n_held;
    size_t N = (size_t)R->B * R->T;
    /* masked rows: mean p N, room for 8 standard deviations more */
    double mean = o->mask_prob * (double)N;
    R->max_M = (int)(mean + 8.0 * sqrt(mean) + 16.0);
    if ((size_t)R->max_M > N)
        R->max_M = (int)N;
    struct arch_config cfg = R->w.cfg;
    if ((st = model_init(&R->m, &cfg, 2, R->B, R->T, err)) ||
        (st = model_load(&R->m, &R->w, o->seed, err)) ||
        (st = mlm_init(&R->h, &cfg, R->max_M, (int)N, err)))
        return st;
    R->m.dropout = (float)o->dropout;
    if (R->w.cfg.has_mlm_head) {
        if ((st = mlm_load(&R->h, &R->w, err)))
            return st;
    } else {
        mlm_init_random(&R->h, rng_key(o->seed, PT_HEAD_SEED_STREAM));
    }
    if (o->mlm_vocab > 0 && (st = restrict_output(R, err)))
        return st;
    /* the encoder is the model table's leading tensors (embeddings, layers) */
    size_t t_enc = 5 + 16 * (size_t)cfg.n_layers;
    R->n_enc = R->m.tensors[t_enc].offset;
    size_t P = R->m.n_params, H = R->h.n_params;
    R->train_idx = malloc(R->n_train * sizeof(size_t));
    R->perm = malloc(R->n_train * sizeof(size_t));
    R->mom = calloc(P, 4), R->vel = calloc(P, 4), R->hmom = calloc(H, 4), R->hvel = calloc(H, 4);
    R->decay = calloc(P, 1), R->hdecay = calloc(H, 1);
    R->ids = malloc(N * 4), R->type_ids = calloc(N, 4), R->mask = malloc(N * 4);
    R->pos = malloc((size_t)R->max_M * 4), R->labels = malloc((size_t)R->max_M * 4);
    R->eval_pos = malloc((size_t)R->max_M * 4), R->eval_lab = malloc((size_t)R->max_M * 4);
    size_t HT = R->n_held * (size_t)R->T;
    R->held_ids = malloc(HT * 4), R->held_mask = malloc(HT * 4);
    R->held_pos = malloc(HT * 4), R->held_lab = malloc(HT * 4);
    R->held_off = calloc(R->n_held + 1, sizeof(size_t));
    R->state_bytes = state_size(R);
    R->state_buf = malloc(R->state_bytes);
    if (!R->train_idx || !R->perm || !R->mom || !R->vel || !R->hmom || !R->hvel || !R->decay ||
        !R->hdecay || !R->ids || !R->type_ids || !R->mask || !R->pos || !R->labels ||
        !R->eval_pos || !R->eval_lab || !R->held_ids || !R->held_mask || !R->held_pos ||
        !R->held_lab || !R->held_off || !R->state_buf)
        return idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory");
    for (size_t t = 0; t < t_enc; t++)
        if (R->m.tensors[t].n_dims == 2)
            memset(R->decay + R->m.tensors[t].offset, 1, R->m.tensors[t].n_elem);
    memset(R->hdecay + R->h.tensors[0].offset, 1, R->h.tensors[0].n_elem);
    /* held-out: every k-th block, masks drawn once */
    size_t stride = R->n_blocks / R->n_held, nt = 0, nh = 0;
    struct rng hr;
    rng_init(&hr, rng_key(o->seed, PT_HELD_STREAM));
    for (size_t b = 0; b < R->n_blocks; b++) {
        if (nh < R->n_held && b % stride == stride - 1) {
            int32_t *ids = R->held_ids + nh * R->T, *mk = R->held_mask + nh * R->T;
            fill_block(R, b, ids, mk);
            size_t off = R->held_off[nh];
            int M = pretrain_mask(ids, R->T, &R->sp, o->mask_prob, &hr, R->held_pos + off,
                                  R->held_lab + off, R->T);
            R->held_off[nh + 1] = off + (size_t)M;
            nh++;
        } else {
            R->train_idx[nt++] = b;
        }
    }
    R->perm_epoch = -1;
    R->fingerprint = fingerprint(R);
    return IDIM_OK;
}

/* Appends a line and publishes the whole log through the one output
 * function (atomic replace): a reader never sees a half line. */
static enum idim_status log_line(struct run *R, const char *line, struct idim_err *err)
{
    size_t n = strlen(line), need = (size_t)R->log_bytes + n + 1;
    if (need > R->log_cap) {
        size_t cap = R->log_cap ? R->log_cap : 1 << 16;
        while (cap < need)
            cap *= 2;
        char *b = realloc(R->logbuf, cap);
        if (!b)
            return idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory for the log");
        R->logbuf = b;
        R->log_cap = cap;
    }
    memcpy(R->logbuf + R->log_bytes, line, n);
    R->log_bytes += (long)n;
    enum idim_status st = out_path(R, "log.jsonl", err);
    if (!st)
        st = fileio_write_atomic(R->path, R->logbuf, (size_t)R->log_bytes, err);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Opens log.jsonl: on resume its bytes up to what the state recorded
 * (R->path names it after this call). */
static enum idim_status open_log(struct run *R, long step, struct idim_err *err)
{
    enum idim_status st = out_path(R, "log.jsonl", err);
    if (st)
        return st;
    if (step == 0) {
        R->log_bytes = 0;
        return IDIM_OK;
    }
    size_t n = 0;
    if ((st = fileio_read_all(R->path, &R->logbuf, &n, err)))
        return st;
    R->log_cap = n + 1;
    if (n < (size_t)R->log_bytes)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: %zu bytes, shorter than the %ld the state recorded: cannot resume",
                         R->path, n, R->log_bytes);
    return IDIM_OK;
}

/* One optimisation step at STEP (0-based): the batch of that step, its
 * masks and dropout keyed by (seed, step), forward, backward, clipping,
 * AdamW on encoder and head. *loss and *gn: the step's loss and gradient
 * norm (before clipping); *lr_out: the learning rate used. *stopped: Ctrl-C
 * came during the step, which then updated nothing (weights, moments and
 * the loss sums are those of STEP; the step is repeated on resuming, with
 * the same masks and dropout). */
static enum idim_status mlm_train_step(struct run *R, long step, long warm, double *loss_out,
                                       double *gn_out, double *lr_out, int *stopped,
                                       struct idim_err *err)
{
    *stopped = 0;
    const struct pretrain_opts *o = R->o;
    int N = R->B * R->T;
    const size_t P = R->m.n_params;
    float *wte_g = R->m.grads + R->m.tensors[0].offset;
    /* batch: global positions step*B .. step*B+B-1 over the epochs */
    for (int i = 0; i < R->B; i++) {
        uint64_t g = (uint64_t)step * (uint64_t)R->B + (uint64_t)i;
        epoch_order(R, (long)(g / R->n_train));
        fill_block(R, R->perm[g % R->n_train], R->ids + (size_t)i * R->T,
                   R->mask + (size_t)i * R->T);
    }
    struct rng mr;
    rng_init(&mr, rng_key(rng_key(o->seed, PT_MASK_STREAM), (uint64_t)step));
    int M = pretrain_mask(R->ids, N, &R->sp, o->mask_prob, &mr, R->pos, R->labels, R->max_M);
    M = mlm_keep_scored(&R->h, R->pos, R->labels, M);
    rng_init(&R->m.drop_rng, rng_key(rng_key(o->seed, PT_DROP_STREAM), (uint64_t)step));
    struct batch bt = {.B = R->B, .T = R->T, .ids = R->ids, .type_ids = R->type_ids,
                       .mask = R->mask};
    double loss = 0.0;
    /* in 16 MiB pieces: the first step touches every gradient page (seconds
     * on base), and Ctrl-C is polled between them */
    for (size_t i = 0, piece = (size_t)4 << 20; i < P; i += piece) {
        if (idim_interrupted) {
            *stopped = 1;
            return IDIM_OK;
        }
        memset(R->m.grads + i, 0, (P - i < piece ? P - i : piece) * sizeof(float));
    }
    memset(R->h.grads, 0, R->h.n_params * sizeof(float));
    if (M > 0) {
        model_forward(&R->m, &bt, 1);
        mlm_forward(&R->h, model_hidden(&R->m), R->m.params + R->m.tensors[0].offset, R->pos,
                    R->labels, M);
        loss = R->h.loss;
        if (idim_interrupted) { /* the forward pass stopped part-way (its loss is NaN) */
            *stopped = 1;
            return IDIM_OK;
        }
        if (!isfinite(loss))
            return idim_fail(err, IDIM_ERR_DIVERGED,
                             "pretrain: the loss became %g at step %ld (lr %g): try a lower --lr",
                             loss, step + 1, o->lr);
        mlm_backward(&R->h, N);
        model_backward_hidden(&R->m, R->h.dhidden);
        mlm_add_decoder_grad(&R->h, wte_g);
    }
    if (idim_interrupted) { /* the gradients may be incomplete: no update */
        *stopped = 1;
        return IDIM_OK;
    }
    double gn = sqrt(train_sumsq(R->m.grads, R->n_enc) + train_sumsq(R->h.grads, R->h.n_params));
    /* the clip factor, applied by AdamW as it reads the gradients */
    float f = o->clip > 0 && gn > o->clip ? (float)(o->clip / (gn + 1e-6)) : 1.0f;
    double lr = o->lr * train_lr_factor(step, warm, o->steps);
    train_adamw_step(R->m.params, R->m.grads, f, R->mom, R->vel, R->n_enc, lr, 0.9, 0.999, 1e-6,
                     o->weight_decay, R->decay, step + 1);
    train_adamw_step(R->h.params, R->h.grads, f, R->hmom, R->hvel, R->h.n_params, lr, 0.9,
                     0.999, 1e-6, o->weight_decay, R->hdecay, step + 1);
    *loss_out = loss;
    *gn_out = gn;
    *lr_out = lr;
    return IDIM_OK;
}

/* After step STEP (1-based count done) at a log or checkpoint point: the
 * log line, and at a checkpoint the held-out score, the checkpoint file
 * and the state; then progress. T0/STEP0: when and where this process
 * started, for tokens/s and the time left. */
static enum idim_status log_step(struct run *R, long step, long step0, double t0, double lr,
                                 double gn, struct pretrain_result *res, struct idim_err *err)
{
    const struct pretrain_opts *o = R->o;
    int N = R->B * R->T;
    enum idim_status st;
    int ckpt = step % o->checkpoint_every == 0 || step == o->steps;
    double el = now_s() - t0;
    double tps = el > 0 ? (double)(step - step0) * N / el : 0.0;
    struct pretrain_progress p = {.step = step, .steps = o->steps,
                                  .loss = R->loss_sum / (double)R->loss_n, .lr = lr,
                                  .tokens_per_s = tps,
                                  .eta_s = step > step0 ? el / (double)(step - step0) *
                                                              (double)(o->steps - step)
                                                        : 0.0};
    char line[512];
    int k = snprintf(line, sizeof line,
                     "{\"step\":%ld,\"tokens\":%.0f,\"lr\":%.9g,\"loss\":%.9g,"
                     "\"grad_norm\":%.9g",
                     step, (double)step * N, lr, p.loss, gn);
    if (ckpt) {
        heldout_score(R, &p.heldout_loss, &p.heldout_acc);
        p.checkpoint = 1;
        res->heldout_loss = p.heldout_loss;
        res->heldout_acc = p.heldout_acc;
        if ((st = write_checkpoint(R, step, err)))
            return st;
        snprintf(res->last_checkpoint, sizeof res->last_checkpoint, "%s", R->path);
        k += snprintf(line + k, sizeof line - (size_t)k,
                      ",\"heldout_loss\":%.9g,\"heldout_acc\":%.9g,\"checkpoint\":"
                      "\"step-%07ld.bin\"",
                      p.heldout_loss, p.heldout_acc, step);
    }
    snprintf(line + k, sizeof line - (size_t)k, "}\n");
    R->loss_sum = 0.0;
    R->loss_n = 0;
    if ((st = log_line(R, line, err)))
        return st;
    if (ckpt && (st = save_state(R, step, err)))
        return st;
    res->tokens_per_s = tps;
    if (o->progress)
        o->progress(&p, o->user);
    return IDIM_OK;
}

enum idim_status pretrain_run(const struct pretrain_opts *o, struct pretrain_result *res,
                              struct idim_err *err)
{
    memset(res, 0, sizeof *res);
    enum idim_status st = check_opts(o, err);
    if (st)
        return st;
    struct run R;
    memset(&R, 0, sizeof R);
    R.o = o;
    model_set_threads(o->threads);
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        return idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create the folder: %s", o->out_dir,
                         strerror(errno));
    }
    if ((st = setup(&R, err)))
        goto done;
    R.m.stop = &idim_interrupted; /* a step stops within a layer (mlm_train_step) */
    res->n_tok = R.corpus.n_tok;
    res->n_train_blocks = R.n_train;
    res->n_heldout_blocks = R.n_held;
    long step = 0;
    if ((st = load_state(&R, &step, err)))
        goto done;
    res->resumed_from = step;
    if ((st = open_log(&R, step, err)))
        goto done;
    long warm = o->warmup >= 0 ? o->warmup : (long)(0.06 * (double)o->steps);
    if (step == 0) {
        char line[512];
        snprintf(line, sizeof line,
                 "{\"event\":\"start\",\"model\":\"%s\",\"tokens\":%zu,\"documents\":%zu,"
                 "\"train_blocks\":%zu,\"heldout_blocks\":%zu,\"seq_len\":%d,\"batch\":%d,"
                 "\"steps\":%ld,\"lr\":%.9g,\"warmup\":%ld,\"seed\":%" PRIu64
                 ",\"mlm_vocab\":%d}\n",
                 R.w.checksum_hex, R.corpus.n_tok, R.corpus.n_docs, R.n_train, R.n_held, R.T, R.B,
                 o->steps, o->lr, warm, o->seed, R.h.K ? R.h.K : R.w.cfg.vocab_size);
        if ((st = log_line(&R, line, err)))
            goto done;
    }
    if (o->progress && step > 0) {
        char note[128];
        snprintf(note, sizeof note, "resuming at step %ld of %ld", step, o->steps);
        struct pretrain_progress p = {.step = step, .steps = o->steps, .note = note};
        o->progress(&p, o->user);
    }
    double t0 = now_s();
    long step0 = step;
    while (step < o->steps) {
        if (idim_interrupted) {
            if ((st = save_state(&R, step, err)))
                goto done;
            st = idim_fail(err, IDIM_ERR_INTERRUPTED,
                           "pretrain: interrupted at step %ld; state saved in %s/state.bin: run "
                           "the same command to resume",
                           step, o->out_dir);
            goto done;
        }
        double loss = 0, gn = 0, lr = 0;
        int stopped;
        if ((st = mlm_train_step(&R, step, warm, &loss, &gn, &lr, &stopped, err)))
            goto done;
        if (stopped)
            continue; /* the check above saves the state of STEP */
        step++;
        R.loss_sum += loss;
        R.loss_n++;
        if ((step % o->log_every == 0 || step % o->checkpoint_every == 0 || step == o->steps) &&
            (st = log_step(&R, step, step0, t0, lr, gn, res, err)))
            goto done;
    }
    res->step = step;
done:
    run_free(&R);
    return st;
}
