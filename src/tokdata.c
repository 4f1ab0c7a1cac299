/* tokdata.c - reads a tokenizer's data from Hugging Face files.
 *
 * Stage: feeds the weights-file writer (idim init / convert) and the tests.
 * Inputs: vocab.txt (WordPiece: one token per line, id = line index),
 * vocab.json + merges.txt (byte-level BPE; merges.txt starts with a
 * "#version" header line), tokenizer.json (model WordPiece or BPE), or a
 * folder holding these (tokenizer.json preferred).
 * Output: struct tokdata owning one string arena and one array block.
 *
 * Flags: tokenizer.json's normalizer (BertNormalizer: lowercase,
 * strip_accents, handle_chinese_chars, clean_text) and pre_tokenizer
 * (ByteLevel: add_prefix_space); for vocab.txt alone, tokenizer_config.json
 * beside it (do_lower_case, strip_accents, tokenize_chinese_chars), else the
 * BERT-uncased defaults. As in Hugging Face, strip_accents follows lowercase
 * when it is unset (null). */
#include "tokdata.h"
#include "fileio.h"
#include "strbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Table of strings by offset into a strbuf; len == UINT32_MAX means unset. */
struct stab {
    size_t *off;
    uint32_t *len;
    size_t n, cap;
};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Makes room for index i (entries added are unset). */
static int stab_reserve(struct stab *t, size_t n)
{
    if (n <= t->cap) {
        for (size_t i = t->n; i < n; i++)
            t->len[i] = UINT32_MAX;
        if (n > t->n)
            t->n = n;
        return 0;
    }
    size_t ncap = t->cap ? t->cap : 1024;
    while (ncap < n)
        ncap *= 2;
    size_t *no = realloc(t->off, ncap * sizeof *no);
    if (!no)
        return -1;
    t->off = no;
    uint32_t *nl = realloc(t->len, ncap * sizeof *nl);
    if (!nl)
        return -1;
    t->len = nl;
    t->cap = ncap;
    for (size_t i = t->n; i < n; i++)
        t->len[i] = UINT32_MAX;
    t->n = n;
    return 0;
}

static int stab_set(struct stab *t, struct strbuf *b, size_t i, const char *s, size_t n)
{
    if (n >= UINT32_MAX)
        return -1;
    if (i >= t->n && stab_reserve(t, i + 1))
        return -1;
    size_t off;
    if (strbuf_add(b, s, n, &off))
        return -1;
    t->off[i] = off;
    t->len[i] = (uint32_t)n;
    return 0;
}

static void stab_free(struct stab *t)
{
    free(t->off);
    free(t->len);
    memset(t, 0, sizeof *t);
}

/* The loader's working state. */
struct loader {
    struct strbuf buf;
    struct stab vocab, merges;
    enum tok_kind kind;
    uint32_t flags;
};

static void loader_free(struct loader *L)
{
    free(L->buf.p);
    stab_free(&L->vocab);
    stab_free(&L->merges);
}

/* Vocabulary from a JSON object {token: id}. */
static enum idim_status vocab_from_json(struct loader *L, const cJSON *obj, const char *path,
                                        const char *field, struct idim_err *err)
{
    if (!cJSON_IsObject(obj))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: %s is not a JSON object of token -> id",
                         path, field);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        double v = it->valuedouble;
        if (!cJSON_IsNumber(it) || v < 0 || v > 16777216.0 || v != (double)(long)v)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: %s: token \"%.40s\" has id that is not a whole number from 0 "
                             "to 16777216",
                             path, field, it->string ? it->string : "?");
        size_t id = (size_t)v;
        if (id < L->vocab.n && L->vocab.len[id] != UINT32_MAX)
            return idim_fail(err, IDIM_ERR_FORMAT, "%s: %s: id %zu is given to two tokens",
                             path, field, id);
        const char *s = it->string ? it->string : "";
        if (stab_set(&L->vocab, &L->buf, id, s, strlen(s)))
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    }
    return IDIM_OK;
}

