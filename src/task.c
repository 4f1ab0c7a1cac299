/* task.c - task registry, data loaders, encoded data sets and batches.
 *
 * Stage: feeds the trainer. Inputs: a task name (or custom flags) and a
 * data folder; outputs: raw examples (struct dataset), their token ids
 * (struct encoded) and padded batches (struct batch). Metrics are in
 * metrics.c.
 *
 * GLUE files are read the way GLUE's processors read them: split on tabs
 * only (no quote handling: several rows hold unbalanced quotes), header
 * skipped where GLUE has one (CoLA has none), label in a fixed column (MNLI:
 * the last one). */
#include "task.h"
#include "fileio.h"
#include "strbuf.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { FMT_TSV = 1, FMT_CSV = 2, FMT_JSONL = 3 };

struct task_def {
    const char *name, *folder, *train, *dev, *dev_mm;
    int format, has_header, col_a, col_b, label_col;
    int n_labels;
    enum metric_kind metric;
    const char *labels; /* comma-separated label strings in id order; NULL = regression */
    const char *fa, *fb, *fl; /* jsonl keys */
    const char *about;
};

/* The GLUE layouts are those of GLUE's download script (data/<TASK>/<split>.tsv). */
static const struct task_def TASKS[] = {
    {"mrpc", "MRPC", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 3, 4, 0, 2, METRIC_ACCURACY, "0,1",
     NULL, NULL, NULL, "paraphrase pairs; accuracy and F1 (d90 uses accuracy)"},
    {"qqp", "QQP", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 3, 4, 5, 2, METRIC_ACCURACY, "0,1",
     NULL, NULL, NULL, "question pairs; accuracy and F1"},
    {"sst2", "SST-2", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 0, -1, 1, 2, METRIC_ACCURACY,
     "0,1", NULL, NULL, NULL, "sentiment; accuracy"},
    {"qnli", "QNLI", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 1, 2, 3, 2, METRIC_ACCURACY,
     "entailment,not_entailment", NULL, NULL, NULL, "question / sentence entailment; accuracy"},
    {"rte", "RTE", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 1, 2, 3, 2, METRIC_ACCURACY,
     "entailment,not_entailment", NULL, NULL, NULL, "entailment; accuracy"},
    {"wnli", "WNLI", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 1, 2, 3, 2, METRIC_ACCURACY, "0,1",
     NULL, NULL, NULL, "Winograd entailment; accuracy"},
    {"mnli", "MNLI", "train.tsv", "dev_matched.tsv", "dev_mismatched.tsv", FMT_TSV, 1, 8, 9, -1, 3,
     METRIC_ACCURACY, "contradiction,entailment,neutral", NULL, NULL, NULL,
     "entailment, 3 classes; matched accuracy (split dev), mismatched (split dev-mm)"},
    {"mnli-mm", "MNLI", "train.tsv", "dev_mismatched.tsv", NULL, FMT_TSV, 1, 8, 9, -1, 3,
     METRIC_ACCURACY, "contradiction,entailment,neutral", NULL, NULL, NULL,
     "MNLI scored on the mismatched dev set"},
    {"cola", "CoLA", "train.tsv", "dev.tsv", NULL, FMT_TSV, 0, 3, -1, 1, 2, METRIC_MCC, "0,1",
     NULL, NULL, NULL, "acceptability, no header; Matthews correlation"},
    {"stsb", "STS-B", "train.tsv", "dev.tsv", NULL, FMT_TSV, 1, 7, 8, 9, 1, METRIC_PEARSON, NULL,
     NULL, NULL, NULL, "similarity 0-5, regression (MSE); Pearson and Spearman"},
    {"yelp-polarity", "yelp_review_polarity_csv", "train.csv", "test.csv", NULL, FMT_CSV, 0, 1,
     -1, 0, 2, METRIC_ACCURACY, "1,2", NULL, NULL, NULL,
     "CSV label,text (1 negative, 2 positive); dev = test.csv; accuracy"},
    {"anli-r1", "anli_v1.0", "R1/train.jsonl", "R1/dev.jsonl", NULL, FMT_JSONL, 0, 0, 1, 2, 3,
     METRIC_ACCURACY, "e,n,c", "premise", "hypothesis", "label", "adversarial NLI round 1"},
    {"anli-r2", "anli_v1.0", "R2/train.jsonl", "R2/dev.jsonl", NULL, FMT_JSONL, 0, 0, 1, 2, 3,
     METRIC_ACCURACY, "e,n,c", "premise", "hypothesis", "label", "adversarial NLI round 2"},
    {"anli-r3", "anli_v1.0", "R3/train.jsonl", "R3/dev.jsonl", NULL, FMT_JSONL, 0, 0, 1, 2, 3,
     METRIC_ACCURACY, "e,n,c", "premise", "hypothesis", "label", "adversarial NLI round 3"},
    {"anli", "anli_v1.0", "R1/train.jsonl\nR2/train.jsonl\nR3/train.jsonl",
     "R1/dev.jsonl\nR2/dev.jsonl\nR3/dev.jsonl", NULL, FMT_JSONL, 0, 0, 1, 2, 3, METRIC_ACCURACY,
     "e,n,c", "premise", "hypothesis", "label", "adversarial NLI, rounds 1-3 together"},
};
#define N_TASKS (sizeof TASKS / sizeof TASKS[0])

