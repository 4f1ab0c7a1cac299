/* train_ckpt.c - a run's checkpoint: everything that decides the rest of
 * the run (the trained vector, the optimizer moments, the step, both random
 * generators, the best theta and the partial result), as one little-endian
 * record, so that a resumed run ends bit-identical to an uninterrupted one
 * (same thread count). Subspace runs (adamw, sgd, adamw-proj) and full
 * fine-tuning (the baseline of measure) alike. Contract:
 * src/train_internal.h; the measure state file (search.c) carries it;
 * layout: docs/MEASURE.md.
 *
 * Layout (offsets in bytes; d = the run's subspace dimension, 0 for full
 * fine-tuning):
 *     0 char[8] "IDIMCKPT"     8 u32 version (2)
 *    12 u32 method (1 full, 2 did, 3 said)
 *    16 u32 optimizer (1 adamw, 2 sgd, 3 adamw-proj)  20 u32 threads (1..1024)
 *    24 u64 proj_seed (0 for full)  32 u64 seed     40 u64 d (0 full, else 1..2^32)
 *    48 f64 lr (> 0)          56 u64 total steps    64 u64 step (< total)
 *    72 u32 epoch (1..256)    76 u32 reserved (0)
 *    80 rng shuffle state at the start of that epoch: u64 s[4], f64 spare,
 *       u32 has_spare (0/1), u32 reserved (0)
 *   128 rng dropout state (the same 48 bytes)
 *   176 f64 epoch loss sum   184 u64 epoch loss count  192 u64 examples seen
 *   200 f64 training seconds 208 f64 run seconds   216 f64 eval seconds
 *   224 u32 epochs done      228 u32 best epoch    232 u32 evaluations
 *   236 u32 best is one class (0/1)
 *   240 f64 best  248 f64 final  256 f64 majority  264 u64 best step
 *   272 u64 met step         280 u64 hopeless step
 *   288 best metrics: f64 primary, accuracy, f1, mcc, pearson, spearman,
 *       majority_primary, majority_accuracy, majority_f1, majority_mcc,
 *       u32 majority_only (0/1), u32 reserved (0)
 *   376 f64 epoch_metric[256]   2424 f64 epoch_loss[256]
 *  4472 u64 eval_step[512]      8568 f64 eval_metric[512]   12664 u8 eval_valid[512]
 * 13176 u64 n_theta  13184 u64 n_mom  13192 u64 n_aux  13200 u64 n_best
 * 13208 f32 theta[n_theta], mom[n_mom], vel[n_mom], aux_m[n_aux],
 *       aux_v[n_aux], best_theta[n_best]
 * What the vectors hold, by method and optimizer (D = the model's
 * parameters, m = its tensors):
 *   full fine-tuning, adamw: the weights, their moments (D each), no best
 *   subspace adamw: theta_d, its moments (d each), best theta (d)
 *   subspace sgd: theta_d, no moments, best theta
 *   subspace adamw-proj: theta_d (d), the per-weight moments (D each), for
 *     SAID the lambdas' moments as aux (m each), best theta (d)
 * Version 1 (idim before adamw-proj checkpoints: 13176 fixed bytes, then
 * theta, mom, vel, best of d each) is read as well.
 * Scores are NaN or in [-1, 1] (every metric idim computes lies there),
 * losses NaN or >= 0, every float of the vectors finite, vel, aux_v >= 0. */
#include "train_internal.h"
#include "lebytes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CK_MAGIC "IDIMCKPT"
#define CK_VERSION 2u
#define CK_FIXED1 13176u /* version 1: the vectors followed at once */
#define CK_FIXED 13208u

size_t train_ckpt_bytes(const struct train_ckpt *c)
{
    return CK_FIXED + 4 * (c->n_theta + 2 * c->n_mom + 2 * c->n_aux + c->n_best);
}

static void put_rng(unsigned char *p, const struct rng *r)
{
    for (int i = 0; i < 4; i++)
        le_put64(p + 8 * i, r->s[i]);
    le_putf64(p + 32, r->spare);
    le_put32(p + 40, (uint32_t)r->has_spare);
    le_put32(p + 44, 0);
}

static void get_rng(const unsigned char *p, struct rng *r)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = le_get64(p + 8 * i);
    r->spare = le_getf64(p + 32);
    r->has_spare = (int)le_get32(p + 40);
}

static void put_vec(unsigned char *p, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = 0;
        if (x)
            memcpy(&u, &x[i], 4);
        le_put32(p + 4 * i, u);
    }
}