/* added_tokens of tokenizer.json: tokens with ids past the model vocab. */
static enum idim_status vocab_add_added(struct loader *L, const cJSON *arr, const char *path,
                                        struct idim_err *err)
{
    if (!arr || cJSON_IsNull(arr))
        return IDIM_OK;
    if (!cJSON_IsArray(arr))
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: added_tokens is not an array", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content) || id->valuedouble < 0 ||
            id->valuedouble > 16777216.0)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: added_tokens: an entry lacks a valid id or content", path);
        size_t i = (size_t)id->valuedouble;
        if (i < L->vocab.n && L->vocab.len[i] != UINT32_MAX)
            continue; /* already in the model vocab (BERT, RoBERTa) */
        if (stab_set(&L->vocab, &L->buf, i, content->valuestring, strlen(content->valuestring)))
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    }
    return IDIM_OK;
}

static enum idim_status vocab_check_dense(const struct loader *L, const char *path,
                                          struct idim_err *err)
{
    if (L->vocab.n == 0)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: the vocabulary is empty", path);
    for (size_t i = 0; i < L->vocab.n; i++)
        if (L->vocab.len[i] == UINT32_MAX)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: no token has id %zu (ids must run from 0 to %zu without gaps)",
                             path, i, L->vocab.n - 1);
    return IDIM_OK;
}

static enum idim_status add_merge(struct loader *L, const char *s, size_t n, const char *path,
                                  const char *unit, size_t where, struct idim_err *err)
{
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "%s: %s %zu is not two tokens separated by one space: \"%.*s\"", path,
                         unit, where, (int)(n > 60 ? 60 : n), s);
    if (stab_set(&L->merges, &L->buf, L->merges.n, s, n))
        return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
    return IDIM_OK;
}

/* merges.txt: optional "#version" header, then "left right" per line. */
static enum idim_status load_merges_txt(struct loader *L, const char *path, struct idim_err *err)
{
    char *txt;
    size_t n;
    enum idim_status st = fileio_read_all(path, &txt, &n, err);
    if (st)
        return st;
    size_t line = 0;
    char *p = txt, *end = txt + n;
    while (p < end && st == IDIM_OK) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (!(line == 1 && len >= 8 && !memcmp(p, "#version", 8)) && len > 0)
            st = add_merge(L, p, len, path, "line", line, err);
        p = le + 1;
    }
    free(txt);
    if (st == IDIM_OK && L->merges.n == 0)
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: holds no merges", path);
    return st;
}

/* vocab.txt: one token per line, id = line index. */
static enum idim_status load_vocab_txt(struct loader *L, const char *path, struct idim_err *err)
{
    char *txt;
    size_t n;
    enum idim_status st = fileio_read_all(path, &txt, &n, err);
    if (st)
        return st;
    if (memchr(txt, 0, n)) {
        free(txt);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: holds NUL bytes: not a vocab.txt", path);
    }
    char *p = txt, *end = txt + n;
    size_t id = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (stab_set(&L->vocab, &L->buf, id++, p, len)) {
            free(txt);
            return idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
        }
        p = le + 1;
    }
    free(txt);
    L->kind = TOK_WORDPIECE;
    return vocab_check_dense(L, path, err);
}

static enum idim_status parse_json_file(const char *path, cJSON **out, struct idim_err *err)
{
    char *txt;
    size_t n;
    enum idim_status st = fileio_read_all(path, &txt, &n, err);
    if (st)
        return st;
    const char *eptr = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(txt, n, &eptr, 0);
    if (!j) {
        size_t at = eptr ? (size_t)(eptr - txt) : 0;
        free(txt);
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", path,
                         at);
    }
    free(txt);
    *out = j;
    return IDIM_OK;
}

/* Reads a JSON bool that may also be null / absent: returns 1, 0 or -1 (unset). */
static int json_tristate(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsTrue(v))
        return 1;
    if (cJSON_IsFalse(v))
        return 0;
    return -1;
}

