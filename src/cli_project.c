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

enum idim_status cli_project(int argc, char **argv, struct idim_err *err)
{
    const char *cmd = "project";
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
    if (threads < 1) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu < 1 ? 1 : (int)ncpu;
    }
    if (threads > 64) /* the transform's pool */
        threads = 64;
    int method = !method_s ? 0 : !strcmp(method_s, "said") ? TRAIN_SAID : TRAIN_DID;
    int scope = !scope_s ? 0 : !strcmp(scope_s, "global") ? FF_SCOPE_GLOBAL : FF_SCOPE_TENSOR;
    unsigned long long seed = sa.v;
    int have_seed = sa.given;

    /* theta: binary theta file or text */
    float *theta = NULL;
    size_t n_theta = 0, d = 0;
    struct theta_file tf;
    memset(&tf, 0, sizeof tf);
    int binary = is_binary_theta(theta_path);
    if (binary) {
        if ((st = theta_load(theta_path, &tf, err)))
            return st;
        const char *clash = NULL;
        if (d_opt >= 0 && (size_t)d_opt != tf.d)
            clash = "--d";
        else if (method && method != (int)tf.mode)
            clash = "--method";
        else if (scope && scope != (int)tf.scope)
            clash = "--scope";
        else if (have_seed && seed != tf.proj_seed)
            clash = "--proj-seed";
        else if (n_labels > 0 && n_labels != tf.n_labels)
            clash = "--n-labels";
        if (clash) {
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "project: %s contradicts the theta file %s (which records d %zu, "
                           "method %s, scope %s, proj-seed %" PRIu64 ", %d labels); omit it",
                           clash, theta_path, tf.d, train_mode_name(tf.mode),
                           tf.scope == FF_SCOPE_GLOBAL ? "global" : "tensor", tf.proj_seed,
                           tf.n_labels);
            theta_free(&tf);
            return st;
        }
        theta = tf.theta;
        n_theta = tf.d;
        d = tf.d;
        method = (int)tf.mode;
        scope = (int)tf.scope;
        seed = tf.proj_seed;
        if (n_labels < 0)
            n_labels = tf.n_labels;
    } else {
        if (d_opt < 0)
            return cli_usage(err, cmd, "%s",
                                   "--d is required with a text theta file");
        if ((st = read_text_theta(theta_path, &theta, &n_theta, err)))
            return st;
        d = (size_t)d_opt;
    }
    if (!have_seed && !binary) {
        struct train_opts o;
        train_opts_default(&o, TRAIN_DID);
        seed = o.proj_seed; /* the trainer's default, so both agree */
    }
    if (!method)
        method = TRAIN_DID;
    if (!scope)
        scope = FF_SCOPE_TENSOR;

    struct wfile w;
    memset(&w, 0, sizeof w);
    struct arch_tensor *tab = NULL;
    struct fastfood *ff = NULL;
    float *upd = NULL;
    size_t *nvec = NULL;
    cJSON *meta = NULL;
    char *text = NULL;
    if ((st = wfile_open(&w, model, err)))
        goto out;
    if (binary && strcmp(tf.model_checksum, w.checksum_hex) != 0 &&
        strcmp(tf.model_checksum, "random") != 0) {
        st = idim_fail(err, IDIM_ERR_USAGE,
                       "project: %s was trained on the model with checksum %s, but %s has "
                       "checksum %s",
                       theta_path, tf.model_checksum, model, w.checksum_hex);
        goto out;
    }
    if (n_labels < 0)
        n_labels = w.cfg.n_labels > 0 ? w.cfg.n_labels : 2;
    size_t m = arch_tensors(&w.cfg, ARCH_TABLE_MODEL, (int)n_labels, NULL, 0);
    tab = calloc(m, sizeof *tab);
    nvec = calloc(m, sizeof *nvec);
    if (!tab || !nvec) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory");
        goto out;
    }
    arch_tensors(&w.cfg, ARCH_TABLE_MODEL, (int)n_labels, tab, m);
    size_t t = m;
    for (size_t k = 0; k < m; k++) {
        nvec[k] = tab[k].n_elem;
        if (!strcmp(tab[k].name, tname))
            t = k;
    }
    if (t == m) {
        st = idim_fail(err, IDIM_ERR_USAGE,
                       "project: %s has no tensor '%s' in its model table (%zu tensors, e.g. "
                       "%s; see 'idim info %s')",
                       model, tname, m, tab[0].name, model);
        goto out;
    }
    size_t d_proj = d;
    float lambda = 1.0f;
    if (method == TRAIN_SAID) {
        if (d <= m) {
            st = idim_fail(err, IDIM_ERR_USAGE,
                           "project: --d %zu is too small for SAID: d counts the %zu lambdas "
                           "of this model, so it must exceed %zu",
                           d, m, m);
            goto out;
        }
        d_proj = d - m;
        if (n_theta == d)
            lambda = theta[d_proj + t];
        else if (n_theta != d_proj) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: holds %zu values; SAID with d = %zu on this model needs %zu "
                           "(theta then %zu lambdas) or %zu (lambdas 1)",
                           theta_path, n_theta, d, d, m, d_proj);
            goto out;
        }
    } else if (n_theta != d) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: holds %zu values, but d = %zu", theta_path,
                       n_theta, d);
        goto out;
    }

    size_t nt = tab[t].n_elem, kx = 0, off_in = 0;
    if (scope == FF_SCOPE_TENSOR) {
        st = fastfood_new_tensor(&ff, nt, t, d_proj, seed, (int)threads, err);
    } else {
        st = fastfood_new(&ff, nvec, m, d_proj, FF_SCOPE_GLOBAL, seed, 0, (int)threads, err);
        off_in = tab[t].offset;
    }
    if (st)
        goto out;
    upd = malloc(nt * sizeof *upd);
    if (!upd) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory for %zu values", nt);
        goto out;
    }
    fastfood_forward_tensor(ff, scope == FF_SCOPE_TENSOR ? 0 : t, theta, upd);
    if (method == TRAIN_SAID)
        for (size_t i = 0; i < nt; i++)
            upd[i] *= lambda;

    if (tables) {
        struct fastfood_tables ft;
        fastfood_get_tables(ff, kx, &ft);
        if (ft.LL == 0) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory for the tables");
            goto out;
        }
        struct stat sb;
        if (mkdir(tables, 0777) != 0 &&
            (errno != EEXIST || stat(tables, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            st = idim_fail(err, IDIM_ERR_WRITE, "%s: cannot create folder: %s", tables,
                           errno == EEXIST ? "a file of that name exists" : strerror(errno));
            goto out;
        }
        meta = cJSON_CreateObject();
        cJSON_AddStringToObject(meta, "generator",
                                "idim-fastfood-1: rng_init(rng_key(proj_seed, key)), xoshiro256**; "
                                "B: LL draws, -1 if top bit set; Pi: Fisher-Yates i=LL-1..1, "
                                "j=rng_below(i+1); G: LL draws (float)rng_normal");
        cJSON_AddStringToObject(meta, "formula",
                                "update = lambda * (H G Pi H B pad(x))[offset:offset+n_tensor] "
                                "* scale, (Pi z)_i = z[Pi[i]], H unnormalised Sylvester "
                                "Walsh-Hadamard, x = theta[0:d_proj]");
        cJSON_AddStringToObject(meta, "tensor", tname);
        cJSON_AddNumberToObject(meta, "tensor_index", (double)t);
        cJSON_AddNumberToObject(meta, "key", scope == FF_SCOPE_TENSOR ? (double)t : 0.0);
        cJSON_AddStringToObject(meta, "scope", scope == FF_SCOPE_TENSOR ? "tensor" : "global");
        cJSON_AddStringToObject(meta, "method", method == TRAIN_SAID ? "said" : "did");
        cJSON_AddNumberToObject(meta, "n", (double)ft.n);
        cJSON_AddNumberToObject(meta, "n_tensor", (double)nt);
        cJSON_AddNumberToObject(meta, "offset", (double)off_in);
        cJSON_AddNumberToObject(meta, "LL", (double)ft.LL);
        cJSON_AddNumberToObject(meta, "d", (double)d);
        cJSON_AddNumberToObject(meta, "d_proj", (double)d_proj);
        cJSON_AddNumberToObject(meta, "n_tensors", (double)m);
        cJSON_AddNumberToObject(meta, "n_labels", (double)n_labels);
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%" PRIu64, (uint64_t)seed);
        cJSON_AddStringToObject(meta, "proj_seed", sbuf);
        snprintf(sbuf, sizeof sbuf, "%.17g", ft.scale);
        cJSON_AddRawToObject(meta, "scale", sbuf);
        snprintf(sbuf, sizeof sbuf, "%.9g", (double)lambda);
        cJSON_AddRawToObject(meta, "lambda", sbuf);
        cJSON_AddStringToObject(meta, "model_checksum", w.checksum_hex);
        text = cJSON_Print(meta);
        if (!text) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory");
            goto out;
        }
        size_t tl = strlen(text);
        char *t2 = realloc(text, tl + 2);
        if (t2) {
            text = t2;
            text[tl] = '\n', text[tl + 1] = 0;
        }
        if ((st = write_le(tables, "B.bin", ft.B, ft.LL, 1, err)) ||
            (st = write_le(tables, "Pi.bin", ft.Pi, ft.LL, 4, err)) ||
            (st = write_le(tables, "G.bin", ft.G, ft.LL, 4, err)) ||
            (st = write_text(tables, "meta.json", text, err)))
            goto out;
    }

    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "tensor", tname);
        cJSON_AddNumberToObject(j, "index", (double)t);
        cJSON_AddNumberToObject(j, "n", (double)nt);
        cJSON_AddNumberToObject(j, "d", (double)d);
        cJSON_AddNumberToObject(j, "d_proj", (double)d_proj);
        cJSON_AddStringToObject(j, "method", method == TRAIN_SAID ? "said" : "did");
        cJSON_AddStringToObject(j, "scope", scope == FF_SCOPE_TENSOR ? "tensor" : "global");
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%" PRIu64, (uint64_t)seed);
        cJSON_AddStringToObject(j, "proj_seed", sbuf);
        snprintf(sbuf, sizeof sbuf, "%.9g", (double)lambda);
        cJSON_AddRawToObject(j, "lambda", sbuf);
        cJSON *arr = cJSON_AddArrayToObject(j, "update");
        for (size_t i = 0; arr && i < nt; i++) {
            snprintf(sbuf, sizeof sbuf, "%.9g", (double)upd[i]);
            cJSON_AddItemToArray(arr, cJSON_CreateRaw(sbuf));
        }
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!s) {
            st = idim_fail(err, IDIM_ERR_NOMEM, "project: out of memory");
            goto out;
        }
        printf("%s\n", s);
        free(s);
    } else {
        for (size_t i = 0; i < nt; i++)
            printf("%.9g\n", (double)upd[i]);
    }
    if (fflush(stdout) != 0)
        st = idim_fail(err, IDIM_ERR_WRITE, "project: cannot write to stdout");
out:
    free(text);
    cJSON_Delete(meta);
    free(upd);
    fastfood_free(ff);
    free(tab);
    free(nvec);
    wfile_free(&w);
    if (binary)
        theta_free(&tf);
    else
        free(theta);
    return st;
}
