/* cli_info.c - `idim info`: describe a model file.
 *
 * Opens the file with wfile_open (which verifies the checksum and every
 * field), then prints the architecture, parameter counts by group
 * (embeddings, each layer, pooler, head, other), the tokenizer summary,
 * every tensor with dtype and shape, file size, format version and
 * integrity status; --json prints the same as one JSON object (cJSON);
 * --dump NAME prints one tensor's values, one per line, as the f32 bit
 * pattern in hex and %.9g (which round-trips float32 exactly). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "cli.h"
#include "cli_opt.h"
#include "wfile.h"


/* The shortest decimal that reads back as the same float (1e-12f -> 1e-12). */
static double short_float(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return strtod(buf, NULL);
}

struct groups {
    size_t embed, pooler, head, mlm, other, total;
    size_t layer[ARCH_MAX_LAYERS];
};

/* Group of each file tensor by its name in the ARCH_TABLE_FILE table. */
static enum idim_status count_groups(const struct wfile *w, struct groups *g, int *tgroup,
                                     int *tlayer, struct idim_err *err)
{
    memset(g, 0, sizeof *g);
    size_t nt = arch_tensors(&w->cfg, ARCH_TABLE_FILE, w->cfg.n_labels, NULL, 0);
    struct arch_tensor *tab = calloc(nt, sizeof *tab);
    if (!tab)
        return idim_fail(err, IDIM_ERR_NOMEM, "info: out of memory");
    arch_tensors(&w->cfg, ARCH_TABLE_FILE, w->cfg.n_labels, tab, nt);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct wfile_tensor *t = &w->tensors[i];
        int grp = 0, layer = -1;
        for (size_t k = 0; k < nt; k++) {
            if (!strcmp(tab[k].name, t->name)) {
                grp = (int)tab[k].group;
                layer = tab[k].layer;
                break;
            }
        }
        tgroup[i] = grp;
        tlayer[i] = layer;
        g->total += t->n_elem;
        switch (grp) {
        case ARCH_G_EMBED: g->embed += t->n_elem; break;
        case ARCH_G_LAYER: g->layer[layer] += t->n_elem; break;
        case ARCH_G_POOLER: g->pooler += t->n_elem; break;
        case ARCH_G_HEAD: g->head += t->n_elem; break;
        case ARCH_G_MLM: g->mlm += t->n_elem; break;
        default: g->other += t->n_elem; break;
        }
    }
    free(tab);
    return IDIM_OK;
}

static const char *group_name(int g)
{
    switch (g) {
    case ARCH_G_EMBED: return "embeddings";
    case ARCH_G_LAYER: return "layer";
    case ARCH_G_POOLER: return "pooler";
    case ARCH_G_HEAD: return "head";
    case ARCH_G_MLM: return "mlm head";
    default: return "other";
    }
}

/* 109482240 -> "109,482,240" */
static const char *commas(size_t v, char *buf, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v);
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < cap; i++) {
        buf[k++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1)
            buf[k++] = ',';
    }
    buf[k] = 0;
    return buf;
}

static void flags_str(uint32_t f, char *buf, size_t cap)
{
    static const char *names[5] = {"lowercase", "strip_accents", "chinese_chars", "clean_text",
                                   "add_prefix_space"};
    buf[0] = 0;
    for (int i = 0; i < 5; i++) {
        if (f & (1u << i)) {
            size_t k = strlen(buf);
            snprintf(buf + k, cap - k, "%s%s", k ? " " : "", names[i]);
        }
    }
    if (!buf[0])
        snprintf(buf, cap, "none");
}

static const char *special_names[5] = {"unk", "cls", "sep", "pad", "mask"};

static int32_t special_id(const struct tokdata *t, int i)
{
    const int32_t v[5] = {t->unk_id, t->cls_id, t->sep_id, t->pad_id, t->mask_id};
    return v[i];
}