void train_ckpt_encode(unsigned char *buf, const struct train_ckpt *c)
{
    const struct train_result *r = c->res;
    memset(buf, 0, train_ckpt_bytes(c));
    memcpy(buf, CK_MAGIC, 8);
    le_put32(buf + 8, CK_VERSION);
    le_put32(buf + 12, (uint32_t)c->mode);
    le_put32(buf + 16, (uint32_t)c->optimizer);
    le_put32(buf + 20, (uint32_t)c->threads);
    le_put64(buf + 24, c->proj_seed);
    le_put64(buf + 32, c->seed);
    le_put64(buf + 40, c->d);
    le_putf64(buf + 48, c->lr);
    le_put64(buf + 56, (uint64_t)c->total);
    le_put64(buf + 64, (uint64_t)c->step);
    le_put32(buf + 72, (uint32_t)c->epoch);
    put_rng(buf + 80, &c->shuf);
    put_rng(buf + 128, &c->drop);
    le_putf64(buf + 176, c->loss_sum);
    le_put64(buf + 184, (uint64_t)c->loss_n);
    le_put64(buf + 192, c->seen);
    le_putf64(buf + 200, c->t_train);
    le_putf64(buf + 208, c->seconds);
    le_putf64(buf + 216, r->eval_seconds);
    le_put32(buf + 224, (uint32_t)r->n_epochs);
    le_put32(buf + 228, (uint32_t)r->best_epoch);
    le_put32(buf + 232, (uint32_t)r->n_evals);
    le_put32(buf + 236, (uint32_t)r->majority_only);
    le_putf64(buf + 240, r->best);
    le_putf64(buf + 248, r->final);
    le_putf64(buf + 256, r->majority);
    le_put64(buf + 264, (uint64_t)r->best_step);
    le_put64(buf + 272, (uint64_t)r->met_step);
    le_put64(buf + 280, (uint64_t)r->hopeless_step);
    const struct metrics *m = &r->best_metrics;
    const double mv[10] = {m->primary,          m->accuracy,          m->f1,
                           m->mcc,              m->pearson,           m->spearman,
                           m->majority_primary, m->majority_accuracy, m->majority_f1,
                           m->majority_mcc};
    for (int i = 0; i < 10; i++)
        le_putf64(buf + 288 + 8 * i, mv[i]);
    le_put32(buf + 368, (uint32_t)m->majority_only);
    for (int e = 0; e < TRAIN_MAX_EPOCHS; e++) {
        le_putf64(buf + 376 + 8 * e, e < r->n_epochs ? r->epoch_metric[e] : 0.0);
        le_putf64(buf + 2424 + 8 * e, e < r->n_epochs ? r->epoch_loss[e] : 0.0);
    }
    int ne = r->n_evals < TRAIN_MAX_EVALS ? r->n_evals : TRAIN_MAX_EVALS;
    for (int e = 0; e < ne; e++) {
        le_put64(buf + 4472 + 8 * e, (uint64_t)r->eval_step[e]);
        le_putf64(buf + 8568 + 8 * e, r->eval_metric[e]);
        buf[12664 + e] = (unsigned char)r->eval_valid[e];
    }
    le_put64(buf + CK_FIXED1, c->n_theta);
    le_put64(buf + CK_FIXED1 + 8, c->n_mom);
    le_put64(buf + CK_FIXED1 + 16, c->n_aux);
    le_put64(buf + CK_FIXED1 + 24, c->n_best);
    unsigned char *p = buf + CK_FIXED;
    put_vec(p, c->theta, c->n_theta);
    p += 4 * c->n_theta;
    put_vec(p, c->mom, c->n_mom);
    p += 4 * c->n_mom;
    put_vec(p, c->vel, c->n_mom);
    p += 4 * c->n_mom;
    put_vec(p, c->aux_m, c->n_aux);
    p += 4 * c->n_aux;
    put_vec(p, c->aux_v, c->n_aux);
    p += 4 * c->n_aux;
    put_vec(p, c->best_theta, c->n_best);
}

#define TRY(x)                                                                               \
    do {                                                                                     \
        enum idim_status s_ = (x);                                                           \
        if (s_ != IDIM_OK)                                                                   \
            return s_;                                                                       \
    } while (0)

static enum idim_status check_rng(const struct le_check *k, const unsigned char *p, size_t off,
                                  const char *field)
{
    if ((le_get64(p) | le_get64(p + 8) | le_get64(p + 16) | le_get64(p + 24)) == 0)
        return le_bad(k, off, field, "a generator state (not all zero)", "all zero");
    TRY(le_check_f(k, off + 32, field, le_getf64(p + 32), -1e308, 1e308, 0));
    TRY(le_check_u(k, off + 40, field, le_get32(p + 40), 0, 1));
    return le_check_u(k, off + 44, "reserved", le_get32(p + 44), 0, 0);
}