static uint32_t bert_flags(int lower, int strip, int chinese, int clean)
{
    uint32_t f = 0;
    if (lower < 0)
        lower = 1;
    if (strip < 0)
        strip = lower; /* HF: strip_accents follows lowercase when unset */
    if (lower)
        f |= TOK_F_LOWERCASE;
    if (strip)
        f |= TOK_F_STRIP_ACCENTS;
    if (chinese != 0)
        f |= TOK_F_CHINESE;
    if (clean != 0)
        f |= TOK_F_CLEAN_TEXT;
    return f;
}

/* The folder part of path, with a trailing slash ("" when none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *s = strrchr(path, '/');
    size_t n = s ? (size_t)(s - path + 1) : 0;
    if (n >= cap)
        n = 0;
    memcpy(out, path, n);
    out[n] = 0;
}

/* tokenizer_config.json beside path (optional): fills tristates. */
static enum idim_status read_tok_config(const char *path, int *lower, int *strip, int *chinese,
                                        int *prefix, struct idim_err *err)
{
    char cfg[4096];
    dir_of(path, cfg, sizeof cfg - 32);
    strcat(cfg, "tokenizer_config.json");
    *lower = *strip = *chinese = *prefix = -1;
    if (!is_file(cfg))
        return IDIM_OK;
    cJSON *j;
    enum idim_status st = parse_json_file(cfg, &j, err);
    if (st)
        return st;
    *lower = json_tristate(j, "do_lower_case");
    *strip = json_tristate(j, "strip_accents");
    *chinese = json_tristate(j, "tokenize_chinese_chars");
    *prefix = json_tristate(j, "add_prefix_space");
    cJSON_Delete(j);
    return IDIM_OK;
}

static enum idim_status load_tokenizer_json(struct loader *L, const char *path,
                                            struct idim_err *err)
{
    cJSON *j;
    enum idim_status st = parse_json_file(path, &j, err);
    if (st)
        return st;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(j, "normalizer");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    const cJSON *ntype = cJSON_GetObjectItemCaseSensitive(norm, "type");
    const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(pre, "type");
    const char *mt = NULL;
    if (!cJSON_IsObject(model)) {
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: has no \"model\" object", path);
        goto done;
    }
    if (cJSON_IsString(type))
        mt = type->valuestring;
    else if (cJSON_GetObjectItemCaseSensitive(model, "merges"))
        mt = "BPE"; /* older files omit the type */
    else if (cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix"))
        mt = "WordPiece";
    if (!mt || (strcmp(mt, "WordPiece") && strcmp(mt, "BPE"))) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "%s: model type \"%s\" is not supported (expected WordPiece or BPE)", path,
                       mt ? mt : "(none)");
        goto done;
    }
    st = vocab_from_json(L, cJSON_GetObjectItemCaseSensitive(model, "vocab"), path,
                         "model.vocab", err);
    if (st)
        goto done;
    st = vocab_add_added(L, cJSON_GetObjectItemCaseSensitive(j, "added_tokens"), path, err);
    if (st)
        goto done;
    st = vocab_check_dense(L, path, err);
    if (st)
        goto done;
    if (!strcmp(mt, "WordPiece")) {
        L->kind = TOK_WORDPIECE;
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
        if (cJSON_IsString(prefix) && strcmp(prefix->valuestring, "##")) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: model.continuing_subword_prefix is \"%s\"; only \"##\" is "
                           "supported",
                           path, prefix->valuestring);
            goto done;
        }
        if (cJSON_IsNull(norm) || !norm) {
            L->flags = 0;
        } else if (cJSON_IsString(ntype) && !strcmp(ntype->valuestring, "BertNormalizer")) {
            L->flags = bert_flags(json_tristate(norm, "lowercase"),
                                  json_tristate(norm, "strip_accents"),
                                  json_tristate(norm, "handle_chinese_chars"),
                                  json_tristate(norm, "clean_text"));
        } else {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: normalizer type \"%s\" is not supported (expected "
                           "BertNormalizer)",
                           path, cJSON_IsString(ntype) ? ntype->valuestring : "?");
            goto done;
        }
        if (pre && !cJSON_IsNull(pre) &&
            !(cJSON_IsString(ptype) && !strcmp(ptype->valuestring, "BertPreTokenizer"))) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: pre_tokenizer type \"%s\" is not supported with WordPiece "
                           "(expected BertPreTokenizer)",
                           path, cJSON_IsString(ptype) ? ptype->valuestring : "?");
            goto done;
        }
    } else {
        L->kind = TOK_BPE;
        if (norm && !cJSON_IsNull(norm)) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: a BPE normalizer (\"%s\") is not supported (expected null)", path,
                           cJSON_IsString(ntype) ? ntype->valuestring : "?");
            goto done;
        }
        if (!(cJSON_IsString(ptype) && !strcmp(ptype->valuestring, "ByteLevel"))) {
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "%s: pre_tokenizer type \"%s\" is not supported with BPE (expected "
                           "ByteLevel)",
                           path, cJSON_IsString(ptype) ? ptype->valuestring : "?");
            goto done;
        }
        L->flags = json_tristate(pre, "add_prefix_space") == 1 ? TOK_F_ADD_PREFIX_SPACE : 0;
        const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
        if (!cJSON_IsArray(merges)) {
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: model.merges is not an array", path);
            goto done;
        }
        const cJSON *it;
        size_t k = 0;
        cJSON_ArrayForEach(it, merges)
        {
            k++;
            if (cJSON_IsString(it)) {
                st = add_merge(L, it->valuestring, strlen(it->valuestring), path, "model.merges entry", k, err);
            } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
                /* newer files: ["left", "right"] */
                const char *a = cJSON_GetArrayItem(it, 0)->valuestring;
                const char *b = cJSON_GetArrayItem(it, 1)->valuestring;
                size_t na = strlen(a), nb = strlen(b);
                char *tmp = malloc(na + nb + 2);
                if (!tmp) {
                    st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", path);
                    goto done;
                }
                memcpy(tmp, a, na);
                tmp[na] = ' ';
                memcpy(tmp + na + 1, b, nb);
                st = add_merge(L, tmp, na + nb + 1, path, "model.merges entry", k, err);
                free(tmp);
            } else {
                st = idim_fail(err, IDIM_ERR_FORMAT,
                               "%s: model.merges entry %zu is neither \"a b\" nor [\"a\", \"b\"]",
                               path, k);
            }
            if (st)
                goto done;
        }
        if (L->merges.n == 0)
            st = idim_fail(err, IDIM_ERR_FORMAT, "%s: model.merges is empty", path);
    }
