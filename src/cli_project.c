/* cli_project.c - `idim project`: print one tensor's projected update
 * (DID: P_t theta_d; SAID: lambda_t P_t theta_{d-m}) and, with --tables,
 * write that tensor's Fastfood tables B, Pi, G as little-endian arrays plus
 * meta.json, so other implementations can check the projection
 * (scripts/check_projection.py does, with numpy). Layouts:
 * docs/PROJECTION.md. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "cli.h"
#include "fileio.h"
#include "fastfood.h"
#include "theta.h"
#include "train.h"
#include "wfile.h"

/* ---------------------------------------------------------------- theta */

static int is_binary_theta(const char *path)
{
    enum idim_status st;
    FILE *f = fileio_open_input(path, 0, &st, NULL);
    if (!f)
        return 0;
    char m[8];
    int ok = fread(m, 1, 8, f) == 8 && memcmp(m, "IDIMTHTA", 8) == 0;
    fclose(f);
    return ok;
}

/* Reads a text theta: one float per line. *out owned by the caller. */
static enum idim_status read_text_theta(const char *path, float **out, size_t *n,
                                        struct idim_err *err)
{
    enum idim_status fst;
    FILE *f = fileio_open_input(path, 0, &fst, err);
    if (!f)
        return fst;
    size_t cap = 1024, k = 0;
    float *v = malloc(cap * sizeof *v);
    char line[256];
    long lineno = 0;
    enum idim_status st = IDIM_OK;
    if (!v) {
        fclose(f);
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0)
            continue;
        char *end;
        errno = 0;
        float x = strtof(p, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (end == p || *end || errno == ERANGE) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: line %ld: expected one float per line, found '%.40s'", path,
                           lineno, p);
            break;
        }
        if (k == cap) {
            float *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            v = nv, cap *= 2;
        }
        v[k++] = x;
    }
    if (!st && ferror(f))
        st = idim_fail(err, IDIM_ERR_IO, "%s: read error", path);
    fclose(f);
    if (!st && k == 0)
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: no values (expected one float per line)",
                       path);
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    *n = k;
    return IDIM_OK;
}

/* --------------------------------------------------------------- tables */

static enum idim_status write_le(const char *dir, const char *name, const void *data,
                                 size_t n, size_t esz, struct idim_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct fileio_out o;
    enum idim_status st = fileio_out_open(&o, path, err);
    if (st)
        return st;
    const unsigned char *p = data;
    unsigned char buf[1 << 16];
    size_t per = sizeof buf / esz, i = 0;
    const uint16_t probe = 1;
    int little = *(const unsigned char *)&probe == 1;
    while (st == IDIM_OK && i < n) {
        size_t k = n - i < per ? n - i : per;
        for (size_t e = 0; e < k; e++)
            for (size_t b = 0; b < esz; b++)
                buf[e * esz + b] = p[(i + e) * esz + (little ? b : esz - 1 - b)];
        st = fileio_out_write(&o, buf, k * esz, err);
        i += k;
    }
    if (st) {
        fileio_out_abort(&o);
        return st;
    }
    return fileio_out_commit(&o, err);
}

static enum idim_status write_text(const char *dir, const char *name, const char *text,
                                   struct idim_err *err)
{
    return write_le(dir, name, text, strlen(text), 1, err);
}

/* ----------------------------------------------------------------- main */

/* --proj-seed: the seed and that it was given (a theta file holds its own) */
struct seed_arg {
    unsigned long long v;
    int given;
};

static enum idim_status parse_seed(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    struct seed_arg *s = o->target;
    s->given = 1;
    return cli_parse_u64("--proj-seed", arg, &s->v, err);
}

/* One `idim project` request as resolved from the options and the theta
 * file, and the tensor it picks from the model's table. */
struct proj_job {
    const char *model, *tname, *theta_path;
    int binary;              /* theta_path is a theta file (tf holds it) */
    struct theta_file tf;    /* binary: owns theta */
    float *theta;            /* [n_theta]: tf.theta (binary) or owned (text) */
    size_t n_theta, d;       /* values read; d as on the command line */
    int method, scope;       /* TRAIN_DID/SAID; FF_SCOPE_*; 0 = not given */
    unsigned long long seed; /* projection seed */
    int have_seed;           /* --proj-seed given */
    long n_labels;           /* -1 = not given */
    struct arch_tensor *tab; /* [m] the model table (owned) */
    size_t m, t;             /* tensors in the table; index of the chosen one */
    size_t d_proj;           /* projection columns: d, or d - m for SAID */
    float lambda;            /* SAID's lambda_t, else 1 */
};