const char *task_list(void)
{
    static char buf[4096];
    if (buf[0])
        return buf;
    size_t k = 0;
    for (size_t i = 0; i < N_TASKS && k < sizeof buf; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "  %-14s %-25s %s\n", TASKS[i].name,
                              TASKS[i].folder, TASKS[i].about);
    if (k < sizeof buf)
        snprintf(buf + k, sizeof buf - k, "  %-14s %-25s %s\n", "custom", "-",
                 "--train/--dev/--text-cols/--label-col [--format] [--metric]");
    return buf;
}

const char *metric_name(enum metric_kind m)
{
    switch (m) {
    case METRIC_ACCURACY: return "accuracy";
    case METRIC_F1: return "f1";
    case METRIC_MCC: return "mcc";
    case METRIC_PEARSON: return "pearson";
    case METRIC_SPEARMAN: return "spearman";
    }
    return "?";
}

/* ---------------------------------------------------------------- SHA-256 (FIPS 180-4) */

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
};

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *c, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5],
             g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K256[i] + w[i];
        uint32_t S0 = ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22);
        uint32_t mj = (a & b) ^ (a & cc) ^ (b & cc);
        uint32_t t2 = S0 + mj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha256_init(struct sha256 *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
    c->fill = 0;
}

static void sha256_update(struct sha256 *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    c->len += n;
    while (n) {
        if (c->fill == 0 && n >= 64) {
            sha256_block(c, p);
            p += 64;
            n -= 64;
            continue;
        }
        size_t k = 64 - c->fill < n ? 64 - c->fill : n;
        memcpy(c->buf + c->fill, p, k);
        c->fill += k;
        p += k;
        n -= k;
        if (c->fill == 64) {
            sha256_block(c, c->buf);
            c->fill = 0;
        }
    }
}

static void sha256_final_hex(struct sha256 *c, char out[65])
{
    uint64_t bits = c->len * 8;
    unsigned char pad[72] = {0x80};
    size_t np = (c->fill < 56 ? 56 : 120) - c->fill;
    for (int i = 0; i < 8; i++)
        pad[np + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, pad, np + 8);
    for (int i = 0; i < 8; i++)
        snprintf(out + 8 * i, 9, "%08x", c->h[i]);
}

void task_sha256_hex(const void *data, size_t n, char out[65])
{
    struct sha256 c;
    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final_hex(&c, out);
}

/* ---------------------------------------------------------------- resolve */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/rel for each '\n'-separated rel, joined by '\n'. */
static int join_paths(char *out, size_t cap, const char *dir, const char *rels)
{
    size_t k = 0;
    out[0] = 0;
    while (*rels) {
        size_t len = strcspn(rels, "\n");
        int w = snprintf(out + k, cap - k, "%s%s/%.*s", k ? "\n" : "", dir, (int)len, rels);
        if (w < 0 || (size_t)w >= cap - k)
            return -1;
        k += (size_t)w;
        rels += len;
        if (*rels)
            rels++;
    }
    return 0;
}

/* 1 when dir holds the first train or dev file of def. */
static int holds_files(const char *dir, const struct task_def *def)
{
    char p[2048];
    size_t lt = strcspn(def->train, "\n"), ld = strcspn(def->dev, "\n");
    snprintf(p, sizeof p, "%s/%.*s", dir, (int)lt, def->train);
    if (is_file(p))
        return 1;
    snprintf(p, sizeof p, "%s/%.*s", dir, (int)ld, def->dev);
    return is_file(p);
}

static void fill_spec(struct task_spec *spec, const struct task_def *def)
{
    memset(spec, 0, sizeof *spec);
    snprintf(spec->name, sizeof spec->name, "%s", def->name);
    snprintf(spec->folder, sizeof spec->folder, "%s", def->folder);
    spec->n_labels = def->n_labels;
    spec->metric = def->metric;
    spec->text_col_a = def->col_a;
    spec->text_col_b = def->col_b;
    spec->label_col = def->label_col;
    spec->has_header = def->has_header;
    spec->format = def->format;
    if (def->labels) {
        const char *p = def->labels;
        while (*p && spec->n_label_names < 16) {
            size_t len = strcspn(p, ",");
            snprintf(spec->label_names[spec->n_label_names++], 32, "%.*s", (int)len, p);
            p += len;
            if (*p)
                p++;
        }
    }
    if (def->fa) {
        snprintf(spec->fields[0], 64, "%s", def->fa);
        snprintf(spec->fields[1], 64, "%s", def->fb ? def->fb : "");
        snprintf(spec->fields[2], 64, "%s", def->fl);
    }
}