static void print_text(const struct wfile *w, const struct groups *g, const int *tgroup)
{
    const struct arch_config *c = &w->cfg;
    char b[64];
    printf("file:          %s (%s bytes)\n", idim_esc(w->path), commas(w->file_bytes, b, sizeof b));
    printf("format:        idim weights %u.%u\n", w->version_major, w->version_minor);
    printf("integrity:     checksum %s verified (XXH64)\n", w->checksum_hex);
    printf("architecture:  %s, %d layers, hidden %d, %d heads, ffn %d, activation gelu\n",
           arch_family_name(c->family), c->n_layers, c->hidden, c->n_heads, c->ffn);
    printf("               vocab %d, max positions %d, type vocab %d, pad id %d, "
           "layer-norm eps %g\n",
           c->vocab_size, c->max_pos, c->type_vocab, c->pad_id, (double)c->ln_eps);
    printf("               pooler %s, classification head %s", c->has_pooler ? "yes" : "no",
           c->n_labels ? "yes" : "no");
    if (c->n_labels)
        printf(" (%d %s)", c->n_labels, c->n_labels == 1 ? "output, regression" : "labels");
    printf(", MLM head %s\n", c->has_mlm_head ? "yes" : "no");
    if (c->pretrain_steps)
        printf("               pretrained by idim pretrain: %lld steps\n",
               (long long)c->pretrain_steps);
    if (wfile_has_tokenizer(w)) {
        const struct tokdata *t = &w->tok;
        char fl[128];
        flags_str(t->flags, fl, sizeof fl);
        printf("tokenizer:     %s, %u tokens, %u merges, flags: %s\n",
               t->kind == TOK_WORDPIECE ? "WordPiece" : "byte-level BPE", (unsigned)t->n_vocab,
               (unsigned)t->n_merges, fl);
        printf("               special:");
        for (int i = 0; i < 5; i++) {
            int32_t id = special_id(t, i);
            if (id < 0)
                printf(" %s=none", special_names[i]);
            else {
                char tok[128]; /* the vocabulary's bytes, escaped */
                idim_escape(tok, sizeof tok, t->vocab[id].s, t->vocab[id].len);
                printf(" %s=%d '%s'", special_names[i], id, tok);
            }
        }
        printf("\n");
    } else {
        printf("tokenizer:     none (made with --vocab-size; commands that tokenize refuse it)\n");
    }
    printf("parameters:    %s total\n", commas(g->total, b, sizeof b));
    printf("  embeddings   %14s\n", commas(g->embed, b, sizeof b));
    for (int l = 0; l < c->n_layers; l++) {
        char lab[32];
        snprintf(lab, sizeof lab, "layer %d", l);
        printf("  %-12s %14s\n", lab, commas(g->layer[l], b, sizeof b));
    }
    printf("  pooler       %14s\n", commas(g->pooler, b, sizeof b));
    printf("  head         %14s\n", commas(g->head, b, sizeof b));
    if (g->mlm)
        printf("  mlm head     %14s\n", commas(g->mlm, b, sizeof b));
    if (g->other)
        printf("  other        %14s\n", commas(g->other, b, sizeof b));
    printf("tensors:       %zu (all f32)\n", w->n_tensors);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct wfile_tensor *t = &w->tensors[i];
        char shp[96];
        size_t k = 0;
        k += (size_t)snprintf(shp + k, sizeof shp - k, "[");
        for (int d = 0; d < t->n_dims; d++)
            k += (size_t)snprintf(shp + k, sizeof shp - k, "%s%" PRId64, d ? ", " : "",
                                  t->shape[d]);
        snprintf(shp + k, sizeof shp - k, "]");
        printf("  %-60s f32 %-14s %s\n", idim_esc(t->name), shp, group_name(tgroup[i]));
    }
}