static void proj_job_free(struct proj_job *j)
{
    free(j->tab);
    if (j->binary)
        theta_free(&j->tf);
    else
        free(j->theta);
}

/* A binary theta file: its recorded settings win, and an option that
 * contradicts them is a usage error. */
static enum idim_status proj_from_theta_file(struct proj_job *j, long d_opt, struct idim_err *err)
{
    enum idim_status st = theta_load(j->theta_path, &j->tf, err);
    if (st)
        return st;
    const struct theta_file *tf = &j->tf;
    const char *clash = NULL;
    if (d_opt >= 0 && (size_t)d_opt != tf->d)
        clash = "--d";
    else if (j->method && j->method != (int)tf->mode)
        clash = "--method";
    else if (j->scope && j->scope != (int)tf->scope)
        clash = "--scope";
    else if (j->have_seed && j->seed != tf->proj_seed)
        clash = "--proj-seed";
    else if (j->n_labels > 0 && j->n_labels != tf->n_labels)
        clash = "--n-labels";
    if (clash)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "project: %s contradicts the theta file %s (which records d %zu, "
                         "method %s, scope %s, proj-seed %" PRIu64 ", %d labels); omit it",
                         clash, j->theta_path, tf->d, train_mode_name(tf->mode),
                         tf->scope == FF_SCOPE_GLOBAL ? "global" : "tensor", tf->proj_seed,
                         tf->n_labels);
    j->theta = tf->theta;
    j->n_theta = tf->d;
    j->d = tf->d;
    j->method = (int)tf->mode;
    j->scope = (int)tf->scope;
    j->seed = tf->proj_seed;
    if (j->n_labels < 0)
        j->n_labels = tf->n_labels;
    return IDIM_OK;
}

/* The theta (binary theta file or text) and the settings not given. */
static enum idim_status proj_load_theta(struct proj_job *j, long d_opt, struct idim_err *err)
{
    enum idim_status st;
    j->binary = is_binary_theta(j->theta_path);
    if (j->binary) {
        if ((st = proj_from_theta_file(j, d_opt, err)))
            return st;
    } else {
        if (d_opt < 0)
            return cli_usage(err, "project", "%s", "--d is required with a text theta file");
        if ((st = read_text_theta(j->theta_path, &j->theta, &j->n_theta, err)))
            return st;
        j->d = (size_t)d_opt;
    }
    if (!j->have_seed && !j->binary) {
        struct train_opts o;
        train_opts_default(&o, TRAIN_DID);
        j->seed = o.proj_seed; /* the trainer's default, so both agree */
    }
    if (!j->method)
        j->method = TRAIN_DID;
    if (!j->scope)
        j->scope = FF_SCOPE_TENSOR;
    return IDIM_OK;
}

/* The model's table for the job's labels and the index of --tensor in it;
 * a theta file must have been trained on this model. */
static enum idim_status proj_find_tensor(struct proj_job *j, const struct wfile *w,
                                         struct idim_err *err)
{
    if (j->binary && strcmp(j->tf.model_checksum, w->checksum_hex) != 0 &&
        strcmp(j->tf.model_checksum, "random") != 0)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "project: %s was trained on the model with checksum %s, but %s has "
                         "checksum %s",
                         j->theta_path, j->tf.model_checksum, j->model, w->checksum_hex);
    if (j->n_labels < 0)
        j->n_labels = w->cfg.n_labels > 0 ? w->cfg.n_labels : 2;
    j->m = arch_tensors(&w->cfg, ARCH_TABLE_MODEL, (int)j->n_labels, NULL, 0);
    j->tab = calloc(j->m, sizeof *j->tab);
    if (!j->tab)
        return idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory");
    arch_tensors(&w->cfg, ARCH_TABLE_MODEL, (int)j->n_labels, j->tab, j->m);
    for (j->t = 0; j->t < j->m && strcmp(j->tab[j->t].name, j->tname); j->t++)
        ;
    if (j->t == j->m)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "project: %s has no tensor '%s' in its model table (%zu tensors, e.g. "
                         "%s; see 'idim info %s')",
                         j->model, j->tname, j->m, j->tab[0].name, j->model);
    return IDIM_OK;
}