enum idim_status task_resolve(struct task_spec *spec, const char *name, const char *data_dir,
                              struct idim_err *err)
{
    const struct task_def *def = NULL;
    for (size_t i = 0; i < N_TASKS; i++)
        if (!strcmp(name, TASKS[i].name))
            def = &TASKS[i];
    if (!def) {
        if (!strcmp(name, "custom"))
            return idim_fail(err, IDIM_ERR_USAGE,
                             "--task custom needs --train and/or --dev, --text-cols and "
                             "--label-col");
        char names[512];
        size_t k = 0;
        for (size_t i = 0; i < N_TASKS; i++)
            k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "",
                                  TASKS[i].name);
        return idim_fail(err, IDIM_ERR_USAGE, "unknown task '%s': known tasks are %s, custom",
                         name, names);
    }
    fill_spec(spec, def);
    char dir[1100] = "", tried[2][1100];
    int n_tried = 0;
    if (data_dir) {
        char sub[1100];
        snprintf(sub, sizeof sub, "%s/%s", data_dir, def->folder);
        if (!is_dir(data_dir))
            return idim_fail(err, IDIM_ERR_IO, "--data %s: no such folder", data_dir);
        if (!holds_files(data_dir, def) && is_dir(sub) && holds_files(sub, def))
            memcpy(dir, sub, sizeof dir); /* DIR was the parent of the task folder */
        else
            snprintf(dir, sizeof dir, "%s", data_dir);
        if (!holds_files(dir, def))
            return idim_fail(err, IDIM_ERR_IO,
                             "--data %s: holds neither %s nor %s of task %s (GLUE folder %s)",
                             data_dir, def->train, def->dev, def->name, def->folder);
    } else {
        const char *env = getenv("IDIM_DATA");
        if (env && *env) {
            snprintf(tried[n_tried], sizeof tried[0], "%s/%s", env, def->folder);
            if (is_dir(tried[n_tried]) && holds_files(tried[n_tried], def))
                memcpy(dir, tried[n_tried], sizeof dir);
            n_tried++;
        }
        if (!dir[0]) {
            snprintf(tried[n_tried], sizeof tried[0], "./data/%s", def->folder);
            if (is_dir(tried[n_tried]) && holds_files(tried[n_tried], def))
                memcpy(dir, tried[n_tried], sizeof dir);
            n_tried++;
        }
        if (!dir[0]) {
            if (n_tried == 2)
                return idim_fail(err, IDIM_ERR_IO,
                                 "no data for task %s: looked in %s (from $IDIM_DATA) and %s; "
                                 "pass --data DIR (the folder holding %s) or set IDIM_DATA to "
                                 "the folder that holds %s/",
                                 def->name, tried[0], tried[1], def->dev, def->folder);
            return idim_fail(err, IDIM_ERR_IO,
                             "no data for task %s: looked in %s ($IDIM_DATA is not set); pass "
                             "--data DIR (the folder holding %s) or set IDIM_DATA to the folder "
                             "that holds %s/",
                             def->name, tried[0], def->dev, def->folder);
        }
    }
    if (join_paths(spec->train_path, sizeof spec->train_path, dir, def->train) ||
        join_paths(spec->dev_path, sizeof spec->dev_path, dir, def->dev) ||
        (def->dev_mm && join_paths(spec->dev_mm_path, sizeof spec->dev_mm_path, dir, def->dev_mm)))
        return idim_fail(err, IDIM_ERR_USAGE, "data folder path too long: %s", dir);
    return IDIM_OK;
}

/* ---------------------------------------------------------------- reading */

/* Examples being collected. */
struct coll {
    struct strbuf ar; /* the texts, by offset */
    size_t *oa, *ob; /* offsets */
    int32_t *labels;
    float *targets;
    size_t n, cap;
};

struct field {
    const char *s;
    size_t len;
};

static int label_index(const struct task_spec *spec, const char *s, size_t len)
{
    for (int i = 0; i < spec->n_label_names; i++)
        if (strlen(spec->label_names[i]) == len && !memcmp(spec->label_names[i], s, len))
            return i;
    return -1;
}

static void label_list(const struct task_spec *spec, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < spec->n_label_names && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? ", " : "", spec->label_names[i]);
}

/* Adds one example; label given as text. */
static enum idim_status coll_add(struct coll *c, const struct task_spec *spec, struct field a,
                                 struct field b, int has_b, struct field lab, const char *path,
                                 size_t line, struct idim_err *err)
{
    if (c->n % 4096 == 0 && idim_interrupted) /* ~2 ms of parsing between checks */
        return idim_fail(err, IDIM_ERR_INTERRUPTED, "%s: interrupted while reading, at line %zu",
                         path, line);
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        size_t *na = realloc(c->oa, ncap * sizeof *na);
        if (na)
            c->oa = na;
        size_t *nb = realloc(c->ob, ncap * sizeof *nb);
        if (nb)
            c->ob = nb;
        int32_t *nl = realloc(c->labels, ncap * sizeof *nl);
        if (nl)
            c->labels = nl;
        float *nt = realloc(c->targets, ncap * sizeof *nt);
        if (nt)
            c->targets = nt;
        if (!na || !nb || !nl || !nt)
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
        c->cap = ncap;
    }
    int32_t label = 0;
    float target = 0;
    if (spec->n_labels == 1) {
        char tmp[64], *end;
        size_t l = lab.len < sizeof tmp - 1 ? lab.len : sizeof tmp - 1;
        memcpy(tmp, lab.s, l);
        tmp[l] = 0;
        errno = 0;
        double v = strtod(tmp, &end);
        while (*end == ' ')
            end++;
        if (l == 0 || *end || errno || !isfinite(v))
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: line %zu: score '%.*s' is not a number", path, line,
                             (int)(lab.len > 40 ? 40 : lab.len), lab.s);
        target = (float)v;
    } else if (spec->n_label_names >= 0) {
        int k = label_index(spec, lab.s, lab.len);
        if (k < 0) {
            char list[600];
            label_list(spec, list, sizeof list);
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: line %zu: label '%.*s' is not one of the task's labels (%s)",
                             path, line, (int)(lab.len > 40 ? 40 : lab.len), lab.s, list);
        }
        label = k;
    }
    if (strbuf_add(&c->ar, a.s, a.len, &c->oa[c->n]) ||
        strbuf_add(&c->ar, has_b ? b.s : "", has_b ? b.len : 0, &c->ob[c->n]))
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    c->labels[c->n] = label;
    c->targets[c->n] = target;
    c->n++;
    return IDIM_OK;
}

