/* wordvec.c - PPMI word vectors by randomized SVD for the embedding table
 * (see wordvec.h for the definitions and the algorithm). */
#include "wordvec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ops.h"
#include "pretrain.h"
#include "rng.h"
#include "model.h"
#include "tokenizer.h"
#include "wfile.h"

#define WV_OMEGA_STREAM 4000010u

/* ---- PPMI ----------------------------------------------------------------- */

void wordvec_ppmi_free(struct wordvec_ppmi *p)
{
    free(p->ids);
    free(p->m);
    memset(p, 0, sizeof *p);
}

struct idcount {
    uint64_t n;
    int32_t id;
};

static int by_count(const void *a, const void *b)
{
    const struct idcount *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

enum idim_status wordvec_ppmi(struct wordvec_ppmi *p, const int32_t *tok, size_t n,
                              int n_vocab, int window, double alpha, int max_vocab,
                              int min_vocab, struct idim_err *err)
{
    memset(p, 0, sizeof *p);
    if (window < 1 || !(alpha > 0.0) || max_vocab < 1 || n_vocab < 1)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "word vectors: window %d, smoothing %g, %d tokens: need window >= 1, "
                         "smoothing > 0 and at least 1 token",
                         window, alpha, max_vocab);
    if (n < 2)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "word vectors: the corpus holds %zu token%s: co-occurrences need at "
                         "least 2",
                         n, n == 1 ? "" : "s");
    enum idim_status st = IDIM_OK;
    uint64_t *freq = calloc((size_t)n_vocab, sizeof *freq);
    double *w = calloc((size_t)n_vocab, sizeof *w);
    int32_t *rank = malloc((size_t)n_vocab * sizeof *rank);
    struct idcount *order = malloc((size_t)n_vocab * sizeof *order);
    uint32_t *cnt = NULL;
    if (!freq || !w || !rank || !order) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "word vectors: out of memory");
        goto done;
    }
    /* frequencies, and the marginal w(a): a's neighbours within the window */
    size_t W = (size_t)window;
    for (size_t t = 0; t < n; t++) {
        int32_t a = tok[t];
        if (a < 0 || a >= n_vocab) {
            st = idim_fail(err, IDIM_ERR_INTERNAL, "word vectors: token id %d out of range",
                           (int)a);
            goto done;
        }
        freq[a]++;
        size_t nb = (t < W ? t : W) + (n - 1 - t < W ? n - 1 - t : W);
        w[a] += (double)nb;
    }
    int distinct = 0;
    for (int v = 0; v < n_vocab; v++)
        if (freq[v])
            order[distinct++] = (struct idcount){freq[v], v};
    qsort(order, (size_t)distinct, sizeof *order, by_count);
    int K = distinct < max_vocab ? distinct : max_vocab;
    if (K < min_vocab) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "word vectors: the corpus holds %d distinct token%s (%zu tokens): the "
                       "SVD to %d dimensions needs at least %d: give a larger corpus",
                       distinct, distinct == 1 ? "" : "s", n, min_vocab, min_vocab);
        goto done;
    }
    size_t KK = (size_t)K * (size_t)K;
    p->ids = malloc((size_t)K * sizeof *p->ids);
    cnt = calloc(KK, sizeof *cnt);
    if (!p->ids || !cnt) {
        st = idim_fail(err, IDIM_ERR_NOMEM,
                       "word vectors: out of memory for the %d x %d co-occurrence matrix (%zu MB): "
                       "give a smaller --wv-vocab",
                       K, K, KK * 4 >> 20);
        goto done;
    }
    for (int v = 0; v < n_vocab; v++)
        rank[v] = -1;
    for (int i = 0; i < K; i++) {
        p->ids[i] = order[i].id;
        rank[order[i].id] = i;
        p->covered += order[i].n;
    }
    /* counts n(a, b), both orders; Ctrl-C polled every 2^16 tokens (the
     * first pass touches the whole K x K matrix) */
    for (size_t t = 0; t + 1 < n; t++) {
        if (t % 65536 == 0 && idim_interrupted)
            goto interrupted;
        int32_t a = rank[tok[t]];
        if (a < 0)
            continue;
        size_t end = t + W < n - 1 ? t + W : n - 1;
        for (size_t u = t + 1; u <= end; u++) {
            int32_t b = rank[tok[u]];
            if (b < 0)
                continue;
            cnt[(size_t)a * K + b]++;
            cnt[(size_t)b * K + a]++;
        }
    }
    /* log c(b) = alpha log w(b) - log sum_v w(v)^alpha */
    double zs = 0.0;
    for (int v = 0; v < n_vocab; v++)
        if (w[v] > 0)
            zs += pow(w[v], alpha);
    double logz = log(zs);
    /* PPMI in place of the counts (same 4 bytes per cell) */
    float *m = (float *)(void *)cnt;
    for (int i = 0; i < K; i++) {
        if (idim_interrupted)
            goto interrupted;
        double lwa = log(w[p->ids[i]]);
        for (int j = 0; j < K; j++) {
            size_t c = (size_t)i * K + j;
            uint32_t nij;
            memcpy(&nij, &cnt[c], 4);
            float v = 0.0f;
            if (nij) {
                double pmi = log((double)nij) - lwa - (alpha * log(w[p->ids[j]]) - logz);
                v = pmi > 0.0 ? (float)pmi : 0.0f;
            }
            memcpy(&m[c], &v, 4);
        }
    }
    p->m = m;
    cnt = NULL;
    p->K = K;
    goto done;