/* The projection's width and, for SAID, the tensor's lambda; the theta
 * must hold as many values as d implies. */
static enum idim_status proj_split_theta(struct proj_job *j, struct idim_err *err)
{
    size_t d = j->d, m = j->m;
    j->d_proj = d;
    j->lambda = 1.0f;
    if (j->method != TRAIN_SAID) {
        if (j->n_theta != d)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: holds %zu values, but d = %zu",
                             j->theta_path, j->n_theta, d);
        return IDIM_OK;
    }
    if (d <= m)
        return idim_fail(err, IDIM_ERR_USAGE,
                         "project: --d %zu is too small for SAID: d counts the %zu lambdas "
                         "of this model, so it must exceed %zu",
                         d, m, m);
    j->d_proj = d - m;
    if (j->n_theta == d)
        j->lambda = j->theta[j->d_proj + j->t];
    else if (j->n_theta != j->d_proj)
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: holds %zu values; SAID with d = %zu on this model needs %zu "
                         "(theta then %zu lambdas) or %zu (lambdas 1)",
                         j->theta_path, j->n_theta, d, d, m, j->d_proj);
    return IDIM_OK;
}

/* The transform for the job's scope and the tensor's update into *upd
 * (owned by the caller, tab[t].n_elem values). */
static enum idim_status proj_compute(const struct proj_job *j, int threads, struct fastfood **ff,
                                     float **upd, struct idim_err *err)
{
    size_t nt = j->tab[j->t].n_elem;
    enum idim_status st;
    if (j->scope == FF_SCOPE_TENSOR) {
        st = fastfood_new_tensor(ff, nt, j->t, j->d_proj, j->seed, threads, err);
    } else {
        size_t *nvec = calloc(j->m, sizeof *nvec);
        if (!nvec)
            return idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory");
        for (size_t k = 0; k < j->m; k++)
            nvec[k] = j->tab[k].n_elem;
        st = fastfood_new(ff, nvec, j->m, j->d_proj, FF_SCOPE_GLOBAL, j->seed, 0, threads, err);
        free(nvec);
    }
    if (st)
        return st;
    *upd = malloc(nt * sizeof **upd);
    if (!*upd)
        return idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory for %zu values", nt);
    fastfood_forward_tensor(*ff, j->scope == FF_SCOPE_TENSOR ? 0 : j->t, j->theta, *upd);
    if (j->method == TRAIN_SAID)
        for (size_t i = 0; i < nt; i++)
            (*upd)[i] *= j->lambda;
    return IDIM_OK;
}

/* meta.json of --tables: what a second implementation needs to rebuild the
 * transform from B, Pi and G (docs/PROJECTION.md). NULL: out of memory. */
static char *proj_meta_json(const struct proj_job *j, const struct fastfood_tables *ft,
                            const char *checksum)
{
    int tensor = j->scope == FF_SCOPE_TENSOR;
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "generator",
                            "idim-fastfood-1: rng_init(rng_key(proj_seed, key)), xoshiro256**; "
                            "B: LL draws, -1 if top bit set; Pi: Fisher-Yates i=LL-1..1, "
                            "j=rng_below(i+1); G: LL draws (float)rng_normal");
    cJSON_AddStringToObject(meta, "formula",
                            "update = lambda * (H G Pi H B pad(x))[offset:offset+n_tensor] "
                            "* scale, (Pi z)_i = z[Pi[i]], H unnormalised Sylvester "
                            "Walsh-Hadamard, x = theta[0:d_proj]");
    cJSON_AddStringToObject(meta, "tensor", j->tname);
    cJSON_AddNumberToObject(meta, "tensor_index", (double)j->t);
    cJSON_AddNumberToObject(meta, "key", tensor ? (double)j->t : 0.0);
    cJSON_AddStringToObject(meta, "scope", tensor ? "tensor" : "global");
    cJSON_AddStringToObject(meta, "method", j->method == TRAIN_SAID ? "said" : "did");
    cJSON_AddNumberToObject(meta, "n", (double)ft->n);
    cJSON_AddNumberToObject(meta, "n_tensor", (double)j->tab[j->t].n_elem);
    cJSON_AddNumberToObject(meta, "offset", tensor ? 0.0 : (double)j->tab[j->t].offset);
    cJSON_AddNumberToObject(meta, "LL", (double)ft->LL);
    cJSON_AddNumberToObject(meta, "d", (double)j->d);
    cJSON_AddNumberToObject(meta, "d_proj", (double)j->d_proj);
    cJSON_AddNumberToObject(meta, "n_tensors", (double)j->m);
    cJSON_AddNumberToObject(meta, "n_labels", (double)j->n_labels);
    char sbuf[32];
    snprintf(sbuf, sizeof sbuf, "%" PRIu64, (uint64_t)j->seed);
    cJSON_AddStringToObject(meta, "proj_seed", sbuf);
    snprintf(sbuf, sizeof sbuf, "%.17g", ft->scale);
    cJSON_AddRawToObject(meta, "scale", sbuf);
    snprintf(sbuf, sizeof sbuf, "%.9g", (double)j->lambda);
    cJSON_AddRawToObject(meta, "lambda", sbuf);
    cJSON_AddStringToObject(meta, "model_checksum", checksum);
    char *text = cJSON_Print(meta);
    cJSON_Delete(meta);
    if (!text)
        return NULL;
    size_t tl = strlen(text);
    char *t2 = realloc(text, tl + 2);
    if (t2) {
        text = t2;
        text[tl] = '\n', text[tl + 1] = 0;
    }
    return text;
}