#define MAX_FIELDS 64

/* Field k of fields[0..nf), k = -1 meaning the last one. */
static int pick(int k, int nf)
{
    return k < 0 ? nf - 1 : k;
}

static int need_cols(const struct task_spec *spec)
{
    int m = spec->text_col_a;
    if (spec->text_col_b > m)
        m = spec->text_col_b;
    if (spec->label_col > m)
        m = spec->label_col;
    if (spec->label_col < 0)
        m++; /* the label is after the texts */
    return m + 1;
}

static enum idim_status add_row(struct coll *c, const struct task_spec *spec, struct field *f,
                                int nf, const char *path, size_t line, const char *sep,
                                struct idim_err *err)
{
    int need = need_cols(spec);
    if (nf < need)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: line %zu: expected at least %d %s-separated columns, found %d",
                         path, line, need, sep, nf);
    int has_b = spec->text_col_b >= 0;
    struct field none = {"", 0};
    return coll_add(c, spec, f[spec->text_col_a], has_b ? f[spec->text_col_b] : none, has_b,
                    f[pick(spec->label_col, nf)], path, line, err);
}

static enum idim_status parse_tsv(struct coll *c, const struct task_spec *spec, char *buf,
                                  size_t n, const char *path, struct idim_err *err)
{
    char *p = buf, *end = buf + n;
    size_t line = 0;
    int header = spec->has_header;
    struct field f[MAX_FIELDS];
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        char *next = le + 1;
        if (header) {
            header = 0;
            p = next;
            continue;
        }
        if (len == 0) {
            p = next;
            continue;
        }
        int nf = 0;
        const char *q = p, *qe = p + len;
        for (;;) {
            const char *t = memchr(q, '\t', (size_t)(qe - q));
            const char *fe = t ? t : qe;
            if (nf < MAX_FIELDS)
                f[nf++] = (struct field){q, (size_t)(fe - q)};
            if (!t)
                break;
            q = t + 1;
        }
        enum idim_status st = add_row(c, spec, f, nf, path, line, "tab", err);
        if (st)
            return st;
        p = next;
    }
    return IDIM_OK;
}

/* RFC 4180 CSV: fields may be quoted ("" inside quotes is a quote) and may
 * then hold commas and newlines. Unquoted fields are taken as they are. */
static enum idim_status parse_csv(struct coll *c, const struct task_spec *spec, char *buf,
                                  size_t n, const char *path, struct idim_err *err)
{
    char *p = buf, *end = buf + n;
    size_t line = 0;
    int header = spec->has_header;
    struct field f[MAX_FIELDS];
    while (p < end) {
        line++;
        size_t rec_line = line;
        int nf = 0;
        /* blank line */
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            p += *p == '\r' ? 2 : 1;
            continue;
        }
        for (;;) {
            char *start = p, *w = p;
            if (p < end && *p == '"') {
                /* quoted: unescape in place */
                p++;
                for (;;) {
                    if (p >= end)
                        return idim_fail(err, IDIM_ERR_FORMAT,
                                         "%s: line %zu: a quoted field is never closed", path,
                                         rec_line);
                    if (*p == '"') {
                        if (p + 1 < end && p[1] == '"') {
                            *w++ = '"';
                            p += 2;
                            continue;
                        }
                        p++;
                        break;
                    }
                    if (*p == '\n')
                        line++;
                    *w++ = *p++;
                }
                if (nf < MAX_FIELDS)
                    f[nf++] = (struct field){start, (size_t)(w - start)};
                /* after the closing quote: junk up to the separator is kept out */
                while (p < end && *p != ',' && *p != '\n')
                    p++;
            } else {
                while (p < end && *p != ',' && *p != '\n')
                    p++;
                size_t len = (size_t)(p - start);
                if (len && start[len - 1] == '\r' && (p >= end || *p == '\n'))
                    len--;
                if (nf < MAX_FIELDS)
                    f[nf++] = (struct field){start, len};
            }
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end)
                p++; /* newline */
            break;
        }
        if (header) {
            header = 0;
            continue;
        }
        enum idim_status st = add_row(c, spec, f, nf, path, rec_line, "comma", err);
        if (st)
            return st;
    }
    return IDIM_OK;
}

/* A JSON value as label text: strings as they are, numbers as integers. */
static int json_label(const cJSON *v, char *out, size_t cap)
{
    if (cJSON_IsString(v)) {
        snprintf(out, cap, "%s", v->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15)
            snprintf(out, cap, "%.0f", v->valuedouble);
        else
            snprintf(out, cap, "%.17g", v->valuedouble);
        return 0;
    }
    if (cJSON_IsBool(v)) {
        snprintf(out, cap, "%d", cJSON_IsTrue(v) ? 1 : 0);
        return 0;
    }
    return -1;
}