interrupted:
    st = idim_fail(err, IDIM_ERR_INTERRUPTED,
                   "word vectors: interrupted while counting co-occurrences");
done:
    free(cnt);
    free(freq);
    free(w);
    free(rank);
    free(order);
    if (st)
        wordvec_ppmi_free(p);
    return st;
}

/* ---- randomized SVD ------------------------------------------------------- */

static double dotd(const float *x, const float *y, int d)
{
    double s = 0.0;
    for (int t = 0; t < d; t++)
        s += (double)x[t] * (double)y[t];
    return s;
}

/* Gram-Schmidt on the rows of X [r, d], sums in double, repeated while a
 * pass removes more than half of a row's norm (Kahan-Parlett "twice is
 * enough"); a row in the span of the earlier ones becomes zero. */
static int orth_rows(float *X, int r, int d)
{
    for (int i = 0; i < r; i++) {
        if (idim_interrupted) /* O(r d) per row; O(r^2 d) in all */
            return -1;
        float *xi = X + (size_t)i * d;
        double prev = sqrt(dotd(xi, xi, d)), nr = prev;
        for (int pass = 0; pass < 4 && nr > 0.0; pass++) {
            for (int j = 0; j < i; j++) {
                const float *xj = X + (size_t)j * d;
                double c = dotd(xi, xj, d);
                if (c != 0.0)
                    for (int t = 0; t < d; t++)
                        xi[t] = (float)((double)xi[t] - c * (double)xj[t]);
            }
            nr = sqrt(dotd(xi, xi, d));
            if (nr >= 0.5 * prev)
                break;
            prev = nr;
        }
        if (!(nr > 1e-30)) {
            memset(xi, 0, (size_t)d * sizeof *xi);
            continue;
        }
        for (int t = 0; t < d; t++)
            xi[t] = (float)((double)xi[t] / nr);
    }
    return 0;
}

/* Eigen-decomposition of the symmetric a[n, n] (overwritten; the diagonal
 * ends up holding the eigenvalues) by cyclic Jacobi rotations; the
 * eigenvectors into the columns of v[n, n]. */