/* Where the vectors of a checkpoint lie (offsets from its start). */
struct ck_layout {
    uint64_t n[6];   /* theta, mom, vel, aux_m, aux_v, best */
    uint64_t off[6];
    uint64_t bytes;  /* the whole record */
};

/* The vector table of a checkpoint whose header (version, optimizer, d and,
 * from version 2, the four counts) is read; no checks. */
static void ck_layout(const unsigned char *buf, struct ck_layout *L)
{
    uint64_t fixed;
    if (le_get32(buf + 8) == 1) { /* version 1: four vectors of d */
        uint64_t d = le_get64(buf + 40);
        uint64_t n[6] = {d, d, d, 0, 0, d};
        memcpy(L->n, n, sizeof n);
        fixed = CK_FIXED1;
    } else {
        L->n[0] = le_get64(buf + CK_FIXED1);
        L->n[1] = L->n[2] = le_get64(buf + CK_FIXED1 + 8);
        L->n[3] = L->n[4] = le_get64(buf + CK_FIXED1 + 16);
        L->n[5] = le_get64(buf + CK_FIXED1 + 24);
        fixed = CK_FIXED;
    }
    uint64_t o = fixed;
    for (int v = 0; v < 6; v++) {
        L->off[v] = o;
        o += 4 * L->n[v];
    }
    L->bytes = o;
}