static enum idim_status parse_jsonl(struct coll *c, const struct task_spec *spec, char *buf,
                                    size_t n, const char *path, struct idim_err *err)
{
    char *p = buf, *end = buf + n;
    size_t line = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        size_t len = (size_t)(le - p);
        char *next = le + 1;
        size_t k = 0;
        while (k < len && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k == len) {
            p = next;
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(p, len);
        if (!j || !cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: line %zu: not a JSON object", path,
                             line);
        }
        const char *keys[3] = {spec->fields[0], spec->fields[1][0] ? spec->fields[1] : NULL,
                               spec->fields[2]};
        const cJSON *v[3] = {NULL, NULL, NULL};
        char lab[64];
        for (int i = 0; i < 3; i++) {
            if (!keys[i])
                continue;
            v[i] = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
            int ok = i < 2 ? cJSON_IsString(v[i]) : json_label(v[i], lab, sizeof lab) == 0;
            if (!ok) {
                cJSON_Delete(j);
                return idim_fail(err, IDIM_ERR_FORMAT,
                                 "%s: line %zu: field \"%s\" is missing or not a %s", path, line,
                                 keys[i], i < 2 ? "string" : "string or number");
            }
        }
        struct field fa = {v[0]->valuestring, strlen(v[0]->valuestring)};
        struct field fb = {"", 0};
        if (v[1])
            fb = (struct field){v[1]->valuestring, strlen(v[1]->valuestring)};
        struct field fl = {lab, strlen(lab)};
        enum idim_status st = coll_add(c, spec, fa, fb, v[1] != NULL, fl, path, line, err);
        cJSON_Delete(j);
        if (st)
            return st;
        p = next;
    }
    return IDIM_OK;
}

/* Reads one file into c, hashing its bytes. */
static enum idim_status load_one(struct coll *c, struct sha256 *h, const struct task_spec *spec,
                                 const char *path, struct idim_err *err)
{
    char *buf;
    size_t n;
    enum idim_status st = fileio_read_all(path, &buf, &n, err);
    if (st)
        return st;
    sha256_update(h, buf, n);
    const char *z = memchr(buf, 0, n);
    if (z) {
        size_t at = (size_t)(z - buf);
        free(buf);
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: holds a NUL byte at byte %zu: a binary file, not %s text", path,
                         at, spec->format == FMT_JSONL ? "JSONL"
                                            : spec->format == FMT_CSV ? "CSV" : "TSV");
    }
    char *b = buf;
    size_t bn = n;
    if (bn >= 3 && !memcmp(b, "\xef\xbb\xbf", 3))
        b += 3, bn -= 3;
    if (spec->format == FMT_CSV)
        st = parse_csv(c, spec, b, bn, path, err);
    else if (spec->format == FMT_JSONL)
        st = parse_jsonl(c, spec, b, bn, path, err);
    else
        st = parse_tsv(c, spec, b, bn, path, err);
    free(buf);
    return st;
}

void dataset_free(struct dataset *ds)
{
    if (!ds)
        return;
    free(ds->text_a);
    free(ds->text_b);
    free(ds->labels);
    free(ds->targets);
    free(ds->arena);
    memset(ds, 0, sizeof *ds);
}

enum idim_status task_load(struct dataset *ds, const struct task_spec *spec, const char *split,
                           struct idim_err *err)
{
    memset(ds, 0, sizeof *ds);
    const char *paths;
    if (!strcmp(split, "train"))
        paths = spec->train_path;
    else if (!strcmp(split, "dev"))
        paths = spec->dev_path;
    else if (!strcmp(split, "dev-mm") && spec->dev_mm_path[0])
        paths = spec->dev_mm_path;
    else
        return idim_fail(err, IDIM_ERR_USAGE, "task %s has no split '%s' (use train or dev%s)",
                         spec->name, split, spec->dev_mm_path[0] ? " or dev-mm" : "");
    if (!paths[0])
        return idim_fail(err, IDIM_ERR_USAGE, "task %s: no %s file was given", spec->name,
                         split);
    struct coll c;
    memset(&c, 0, sizeof c);
    struct sha256 h;
    sha256_init(&h);
    enum idim_status st = IDIM_OK;
    const char *p = paths;
    char one[1024];
    while (*p && st == IDIM_OK) {
        size_t len = strcspn(p, "\n");
        snprintf(one, sizeof one, "%.*s", (int)len, p);
        st = load_one(&c, &h, spec, one, err);
        p += len;
        if (*p)
            p++;
    }
    snprintf(ds->path, sizeof ds->path, "%s", paths);
    for (char *q = ds->path; *q; q++)
        if (*q == '\n')
            *q = ',';
    if (st == IDIM_OK && c.n == 0)
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: holds no examples (split %s of task %s is empty)",
                       ds->path, split, spec->name);
    if (st == IDIM_OK) {
        ds->n = c.n;
        ds->text_a = malloc(c.n * sizeof *ds->text_a);
        ds->text_b = spec->text_col_b >= 0 || spec->fields[1][0] ? malloc(c.n * sizeof(char *))
                                                                 : NULL;
        if (!ds->text_a || (!ds->text_b && (spec->text_col_b >= 0 || spec->fields[1][0])))
            st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", ds->path);
    }
    if (st) {
        free(c.ar.p);
        free(c.oa);
        free(c.ob);
        free(c.labels);
        free(c.targets);
        dataset_free(ds);
        return st;
    }
    ds->arena = c.ar.p;
    for (size_t i = 0; i < c.n; i++) {
        ds->text_a[i] = ds->arena + c.oa[i];
        if (ds->text_b)
            ds->text_b[i] = ds->arena + c.ob[i];
    }
    ds->labels = c.labels;
    if (spec->n_labels == 1)
        ds->targets = c.targets;
    else
        free(c.targets);
    free(c.oa);
    free(c.ob);
    sha256_final_hex(&h, ds->sha256);
    return IDIM_OK;
}