/* --tables DIR: the folder (created), B.bin, Pi.bin, G.bin and meta.json. */
static enum idim_status proj_write_tables(const struct proj_job *j, struct fastfood *ff,
                                          const char *dir, const char *checksum,
                                          struct idim_err *err)
{
    struct fastfood_tables ft;
    fastfood_get_tables(ff, 0, &ft);
    if (ft.LL == 0)
        return idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory for the tables");
    struct stat sb;
    if (mkdir(dir, 0777) != 0 && (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create folder: %s", dir,
                         errno == EEXIST ? "a file of that name exists" : strerror(errno));
    char *text = proj_meta_json(j, &ft, checksum);
    if (!text)
        return idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory");
    enum idim_status st;
    if (!(st = write_le(dir, "B.bin", ft.B, ft.LL, 1, err)) &&
        !(st = write_le(dir, "Pi.bin", ft.Pi, ft.LL, 4, err)) &&
        !(st = write_le(dir, "G.bin", ft.G, ft.LL, 4, err)))
        st = write_text(dir, "meta.json", text, err);
    free(text);
    return st;
}

/* The update on stdout: one %.9g value a line, or one JSON object. */
static enum idim_status proj_print(const struct proj_job *j, const float *upd, int json,
                                   struct idim_err *err)
{
    size_t nt = j->tab[j->t].n_elem;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tensor", j->tname);
        cJSON_AddNumberToObject(o, "index", (double)j->t);
        cJSON_AddNumberToObject(o, "n", (double)nt);
        cJSON_AddNumberToObject(o, "d", (double)j->d);
        cJSON_AddNumberToObject(o, "d_proj", (double)j->d_proj);
        cJSON_AddStringToObject(o, "method", j->method == TRAIN_SAID ? "said" : "did");
        cJSON_AddStringToObject(o, "scope", j->scope == FF_SCOPE_TENSOR ? "tensor" : "global");
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%" PRIu64, (uint64_t)j->seed);
        cJSON_AddStringToObject(o, "proj_seed", sbuf);
        snprintf(sbuf, sizeof sbuf, "%.9g", (double)j->lambda);
        cJSON_AddRawToObject(o, "lambda", sbuf);
        cJSON *arr = cJSON_AddArrayToObject(o, "update");
        for (size_t i = 0; arr && i < nt; i++) {
            snprintf(sbuf, sizeof sbuf, "%.9g", (double)upd[i]);
            cJSON_AddItemToArray(arr, cJSON_CreateRaw(sbuf));
        }
        enum idim_status st = cli_print_json(o, 0, "project: out of memory", err);
        if (st)
            return st;
    } else {
        for (size_t i = 0; i < nt; i++)
            printf("%.9g\n", (double)upd[i]);
    }
    if (fflush(stdout) != 0)
        return idim_fail(err, IDIM_ERR_WRITE, "project: cannot write to stdout");
    return IDIM_OK;
}