enum idim_status train_ckpt_parse(const unsigned char *buf, size_t len, const char *where,
                                  size_t base, struct train_ckpt_id *id, struct idim_err *err)
{
    struct le_check k = {where, base, err};
    if (len < CK_FIXED1)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: byte %zu: checkpoint of %zu bytes, expected at least %u", where,
                         base, len, CK_FIXED1);
    if (memcmp(buf, CK_MAGIC, 8) != 0)
        return le_bad(&k, 0, "magic", "IDIMCKPT", "other bytes");
    uint32_t version = le_get32(buf + 8);
    TRY(le_check_u(&k, 8, "version", version, 1, CK_VERSION));
    if (version >= 2 && len < CK_FIXED)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: byte %zu: checkpoint of %zu bytes, expected at least %u", where,
                         base, len, CK_FIXED);
    uint32_t mode = le_get32(buf + 12), opt = le_get32(buf + 16);
    uint32_t mode_lo = version == 1 ? TRAIN_DID : TRAIN_FULL;
    TRY(le_check_u(&k, 12, "method", mode, mode_lo, TRAIN_SAID));
    TRY(le_check_u(&k, 16, "optimizer", opt, TRAIN_ADAMW,
                   version == 1 ? TRAIN_SGD : TRAIN_ADAMW_PROJ));
    TRY(le_check_u(&k, 20, "threads", le_get32(buf + 20), 1, 1024));
    uint64_t d = le_get64(buf + 40);
    if (mode == TRAIN_FULL) {
        TRY(le_check_u(&k, 40, "d (full fine-tuning)", d, 0, 0));
        TRY(le_check_u(&k, 16, "optimizer of full fine-tuning", opt, TRAIN_ADAMW, TRAIN_SGD));
        TRY(le_check_u(&k, 24, "proj_seed (full fine-tuning)", le_get64(buf + 24), 0, 0));
    } else {
        TRY(le_check_u(&k, 40, "d", d, 1, (uint64_t)1 << 32));
    }
    struct ck_layout L;
    ck_layout(buf, &L);
    if (version >= 2) {
        /* the vectors each method and optimizer keeps (layout above) */
        const uint64_t lim = (uint64_t)1 << 36;
        uint64_t nt = mode == TRAIN_FULL ? 0 : d, nb = nt;
        TRY(le_check_u(&k, CK_FIXED1, "theta length", L.n[0], mode == TRAIN_FULL ? 1 : nt,
                       mode == TRAIN_FULL ? lim : nt));
        if (mode == TRAIN_FULL)
            nb = 0;
        uint64_t m_lo = opt == TRAIN_SGD ? 0 : opt == TRAIN_ADAMW ? L.n[0] : 1;
        uint64_t m_hi = opt == TRAIN_SGD ? 0 : opt == TRAIN_ADAMW ? L.n[0] : lim;
        TRY(le_check_u(&k, CK_FIXED1 + 8, "moment length", L.n[1], m_lo, m_hi));
        TRY(le_check_u(&k, CK_FIXED1 + 16, "lambda moment length", L.n[3], 0,
                       opt == TRAIN_ADAMW_PROJ && mode == TRAIN_SAID ? d - 1 : 0));
        TRY(le_check_u(&k, CK_FIXED1 + 24, "best theta length", L.n[5], nb, nb));
    }
    if ((uint64_t)len != L.bytes) {
        char e[64], f[40];
        snprintf(e, sizeof e, "%llu bytes for its vector lengths", (unsigned long long)L.bytes);
        snprintf(f, sizeof f, "%zu", len);
        return le_bad(&k, version == 1 ? 40 : CK_FIXED1, "checkpoint size", e, f);
    }
    double lr = le_getf64(buf + 48);
    TRY(le_check_f(&k, 48, "lr", lr, 1e-30, 1e30, 0));
    uint64_t total = le_get64(buf + 56), step = le_get64(buf + 64);
    TRY(le_check_u(&k, 56, "total steps", total, 1, (uint64_t)1 << 40));
    TRY(le_check_u(&k, 64, "step", step, 0, total - 1));
    uint32_t epoch = le_get32(buf + 72);
    TRY(le_check_u(&k, 72, "epoch", epoch, 1, TRAIN_MAX_EPOCHS));
    TRY(le_check_u(&k, 76, "reserved", le_get32(buf + 76), 0, 0));
    TRY(check_rng(&k, buf + 80, 80, "shuffle generator"));
    TRY(check_rng(&k, buf + 128, 128, "dropout generator"));
    TRY(le_check_f(&k, 176, "epoch loss sum", le_getf64(buf + 176), 0, 1e300, 0));
    TRY(le_check_u(&k, 184, "epoch loss count", le_get64(buf + 184), 0, step));
    TRY(le_check_u(&k, 192, "examples seen", le_get64(buf + 192), 0, (uint64_t)1 << 62));
    for (int i = 0; i < 3; i++)
        TRY(le_check_f(&k, 200 + 8 * (size_t)i, "seconds", le_getf64(buf + 200 + 8 * i), 0, 1e12, 0));
    uint32_t n_epochs = le_get32(buf + 224), best_epoch = le_get32(buf + 228);
    uint32_t n_evals = le_get32(buf + 232);
    TRY(le_check_u(&k, 224, "epochs done", n_epochs, 0, epoch));
    TRY(le_check_u(&k, 228, "best epoch", best_epoch, 0, epoch));
    TRY(le_check_u(&k, 232, "evaluations", n_evals, 0, step));
    TRY(le_check_u(&k, 236, "one class", le_get32(buf + 236), 0, 1));
    TRY(le_check_f(&k, 240, "best", le_getf64(buf + 240), -1, 1, 1));
    TRY(le_check_f(&k, 248, "final", le_getf64(buf + 248), -1, 1, 1));
    TRY(le_check_f(&k, 256, "majority", le_getf64(buf + 256), -1, 1, 1));
    TRY(le_check_u(&k, 264, "best step", le_get64(buf + 264), 0, step));
    TRY(le_check_u(&k, 272, "met step", le_get64(buf + 272), 0, step));
    TRY(le_check_u(&k, 280, "hopeless step", le_get64(buf + 280), 0, step));
    for (int i = 0; i < 10; i++)
        TRY(le_check_f(&k, 288 + 8 * (size_t)i, "best metrics", le_getf64(buf + 288 + 8 * i), -1, 1, 1));
    TRY(le_check_u(&k, 368, "best metrics one class", le_get32(buf + 368), 0, 1));
    TRY(le_check_u(&k, 372, "reserved", le_get32(buf + 372), 0, 0));
    for (size_t e = 0; e < TRAIN_MAX_EPOCHS; e++) {
        int used = e < n_epochs;
        double m = le_getf64(buf + 376 + 8 * e), l = le_getf64(buf + 2424 + 8 * e);
        TRY(le_check_f(&k, 376 + 8 * e, "epoch metric", m, used ? -1 : 0, used ? 1 : 0, used));
        TRY(le_check_f(&k, 2424 + 8 * e, "epoch loss", l, 0, used ? 1e300 : 0, used));
    }
    size_t ne = n_evals < TRAIN_MAX_EVALS ? n_evals : TRAIN_MAX_EVALS;
    uint64_t prev = 0;
    for (size_t e = 0; e < TRAIN_MAX_EVALS; e++) {
        int used = e < ne;
        uint64_t s = le_get64(buf + 4472 + 8 * e);
        TRY(le_check_u(&k, 4472 + 8 * e, "evaluation step", s, used ? prev + 1 : 0,
                    used ? step : 0));
        prev = s;
        TRY(le_check_f(&k, 8568 + 8 * e, "evaluation metric", le_getf64(buf + 8568 + 8 * e),
                    used ? -1 : 0, used ? 1 : 0, used));
        TRY(le_check_u(&k, 12664 + e, "evaluation valid flag", buf[12664 + e], 0, used ? 1 : 0));
    }
    for (size_t v = 0; v < 6; v++) {
        static const char *const names[6] = {"theta",          "first moment",
                                              "second moment",  "lambda first moment",
                                              "lambda second moment", "best theta"};
        int second = v == 2 || v == 4;
        /* version 1 kept zero moments for sgd */
        int zero_only = opt == TRAIN_SGD && (v == 1 || v == 2);
        for (uint64_t i = 0; i < L.n[v]; i++) {
            size_t off = (size_t)(L.off[v] + 4 * i);
            uint32_t u = le_get32(buf + off);
            float x;
            memcpy(&x, &u, 4);
            if (!isfinite(x) || (second && x < 0) || (zero_only && u != 0)) {
                char f[32];
                snprintf(f, sizeof f, "%g", (double)x);
                return le_bad(&k, off, names[v],
                              zero_only ? "0 (sgd keeps no moments)"
                              : second  ? "a finite value >= 0"
                                        : "a finite value",
                              f);
            }
        }
    }
    if (id) {
        id->mode = (int)mode;
        id->optimizer = (int)opt;
        id->threads = (int)le_get32(buf + 20);
        id->proj_seed = le_get64(buf + 24);
        id->seed = le_get64(buf + 32);
        id->d = (size_t)d;
        id->lr = lr;
        id->total = (long)total;
        id->step = (long)step;
        id->n_theta = (size_t)L.n[0];
        id->n_mom = (size_t)L.n[1];
        id->n_aux = (size_t)L.n[3];
        id->version = (int)version;
    }
    return IDIM_OK;
}