/* ---------------------------------------------------------------- custom */

static enum idim_status header_fields(const char *path, int format, char **buf,
                                      struct field *f, int *nf, struct idim_err *err)
{
    size_t n;
    enum idim_status st = fileio_read_all(path, buf, &n, err);
    if (st)
        return st;
    char *b = *buf;
    if (n >= 3 && !memcmp(b, "\xef\xbb\xbf", 3))
        b += 3, n -= 3;
    size_t len = strcspn(b, "\n");
    if (len && b[len - 1] == '\r')
        len--;
    b[len] = 0;
    *nf = 0;
    char sep = format == FMT_CSV ? ',' : '\t';
    char *q = b;
    for (;;) {
        char *t = strchr(q, sep);
        size_t fl = t ? (size_t)(t - q) : strlen(q);
        if (format == FMT_CSV && fl >= 2 && q[0] == '"' && q[fl - 1] == '"')
            f[(*nf)] = (struct field){q + 1, fl - 2};
        else
            f[(*nf)] = (struct field){q, fl};
        if (*nf < MAX_FIELDS - 1)
            (*nf)++;
        if (!t)
            break;
        q = t + 1;
    }
    return IDIM_OK;
}

/* Column by header name or 0-based number. */
static int column_of(const char *name, const struct field *f, int nf)
{
    for (int i = 0; i < nf; i++)
        if (f[i].len == strlen(name) && !memcmp(f[i].s, name, f[i].len))
            return i;
    char *end;
    long v = strtol(name, &end, 10);
    if (*name && !*end && v >= 0 && v < 1000)
        return (int)v;
    return -1;
}

static int cmp_label(const void *a, const void *b)
{
    const char *x = a, *y = b;
    char *ex, *ey;
    long vx = strtol(x, &ex, 10), vy = strtol(y, &ey, 10);
    if (*x && *y && !*ex && !*ey)
        return (vx > vy) - (vx < vy);
    return strcmp(x, y);
}

/* --format, or the format the first file's name implies (.csv, .jsonl or
 * .json, else TSV). */
static enum idim_status custom_format(const char *first, const char *format, int *out,
                                      struct idim_err *err)
{
    int fmt;
    if (format) {
        if (!strcmp(format, "tsv"))
            fmt = FMT_TSV;
        else if (!strcmp(format, "csv"))
            fmt = FMT_CSV;
        else if (!strcmp(format, "jsonl"))
            fmt = FMT_JSONL;
        else
            return idim_fail(err, IDIM_ERR_USAGE, "--format takes tsv, csv or jsonl, not '%s'",
                             format);
    } else {
        size_t L = strlen(first);
        if (L > 4 && !strcmp(first + L - 4, ".csv"))
            fmt = FMT_CSV;
        else if ((L > 6 && !strcmp(first + L - 6, ".jsonl")) ||
                 (L > 5 && !strcmp(first + L - 5, ".json")))
            fmt = FMT_JSONL;
        else
            fmt = FMT_TSV;
    }
    *out = fmt;
    return IDIM_OK;
}

/* --metric into spec->metric (accuracy unless given). */
static enum idim_status custom_metric(struct task_spec *spec, const char *metric,
                                      struct idim_err *err)
{
    spec->metric = METRIC_ACCURACY;
    if (metric) {
        static const char *const names[5] = {"accuracy", "f1", "mcc", "pearson", "spearman"};
        int found = 0;
        for (int i = 0; i < 5; i++)
            if (!strcmp(metric, names[i])) {
                spec->metric = (enum metric_kind)(i + 1);
                found = 1;
            }
        if (!found)
            return idim_fail(err, IDIM_ERR_USAGE,
                             "--metric takes accuracy, f1, mcc, pearson or spearman, not '%s'",
                             metric);
    }
    return IDIM_OK;
}

/* The text columns CA (and CB, "" for none) and the label column: JSON
 * keys, or header names or 0-based numbers looked up in FIRST's header. */
static enum idim_status custom_columns(struct task_spec *spec, int fmt, const char *first,
                                       const char *ca, const char *cb, const char *label_col,
                                       struct idim_err *err)
{
    enum idim_status st;
    if (fmt == FMT_JSONL) {
        if (strlen(ca) > 63 || strlen(cb) > 63 || strlen(label_col) > 63)
            return idim_fail(err, IDIM_ERR_USAGE, "--text-cols / --label-col: keys longer than 63 bytes");
        snprintf(spec->fields[0], 64, "%.63s", ca);
        snprintf(spec->fields[1], 64, "%.63s", cb);
        snprintf(spec->fields[2], 64, "%.63s", label_col);
        spec->text_col_a = 0;
        spec->text_col_b = cb[0] ? 1 : -1;
        spec->label_col = 2;
    } else {
        spec->has_header = 1;
        char *buf = NULL;
        struct field f[MAX_FIELDS];
        int nf;
        st = header_fields(first, fmt, &buf, f, &nf, err);
        if (st)
            return st;
        spec->text_col_a = column_of(ca, f, nf);
        spec->text_col_b = cb[0] ? column_of(cb, f, nf) : -1;
        spec->label_col = column_of(label_col, f, nf);
        free(buf);
        const char *missing = spec->text_col_a < 0 ? ca
                              : (cb[0] && spec->text_col_b < 0) ? cb
                              : spec->label_col < 0 ? label_col
                                                    : NULL;
        if (missing)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: the header has no column '%s' (name it as in the header, or "
                             "by 0-based number)",
                             first, missing);
    }
    return IDIM_OK;
}