enum idim_status cli_project(int argc, char **argv, struct idim_err *err)
{
    const char *model = NULL, *tname = NULL, *theta_path = NULL, *tables = NULL;
    const char *method_s = NULL, *scope_s = NULL;
    long d_opt = -1, n_labels = -1;
    int threads = 0, json = 0;
    struct seed_arg sa = {0, 0};
    struct cli_opt opts[] = {
        CLI_MODEL(&model, "idim model file (only its config and checksum are read)"),
        CLI_STR(0, "tensor", "NAME", &tname,
                "tensor name as listed by `idim info`, e.g.\n"
                "bert.encoder.layer.0.attention.self.query.weight", CLI_REQ),
        CLI_STR(0, "theta", "FILE", &theta_path,
                "a theta file written by `idim train --save-theta` (method, scope,\n"
                "d, proj-seed and labels are taken from it), or a text file with one\n"
                "float per line ('#' comments and blank lines ignored): DID d values;\n"
                "SAID d values (theta_{d-m} then the m lambdas) or d-m values (lambdas 1)",
                CLI_REQ | CLI_FILE),
        CLI_LONG(0, "d", "N", &d_opt, 1, 1L << 31,
                 "subspace dimension (required with a text theta; SAID counts the\n"
                 "m lambdas, so the projection has d - m columns)"),
        CLI_CHOICE(0, "method", "M", &method_s, "did,said", "did (default) or said"),
        CLI_CHOICE(0, "scope", "S", &scope_s, "tensor,global",
                   "tensor (default: one transform per tensor) or global"),
        CLI_FN(0, "proj-seed", "P", parse_seed, &sa,
               "projection seed (default: `idim train`'s default, 1234)", 0),
        CLI_LONG(0, "n-labels", "K", &n_labels, 1, 1 << 20,
                 "labels of the classification head (default: the theta file's,\n"
                 "else the model file's, else 2)"),
        CLI_STR(0, "tables", "DIR", &tables,
                "also write the tensor's transform tables to DIR (created):\n"
                "B.bin int8[LL], Pi.bin uint32[LL], G.bin float32[LL], little-endian,\n"
                "and meta.json (n, LL, d, scale, seed, tensor index, offset,\n"
                "generator); see docs/PROJECTION.md", CLI_DIR),
        CLI_FLAG(0, "json", &json,
                 "print one JSON object {tensor, index, n, d, ..., update: [...]}\n"
                 "instead of one value per line"),
        CLI_THREADS(&threads),
        CLI_END,
    };
    struct cli_cmd c = {
        "project",
        "Prints the projected update of one tensor for a given theta: DID P_t theta_d,\n"
        "SAID lambda_t P_t theta_{d-m} (the amount added to the frozen weights), one value\n"
        "per line as %.9g (exact for float32), in the tensor's row-major order. The tensor\n"
        "table is the model's (ARCH_TABLE_MODEL: encoder, pooler, head for K labels), so\n"
        "tensor index t and the tables keyed by (proj-seed, t) match `idim train`.\n",
        "  idim project --model tiny.idim --theta sst2.theta \\\n"
        "      --tensor bert.pooler.dense.bias --tables /tmp/ff\n"
        "  python3 scripts/check_projection.py --tables /tmp/ff --theta sst2.theta\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    threads = cli_threads_default(threads);
    if (threads > 64) /* the transform's pool */
        threads = 64;
    struct proj_job j;
    memset(&j, 0, sizeof j);
    j.model = model, j.tname = tname, j.theta_path = theta_path;
    j.method = !method_s ? 0 : !strcmp(method_s, "said") ? TRAIN_SAID : TRAIN_DID;
    j.scope = !scope_s ? 0 : !strcmp(scope_s, "global") ? FF_SCOPE_GLOBAL : FF_SCOPE_TENSOR;
    j.seed = sa.v, j.have_seed = sa.given;
    j.n_labels = n_labels;
    struct wfile w;
    memset(&w, 0, sizeof w);
    struct fastfood *ff = NULL;
    float *upd = NULL;
    if (!(st = proj_load_theta(&j, d_opt, err)) && !(st = wfile_open(&w, model, err)) &&
        !(st = proj_find_tensor(&j, &w, err)) && !(st = proj_split_theta(&j, err)) &&
        !(st = proj_compute(&j, threads, &ff, &upd, err)) &&
        !(tables && (st = proj_write_tables(&j, ff, tables, w.checksum_hex, err))))
        st = proj_print(&j, upd, json, err);
    free(upd);
    fastfood_free(ff);
    wfile_free(&w);
    proj_job_free(&j);
    return st;
}