done:
    cJSON_Delete(j);
    return st;
}

static enum idim_status load_vocab_json(struct loader *L, const char *path, struct idim_err *err)
{
    cJSON *j;
    enum idim_status st = parse_json_file(path, &j, err);
    if (st)
        return st;
    st = vocab_from_json(L, j, path, "the vocabulary", err);
    cJSON_Delete(j);
    if (st)
        return st;
    st = vocab_check_dense(L, path, err);
    if (st)
        return st;
    char mpath[4096];
    dir_of(path, mpath, sizeof mpath - 32);
    strcat(mpath, "merges.txt");
    if (!is_file(mpath))
        return idim_fail(err, IDIM_ERR_IO, "%s: a BPE vocab.json needs merges.txt beside it (%s)",
                         path, mpath);
    st = load_merges_txt(L, mpath, err);
    if (st)
        return st;
    L->kind = TOK_BPE;
    int lower, strip, chinese, prefix;
    st = read_tok_config(path, &lower, &strip, &chinese, &prefix, err);
    if (st)
        return st;
    L->flags = prefix == 1 ? TOK_F_ADD_PREFIX_SPACE : 0;
    return IDIM_OK;
}

/* Token id of the first name in `names` present in the vocab, else -1. */
static int32_t find_token(const struct loader *L, const char *const *names, int n)
{
    for (int k = 0; k < n; k++) {
        size_t ln = strlen(names[k]);
        for (size_t i = 0; i < L->vocab.n; i++)
            if (L->vocab.len[i] == ln && !memcmp(L->buf.p + L->vocab.off[i], names[k], ln))
                return (int32_t)i;
    }
    return -1;
}