static int jacobi_eigen(double *a, double *v, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            v[(size_t)i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int i = 0; i < n; i++) {
            diag += a[(size_t)i * n + i] * a[(size_t)i * n + i];
            for (int j = i + 1; j < n; j++)
                off += a[(size_t)i * n + j] * a[(size_t)i * n + j];
        }
        if (off <= 1e-30 * diag || off == 0.0)
            break;
        for (int p = 0; p < n - 1; p++) {
            if (idim_interrupted) /* O(n^2) per row p */
                return -1;
            for (int q = p + 1; q < n; q++) {
                double apq = a[(size_t)p * n + q];
                if (apq == 0.0)
                    continue;
                double theta = (a[(size_t)q * n + q] - a[(size_t)p * n + p]) / (2.0 * apq);
                double t = (theta >= 0.0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* A P */
                    double x = a[(size_t)k * n + p], y = a[(size_t)k * n + q];
                    a[(size_t)k * n + p] = c * x - s * y;
                    a[(size_t)k * n + q] = s * x + c * y;
                }
                for (int k = 0; k < n; k++) { /* P^T (A P) */
                    double x = a[(size_t)p * n + k], y = a[(size_t)q * n + k];
                    a[(size_t)p * n + k] = c * x - s * y;
                    a[(size_t)q * n + k] = s * x + c * y;
                }
                a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0.0;
                for (int k = 0; k < n; k++) { /* V P */
                    double x = v[(size_t)k * n + p], y = v[(size_t)k * n + q];
                    v[(size_t)k * n + p] = c * x - s * y;
                    v[(size_t)k * n + q] = s * x + c * y;
                }
            }
        }
    }
    return 0;
}

enum idim_status wordvec_svd(const float *A, int m, int n, int k, int oversample, int power,
                             uint64_t seed, float *U, float *s, struct idim_err *err)
{
    int mn = m < n ? m : n;
    if (m < 1 || n < 1 || k < 1 || k > mn || oversample < 0 || power < 0)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "svd: rank %d of a %d x %d matrix (oversampling %d, %d iterations)", k,
                         m, n, oversample, power);
    int l = k + oversample < mn ? k + oversample : mn;
    float *Om = malloc((size_t)l * n * sizeof *Om);   /* rows in R^n */
    float *Y = malloc((size_t)l * m * sizeof *Y);     /* rows in R^m */
    double *G = malloc((size_t)l * l * sizeof *G), *V = malloc((size_t)l * l * sizeof *V);
    double *col = malloc((size_t)m * sizeof *col);
    int *ord = malloc((size_t)l * sizeof *ord);
    enum idim_status st = IDIM_OK;
    if (!Om || !Y || !G || !V || !col || !ord) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "svd: out of memory (%d x %d sketch)", l,
                       m > n ? m : n);
        goto done;
    }
    struct rng r;
    rng_init(&r, rng_key(seed, WV_OMEGA_STREAM));
    for (size_t i = 0; i < (size_t)l * n; i++)
        Om[i] = (float)rng_normal(&r);
    /* rows of Y: A w for the rows w of Om (Y = Om A^T); Ctrl-C is polled
     * between the products, per row in the orthogonalisations, the Gram
     * matrix and the eigensolver */
    linear_forward(Y, Om, A, NULL, l, n, m);
    if (orth_rows(Y, l, m))
        goto interrupted;
    for (int it = 0; it < power; it++) {
        if (idim_interrupted)
            goto interrupted;
        linear_backward(Om, NULL, NULL, Y, NULL, A, l, n, m, 0.0f); /* rows A^T y */
        if (orth_rows(Om, l, n))
            goto interrupted;
        linear_forward(Y, Om, A, NULL, l, n, m);
        if (orth_rows(Y, l, m))
            goto interrupted;
    }
    /* B = Q^T A (rows A^T q), G = B B^T */
    linear_backward(Om, NULL, NULL, Y, NULL, A, l, n, m, 0.0f);
    for (int i = 0; i < l; i++) {
        if (idim_interrupted)
            goto interrupted;
        for (int j = i; j < l; j++)
            G[(size_t)i * l + j] = G[(size_t)j * l + i] =
                dotd(Om + (size_t)i * n, Om + (size_t)j * n, n);
    }
    if (jacobi_eigen(G, V, l))
        goto interrupted;
    /* eigenvalues descending (ties: lower index first) */
    for (int i = 0; i < l; i++)
        ord[i] = i;
    for (int i = 0; i < l; i++) {
        int b = i;
        for (int j = i + 1; j < l; j++)
            if (G[(size_t)ord[j] * l + ord[j]] > G[(size_t)ord[b] * l + ord[b]])
                b = j;
        int t = ord[i];
        ord[i] = ord[b];
        ord[b] = t;
    }
    /* U[:, i] = Q^T v_i */
    for (int i = 0; i < k; i++) {
        int e = ord[i];
        double ev = G[(size_t)e * l + e];
        s[i] = (float)sqrt(ev > 0.0 ? ev : 0.0);
        memset(col, 0, (size_t)m * sizeof *col);
        for (int j = 0; j < l; j++) {
            double c = V[(size_t)j * l + e];
            const float *y = Y + (size_t)j * m;
            for (int t = 0; t < m; t++)
                col[t] += c * (double)y[t];
        }
        int big = 0;
        for (int t = 1; t < m; t++)
            if (fabs(col[t]) > fabs(col[big]))
                big = t;
        double sg = col[big] < 0.0 ? -1.0 : 1.0;
        for (int t = 0; t < m; t++)
            U[(size_t)t * k + i] = (float)(sg * col[t]);
    }
    goto done;