void train_ckpt_restore(const unsigned char *buf, struct train_ckpt *c)
{
    struct train_result *r = c->res;
    c->step = (long)le_get64(buf + 64);
    c->epoch = (int)le_get32(buf + 72);
    get_rng(buf + 80, &c->shuf);
    get_rng(buf + 128, &c->drop);
    c->loss_sum = le_getf64(buf + 176);
    c->loss_n = (long)le_get64(buf + 184);
    c->seen = le_get64(buf + 192);
    c->t_train = le_getf64(buf + 200);
    c->seconds = le_getf64(buf + 208);
    r->eval_seconds = le_getf64(buf + 216);
    r->n_epochs = (int)le_get32(buf + 224);
    r->best_epoch = (int)le_get32(buf + 228);
    r->n_evals = (int)le_get32(buf + 232);
    r->majority_only = (int)le_get32(buf + 236);
    r->best = le_getf64(buf + 240);
    r->final = le_getf64(buf + 248);
    r->majority = le_getf64(buf + 256);
    r->best_step = (long)le_get64(buf + 264);
    r->met_step = (long)le_get64(buf + 272);
    r->hopeless_step = (long)le_get64(buf + 280);
    struct metrics *m = &r->best_metrics;
    double *mv[10] = {&m->primary,          &m->accuracy,          &m->f1,
                      &m->mcc,              &m->pearson,           &m->spearman,
                      &m->majority_primary, &m->majority_accuracy, &m->majority_f1,
                      &m->majority_mcc};
    for (int i = 0; i < 10; i++)
        *mv[i] = le_getf64(buf + 288 + 8 * i);
    m->majority_only = (int)le_get32(buf + 368);
    for (int e = 0; e < r->n_epochs; e++) {
        r->epoch_metric[e] = le_getf64(buf + 376 + 8 * e);
        r->epoch_loss[e] = le_getf64(buf + 2424 + 8 * e);
    }
    int ne = r->n_evals < TRAIN_MAX_EVALS ? r->n_evals : TRAIN_MAX_EVALS;
    for (int e = 0; e < ne; e++) {
        r->eval_step[e] = (long)le_get64(buf + 4472 + 8 * e);
        r->eval_metric[e] = le_getf64(buf + 8568 + 8 * e);
        r->eval_valid[e] = (signed char)buf[12664 + e];
    }
    struct ck_layout L;
    ck_layout(buf, &L);
    float *vec[6] = {c->theta, c->mom, c->vel, c->aux_m, c->aux_v, c->best_theta};
    for (size_t v = 0; v < 6; v++)
        if (vec[v])
            for (uint64_t i = 0; i < L.n[v]; i++) {
                uint32_t u = le_get32(buf + L.off[v] + 4 * i);
                memcpy(&vec[v][i], &u, 4);
            }
}