static enum idim_status find_specials(struct tokdata *td, const struct loader *L,
                                      const char *path, struct idim_err *err)
{
    static const char *const bert[5] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
    static const char *const roberta[5] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};
    int32_t ids[5];
    const char *const *names = L->kind == TOK_BPE ? roberta : bert;
    const char *const *other = L->kind == TOK_BPE ? bert : roberta;
    for (int k = 0; k < 5; k++) {
        const char *cand[2] = {names[k], other[k]};
        ids[k] = find_token(L, cand, 2);
        if (ids[k] < 0 && k < 4)
            return idim_fail(err, IDIM_ERR_FORMAT,
                             "%s: the vocabulary lacks the special token %s (or %s)", path,
                             names[k], other[k]);
    }
    td->cls_id = ids[0];
    td->sep_id = ids[1];
    td->pad_id = ids[2];
    td->unk_id = ids[3];
    td->mask_id = ids[4];
    return IDIM_OK;
}

enum idim_status tokdata_load_hf(struct tokdata *td, const char *path, struct idim_err *err)
{
    memset(td, 0, sizeof *td);
    char file[4096];
    if (strlen(path) > sizeof file - 64)
        return idim_fail(err, IDIM_ERR_IO, "%.200s...: path too long", path);
    if (is_dir(path)) {
        static const char *const names[3] = {"tokenizer.json", "vocab.json", "vocab.txt"};
        int found = 0;
        for (int k = 0; k < 3 && !found; k++) {
            snprintf(file, sizeof file, "%s%s%s", path,
                     path[0] && path[strlen(path) - 1] == '/' ? "" : "/", names[k]);
            found = is_file(file);
        }
        if (!found)
            return idim_fail(err, IDIM_ERR_IO,
                             "%s: folder holds no tokenizer.json, vocab.json or vocab.txt", path);
    } else {
        snprintf(file, sizeof file, "%s", path);
        if (!is_file(file))
            return idim_fail(err, IDIM_ERR_IO, "%s: no such file or folder", path);
    }
    struct loader L;
    memset(&L, 0, sizeof L);
    enum idim_status st;
    const char *bn = base_name(file);
    if (ends_with(bn, "tokenizer.json")) {
        st = load_tokenizer_json(&L, file, err);
    } else if (ends_with(bn, ".json")) {
        st = load_vocab_json(&L, file, err);
    } else {
        st = load_vocab_txt(&L, file, err);
        if (st == IDIM_OK) {
            int lower, strip, chinese, prefix;
            st = read_tok_config(file, &lower, &strip, &chinese, &prefix, err);
            L.flags = bert_flags(lower, strip, chinese, 1);
        }
    }
    if (st == IDIM_OK)
        st = find_specials(td, &L, file, err);
    if (st == IDIM_OK && L.vocab.n > UINT32_MAX / 2)
        st = idim_fail(err, IDIM_ERR_FORMAT, "%s: vocabulary too large", file);
    if (st == IDIM_OK) {
        size_t n = L.vocab.n + L.merges.n;
        td->owned_arrays = malloc(n * sizeof *td->owned_arrays);
        if (!td->owned_arrays)
            st = idim_fail(err, IDIM_ERR_NOMEM, "%s: out of memory", file);
    }
    if (st) {
        loader_free(&L);
        tokdata_free(td);
        return st;
    }
    td->kind = L.kind;
    td->flags = L.flags;
    td->owned = L.buf.p;
    L.buf.p = NULL;
    td->n_vocab = (uint32_t)L.vocab.n;
    td->vocab = td->owned_arrays;
    td->n_merges = (uint32_t)L.merges.n;
    td->merges = td->n_merges ? td->owned_arrays + td->n_vocab : NULL;
    for (size_t i = 0; i < L.vocab.n; i++)
        td->vocab[i] = (struct tok_str){td->owned + L.vocab.off[i], L.vocab.len[i]};
    for (size_t i = 0; i < L.merges.n; i++)
        td->merges[i] = (struct tok_str){td->owned + L.merges.off[i], L.merges.len[i]};
    loader_free(&L);
    return IDIM_OK;
}

void tokdata_free(struct tokdata *td)
{
    if (!td)
        return;
    free(td->owned);
    free(td->owned_arrays);
    memset(td, 0, sizeof *td);
}