interrupted:
    st = idim_fail(err, IDIM_ERR_INTERRUPTED, "svd: interrupted");
done:
    free(Om);
    free(Y);
    free(G);
    free(V);
    free(col);
    free(ord);
    return st;
}

int wordvec_embed(float *wte, int C, const int32_t *ids, int K, const float *U, const float *s,
                  double std)
{
    double *mean = calloc((size_t)C, sizeof *mean);
    if (!mean)
        return -2;
    for (int i = 0; i < K; i++)
        for (int c = 0; c < C; c++)
            mean[c] += (double)U[(size_t)i * C + c] * sqrt((double)s[c]);
    for (int c = 0; c < C; c++)
        mean[c] /= K;
    double ss = 0.0;
    for (int i = 0; i < K; i++)
        for (int c = 0; c < C; c++) {
            double e = (double)U[(size_t)i * C + c] * sqrt((double)s[c]) - mean[c];
            ss += e * e;
        }
    double sd = sqrt(ss / ((double)K * C));
    if (!(sd > 0.0)) {
        free(mean);
        return -1;
    }
    double f = std / sd;
    for (int i = 0; i < K; i++)
        for (int c = 0; c < C; c++) {
            double e = (double)U[(size_t)i * C + c] * sqrt((double)s[c]) - mean[c];
            wte[(size_t)ids[i] * C + c] = (float)(e * f);
        }
    free(mean);
    return 0;
}

/* ---- the command ---------------------------------------------------------- */

static void note(const struct pretrain_opts *o, const char *msg)
{
    if (!o->progress)
        return;
    struct pretrain_progress p = {.note = msg};
    o->progress(&p, o->user);
}