static enum idim_status print_json(const struct wfile *w, const struct groups *g, const int *tgroup,
                                   const int *tlayer, struct idim_err *err)
{
    const struct arch_config *c = &w->cfg;
    cJSON *o = cJSON_CreateObject();
    char ver[16];
    snprintf(ver, sizeof ver, "%u.%u", w->version_major, w->version_minor);
    cJSON_AddStringToObject(o, "path", w->path);
    cJSON_AddNumberToObject(o, "file_bytes", (double)w->file_bytes);
    cJSON_AddStringToObject(o, "format_version", ver);
    cJSON_AddStringToObject(o, "checksum", w->checksum_hex);
    cJSON_AddStringToObject(o, "checksum_algorithm", "xxh64");
    cJSON_AddStringToObject(o, "integrity", "verified");
    cJSON *a = cJSON_AddObjectToObject(o, "architecture");
    cJSON_AddStringToObject(a, "family", arch_family_name(c->family));
    cJSON_AddNumberToObject(a, "layers", c->n_layers);
    cJSON_AddNumberToObject(a, "hidden", c->hidden);
    cJSON_AddNumberToObject(a, "heads", c->n_heads);
    cJSON_AddNumberToObject(a, "ffn", c->ffn);
    cJSON_AddNumberToObject(a, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(a, "max_positions", c->max_pos);
    cJSON_AddNumberToObject(a, "type_vocab_size", c->type_vocab);
    cJSON_AddNumberToObject(a, "pad_id", c->pad_id);
    cJSON_AddNumberToObject(a, "layer_norm_eps", short_float(c->ln_eps));
    cJSON_AddStringToObject(a, "activation", "gelu");
    cJSON_AddBoolToObject(a, "pooler", c->has_pooler);
    cJSON_AddNumberToObject(a, "n_labels", c->n_labels);
    cJSON_AddBoolToObject(a, "mlm_head", c->has_mlm_head);
    cJSON_AddNumberToObject(a, "pretrain_steps", (double)c->pretrain_steps);
    if (wfile_has_tokenizer(w)) {
        const struct tokdata *t = &w->tok;
        cJSON *k = cJSON_AddObjectToObject(o, "tokenizer");
        cJSON_AddStringToObject(k, "kind", t->kind == TOK_WORDPIECE ? "wordpiece" : "bpe");
        cJSON *fl = cJSON_AddArrayToObject(k, "flags");
        static const char *names[5] = {"lowercase", "strip_accents", "chinese_chars",
                                       "clean_text", "add_prefix_space"};
        for (int i = 0; i < 5; i++)
            if (t->flags & (1u << i))
                cJSON_AddItemToArray(fl, cJSON_CreateString(names[i]));
        cJSON_AddNumberToObject(k, "vocab_size", t->n_vocab);
        cJSON_AddNumberToObject(k, "merges", t->n_merges);
        cJSON *sp = cJSON_AddObjectToObject(k, "special");
        for (int i = 0; i < 5; i++) {
            int32_t id = special_id(t, i);
            if (id < 0) {
                cJSON_AddNullToObject(sp, special_names[i]);
                continue;
            }
            cJSON *e = cJSON_AddObjectToObject(sp, special_names[i]);
            char *s = malloc(t->vocab[id].len + 1);
            if (s) {
                memcpy(s, t->vocab[id].s, t->vocab[id].len);
                s[t->vocab[id].len] = 0;
                cJSON_AddNumberToObject(e, "id", id);
                cJSON_AddStringToObject(e, "token", s);
                free(s);
            }
        }
    } else {
        cJSON_AddNullToObject(o, "tokenizer");
    }
    cJSON *p = cJSON_AddObjectToObject(o, "parameters");
    cJSON_AddNumberToObject(p, "total", (double)g->total);
    cJSON_AddNumberToObject(p, "embeddings", (double)g->embed);
    cJSON *ls = cJSON_AddArrayToObject(p, "layers");
    for (int l = 0; l < c->n_layers; l++)
        cJSON_AddItemToArray(ls, cJSON_CreateNumber((double)g->layer[l]));
    cJSON_AddNumberToObject(p, "pooler", (double)g->pooler);
    cJSON_AddNumberToObject(p, "head", (double)g->head);
    cJSON_AddNumberToObject(p, "mlm_head", (double)g->mlm);
    cJSON_AddNumberToObject(p, "other", (double)g->other);
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct wfile_tensor *t = &w->tensors[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t->name);
        cJSON_AddStringToObject(e, "dtype", "f32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddNumberToObject(e, "n_elem", (double)t->n_elem);
        cJSON_AddStringToObject(e, "group", group_name(tgroup[i]));
        if (tlayer[i] >= 0)
            cJSON_AddNumberToObject(e, "layer", tlayer[i]);
        cJSON_AddItemToArray(ts, e);
    }
    return cli_print_json(o, 1, "info: out of memory printing JSON", err);
}

enum idim_status cli_info(int argc, char **argv, struct idim_err *err)
{
    int json = 0;
    const char *dump = NULL;
    struct cli_opt opts[] = {
        CLI_FLAG(0, "json", &json, "print one JSON object instead of text"),
        CLI_STR(0, "dump", "TENSOR", &dump,
                "print the values of one tensor (by name), one per line:\n"
                "index, f32 bits in hex, value as %.9g (exact for float32)", 0),
        CLI_END,
    };
    struct cli_cmd c = {
        "info",
        "Describes an idim model file after verifying its checksum and every header\n"
        "field: architecture, parameter counts (embeddings, each layer, pooler, head),\n"
        "tokenizer, every tensor with dtype and shape, file size, format version,\n"
        "integrity status.\n",
        "  idim info base.idim\n"
        "  idim info base.idim --json | jq .parameters.total\n"
        "  idim info base.idim --dump bert.embeddings.LayerNorm.weight | head\n",
        opts, "MODEL", 1, 1};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    if (json && dump)
        return cli_usage(err, "info", "--json and --dump do not combine");
    struct wfile w;
    st = wfile_open(&w, argv[pos], err);
    if (st)
        return st;
    int *tgroup = calloc(w.n_tensors, sizeof *tgroup), *tlayer = calloc(w.n_tensors, sizeof *tlayer);
    struct groups *g = malloc(sizeof *g);
    if (!tgroup || !tlayer || !g) {
        st = idim_fail(err, IDIM_ERR_NOMEM, "info: out of memory");
        goto done;
    }
    if (dump) {
        const struct wfile_tensor *t = wfile_find(&w, dump);
        if (!t) {
            st = idim_fail(err, IDIM_ERR_USAGE, "info: %s holds no tensor named '%s' (see 'idim info %s')",
                           w.path, dump, w.path);
            goto done;
        }
        for (size_t i = 0; i < t->n_elem; i++) {
            uint32_t bits;
            memcpy(&bits, &t->data[i], 4);
            printf("%zu 0x%08" PRIx32 " %.9g\n", i, bits, (double)t->data[i]);
        }
        goto done;
    }
    if ((st = count_groups(&w, g, tgroup, tlayer, err)))
        goto done;
    if (json)
        st = print_json(&w, g, tgroup, tlayer, err);
    else
        print_text(&w, g, tgroup);
done:
    free(tgroup);
    free(tlayer);
    free(g);
    wfile_free(&w);
    return st;
}