/* The class names: the distinct values of the label column of TRAIN (else
 * the dev file; FIRST names it), sorted, 2..16 of them. */
static enum idim_status custom_labels(struct task_spec *spec, const char *train,
                                      const char *first, struct idim_err *err)
{
    enum idim_status st;
    int fmt = spec->format;
    /* labels: the distinct values of the label column. Load the file once
     * with the label column also read as text b, every label accepted. */
    char labels[16][32];
    int nl = 0;
    struct task_spec any = *spec;
    any.text_col_b = spec->label_col;
    if (fmt == FMT_JSONL)
        snprintf(any.fields[1], 64, "%s", spec->fields[2]);
    any.n_labels = 2;
    any.metric = METRIC_ACCURACY;
    any.n_label_names = -1; /* coll_add: accept any label */
    struct dataset ds;
    st = task_load(&ds, &any, train ? "train" : "dev", err);
    if (st)
        return st;
    for (size_t i = 0; i < ds.n; i++) {
        const char *l = ds.text_b[i];
        int k;
        for (k = 0; k < nl; k++)
            if (!strcmp(labels[k], l))
                break;
        if (k < nl)
            continue;
        if (nl == 16 || strlen(l) >= 32) {
            dataset_free(&ds);
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: the label column holds more than 16 distinct values (or one "
                             "longer than 31 bytes); for a score use --metric pearson",
                             first);
        }
        snprintf(labels[nl++], 32, "%s", l);
    }
    dataset_free(&ds);
    qsort(labels, (size_t)nl, sizeof labels[0], cmp_label);
    if (nl < 2)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: the label column holds a single value ('%s'); classification "
                         "needs at least two",
                         first, nl ? labels[0] : "");
    for (int i = 0; i < nl; i++)
        snprintf(spec->label_names[i], 32, "%.31s", labels[i]);
    spec->n_label_names = nl;
    spec->n_labels = nl;
    if (nl > 2 && spec->metric == METRIC_F1)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--metric f1 is binary F1 of class 1, but the labels have %d classes",
                         nl);
    return IDIM_OK;
}

enum idim_status task_custom(struct task_spec *spec, const char *train, const char *dev,
                             const char *text_cols, const char *label_col, const char *format,
                             const char *metric, struct idim_err *err)
{
    memset(spec, 0, sizeof *spec);
    snprintf(spec->name, sizeof spec->name, "custom");
    if (!train && !dev)
        return idim_fail(err, IDIM_ERR_USAGE, "--task custom needs --train FILE and/or --dev FILE");
    if (!text_cols || !*text_cols)
        return idim_fail(err, IDIM_ERR_USAGE, "--task custom needs --text-cols C1[,C2]");
    if (!label_col || !*label_col)
        return idim_fail(err, IDIM_ERR_USAGE, "--task custom needs --label-col C");
    const char *first = train ? train : dev;
    int fmt = FMT_TSV;
    enum idim_status st = custom_format(first, format, &fmt, err);
    if (st)
        return st;
    spec->format = fmt;
    if ((st = custom_metric(spec, metric, err)))
        return st;
    int regression = spec->metric == METRIC_PEARSON || spec->metric == METRIC_SPEARMAN;
    char ca[256], cb[256];
    size_t la = strcspn(text_cols, ",");
    if (la >= sizeof ca || strlen(text_cols) - la >= sizeof cb)
        return idim_fail(err, IDIM_ERR_USAGE, "--text-cols: column names too long");
    snprintf(ca, sizeof ca, "%.*s", (int)la, text_cols);
    cb[0] = 0;
    if (text_cols[la])
        snprintf(cb, sizeof cb, "%s", text_cols + la + 1);
    if (!ca[0] || strchr(cb, ','))
        return idim_fail(err, IDIM_ERR_USAGE, "--text-cols takes one or two columns, not '%s'",
                         text_cols);
    if (train && snprintf(spec->train_path, sizeof spec->train_path, "%s", train) >=
                     (int)sizeof spec->train_path)
        return idim_fail(err, IDIM_ERR_USAGE, "--train: path too long");
    if (dev && snprintf(spec->dev_path, sizeof spec->dev_path, "%s", dev) >=
                   (int)sizeof spec->dev_path)
        return idim_fail(err, IDIM_ERR_USAGE, "--dev: path too long");
    if ((st = custom_columns(spec, fmt, first, ca, cb, label_col, err)))
        return st;
    if (regression) {
        spec->n_labels = 1;
        return IDIM_OK;
    }
    return custom_labels(spec, train, first, err);
}