enum idim_status wordvec_run(const struct pretrain_opts *o, struct wordvec_result *res,
                             struct idim_err *err)
{
    memset(res, 0, sizeof *res);
    if (!o->model || !o->out_dir || o->n_corpus < 1)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "pretrain: word vectors need a model, --corpus and --out-dir");
    if (o->wv_window < 1 || o->wv_window > 1000 || o->wv_power < 0 || o->wv_power > 100 ||
        !(o->wv_std > 0.0))
        return idim_fail(err, IDIM_ERR_USAGE,
                         "pretrain: --wv-window must be 1..1000, --wv-power 0..100, --wv-std > 0");
    struct wfile w;
    memset(&w, 0, sizeof w);
    struct tokenizer *tk = NULL;
    struct pretrain_corpus corpus;
    memset(&corpus, 0, sizeof corpus);
    struct wordvec_ppmi pm;
    memset(&pm, 0, sizeof pm);
    float *U = NULL, *s = NULL, *wte = NULL;
    struct wfile_src_tensor *src = NULL;
    enum idim_status st;
    model_set_threads(o->threads);
    if ((st = wfile_open(&w, o->model, err)) || (st = wfile_need_tokenizer(&w, err)) ||
        (st = tokenizer_new(&tk, &w.tok, err)))
        goto done;
    int C = w.cfg.hidden, V = w.cfg.vocab_size;
    if (o->wv_vocab < C) {
        st = idim_fail(err, IDIM_ERR_USAGE,
                       "pretrain: --wv-vocab %ld is below the hidden size %d of %s: the vectors "
                       "need at least as many tokens as dimensions",
                       o->wv_vocab, C, o->model);
        goto done;
    }
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        st = idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create the folder: %s", o->out_dir,
                       strerror(errno));
        goto done;
    }
    int k = snprintf(res->out, sizeof res->out, "%s/wordvec.bin", o->out_dir);
    if (k < 0 || (size_t)k >= sizeof res->out) {
        st = idim_fail(err, IDIM_ERR_USAGE, "pretrain: --out-dir path is too long");
        goto done;
    }
    note(o, "reading the corpus");
    if ((st = pretrain_corpus_load(&corpus, tk, o->corpus, o->n_corpus, o->doc_lines,
                                   w.tok.sep_id, err)))
        goto done;
    res->n_tok = corpus.n_tok;
    res->n_docs = corpus.n_docs;
    char msg[256];
    snprintf(msg, sizeof msg, "counting co-occurrences of %zu tokens (window %ld)", corpus.n_tok,
             o->wv_window);
    note(o, msg);
    if ((st = wordvec_ppmi(&pm, corpus.tok, corpus.n_tok, V, (int)o->wv_window, 0.75,
                           o->wv_vocab > 1000000 ? 1000000 : (int)o->wv_vocab, C, err)))
        goto done;
    res->K = pm.K;
    res->coverage = (double)pm.covered / (double)corpus.n_tok;
    if (idim_interrupted) {
        st = idim_fail(err, IDIM_ERR_INTERRUPTED, "pretrain: interrupted; %s not written",
                       res->out);
        goto done;
    }
    snprintf(msg, sizeof msg, "SVD of the %d x %d PPMI matrix to %d dimensions (%ld iterations)",
             pm.K, pm.K, C, o->wv_power);
    note(o, msg);
    U = malloc((size_t)pm.K * C * sizeof *U);
    s = malloc((size_t)C * sizeof *s);
    wte = malloc((size_t)V * C * sizeof *wte);
    src = calloc(w.n_tensors, sizeof *src);
    if (!U || !s || !wte || !src) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory for the word vectors");
        goto done;
    }
    if ((st = wordvec_svd(pm.m, pm.K, pm.K, C, C, (int)o->wv_power, o->seed, U, s,
                          err)))
        goto done;
    res->sv_first = s[0];
    res->sv_last = s[C - 1];
    if (idim_interrupted) {
        st = idim_fail(err, IDIM_ERR_INTERRUPTED, "pretrain: interrupted; %s not written",
                       res->out);
        goto done;
    }
    int found = 0;
    for (size_t t = 0; t < w.n_tensors; t++) {
        const struct wfile_tensor *ft = &w.tensors[t];
        src[t] = (struct wfile_src_tensor){.name = ft->name, .n_dims = ft->n_dims,
                                           .data = ft->data};
        memcpy(src[t].shape, ft->shape, sizeof src[t].shape);
        if (strstr(ft->name, ".embeddings.word_embeddings.weight") && ft->n_dims == 2 &&
            ft->shape[0] == V && ft->shape[1] == C) {
            memcpy(wte, ft->data, (size_t)V * C * sizeof *wte);
            src[t].data = wte;
            found = 1;
        }
    }
    if (!found) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: holds no [%d, %d] word-embedding table",
                       o->model, V, C);
        goto done;
    }
    int e = wordvec_embed(wte, C, pm.ids, pm.K, U, s, o->wv_std);
    if (e == -2) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "pretrain: out of memory for the word vectors");
        goto done;
    }
    if (e != 0) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "pretrain: the word vectors of the corpus are all equal (a degenerate "
                       "corpus): give more varied text");
        goto done;
    }
    st = wfile_write(res->out, &w.cfg, &w.tok, src, w.n_tensors, err);
done:
    free(U);
    free(s);
    free(wte);
    free(src);
    wordvec_ppmi_free(&pm);
    pretrain_corpus_free(&corpus);
    if (tk)
        tokenizer_free(tk);
    wfile_free(&w);
    return st;
}