/* ---------------------------------------------------------------- encoded, batches */

void encoded_free(struct encoded *enc)
{
    if (!enc)
        return;
    free(enc->off);
    free(enc->ids);
    free(enc->type_ids);
    free(enc->labels);
    free(enc->targets);
    memset(enc, 0, sizeof *enc);
}

enum idim_status encoded_build(struct encoded *enc, const struct dataset *ds,
                               struct tokenizer *tk, int max_len, struct idim_err *err)
{
    memset(enc, 0, sizeof *enc);
    if (max_len < 4)
        return idim_fail(err, IDIM_ERR_USAGE, "--max-len %d is too small: at least 4", max_len);
    size_t cap = ds->n * 32 + 64;
    enc->n = ds->n;
    enc->off = malloc((ds->n + 1) * sizeof *enc->off);
    enc->ids = malloc(cap * sizeof *enc->ids);
    enc->type_ids = malloc(cap * sizeof *enc->type_ids);
    enc->labels = malloc((ds->n ? ds->n : 1) * sizeof *enc->labels);
    int32_t *ids = malloc((size_t)max_len * sizeof *ids);
    int32_t *types = malloc((size_t)max_len * sizeof *types);
    if (ds->targets)
        enc->targets = malloc((ds->n ? ds->n : 1) * sizeof *enc->targets);
    if (!enc->off || !enc->ids || !enc->type_ids || !enc->labels || !ids || !types ||
        (ds->targets && !enc->targets))
        goto nomem;
    size_t k = 0;
    enc->off[0] = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (i % 1024 == 0 && idim_interrupted) { /* SST-2's train split: ~70 checks */
            free(ids);
            free(types);
            encoded_free(enc);
            return idim_fail(err, IDIM_ERR_INTERRUPTED,
                             "%s: interrupted while tokenizing (%zu of %zu examples done)",
                             ds->path, i, ds->n);
        }
        long n = tokenizer_encode_pair(tk, ds->text_a[i], ds->text_b ? ds->text_b[i] : NULL,
                                       max_len, ids, types);
        if (n < 0)
            goto nomem;
        if (k + (size_t)n > cap) {
            while (k + (size_t)n > cap)
                cap *= 2;
            int32_t *a = realloc(enc->ids, cap * sizeof *a);
            if (!a)
                goto nomem;
            enc->ids = a;
            int32_t *b = realloc(enc->type_ids, cap * sizeof *b);
            if (!b)
                goto nomem;
            enc->type_ids = b;
        }
        memcpy(enc->ids + k, ids, (size_t)n * sizeof *ids);
        memcpy(enc->type_ids + k, types, (size_t)n * sizeof *types);
        k += (size_t)n;
        enc->off[i + 1] = k;
        if (n > enc->max_len)
            enc->max_len = (int)n;
        enc->labels[i] = ds->labels[i];
        if (enc->targets)
            enc->targets[i] = ds->targets[i];
    }
    free(ids);
    free(types);
    /* to fit: the capacity grew by doubling and could hold twice the tokens */
    int32_t *a = realloc(enc->ids, (k ? k : 1) * sizeof *a);
    if (a)
        enc->ids = a;
    int32_t *b = realloc(enc->type_ids, (k ? k : 1) * sizeof *b);
    if (b)
        enc->type_ids = b;
    return IDIM_OK;
nomem:
    free(ids);
    free(types);
    encoded_free(enc);
    return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory while tokenizing", ds->path);
}

size_t encoded_memory_bytes(const struct encoded *enc)
{
    if (!enc->off)
        return 0;
    size_t n = enc->n, tok = enc->off[n];
    return (n + 1) * sizeof *enc->off + tok * (sizeof *enc->ids + sizeof *enc->type_ids) +
           n * sizeof *enc->labels + (enc->targets ? n * sizeof *enc->targets : 0);
}

void batch_fill(struct batch *b, const struct encoded *enc, const size_t *idx, int n,
                int32_t pad_id)
{
    int T = 1;
    for (int r = 0; r < n; r++) {
        size_t len = enc->off[idx[r] + 1] - enc->off[idx[r]];
        if ((int)len > T)
            T = (int)len;
    }
    /* rows longer than the batch's room are a caller bug (encoded with a larger max_len) */
    assert(T <= b->cap_T && n <= b->cap_B);
    b->B = n;
    b->T = T;
    for (int r = 0; r < n; r++) {
        size_t o = enc->off[idx[r]];
        int len = (int)(enc->off[idx[r] + 1] - o);
        if (len > T)
            len = T;
        int32_t *ids = b->ids + (size_t)r * (size_t)T;
        int32_t *ty = b->type_ids + (size_t)r * (size_t)T;
        int32_t *mk = b->mask + (size_t)r * (size_t)T;
        memcpy(ids, enc->ids + o, (size_t)len * sizeof *ids);
        memcpy(ty, enc->type_ids + o, (size_t)len * sizeof *ty);
        for (int t = 0; t < len; t++)
            mk[t] = 1;
        for (int t = len; t < T; t++) {
            ids[t] = pad_id;
            ty[t] = 0;
            mk[t] = 0;
        }
        b->labels[r] = enc->labels[idx[r]];
        b->targets_buf[r] = enc->targets ? enc->targets[idx[r]] : 0.0f;
    }
    b->targets = enc->targets ? b->targets_buf : NULL;
}
