/* tokenizer.c - WordPiece (BERT) and byte-level BPE (RoBERTa / GPT-2).
 *
 * Stage: feeds the trainer. Input: struct tokdata (from the weights file or
 * tokdata_load_hf). Output: token ids identical to Hugging Face's fast
 * tokenizers (the `tokenizers` Rust crate), checked id for id against
 * reference ids in tests/test_tokenizer.c.
 *
 * WordPiece = BertNormalizer + BertPreTokenizer + WordPiece model:
 *   clean text (drop NUL, U+FFFD and control characters Cc/Cf/Co/Cs except
 *   \t \n \r; map White_Space to ' '), put CJK ideographs in their own
 *   word (BERT's _is_chinese_char ranges), strip accents (canonical
 *   decomposition, drop Mn), lower-case (Rust char::to_lowercase), split on
 *   white space and isolate punctuation (ASCII 33-47, 58-64, 91-96, 123-126
 *   and Unicode P*), then greedy longest-match-first with "##"
 *   continuations; a word of more than 100 characters, or one with no
 *   match, becomes a single [UNK].
 * Byte-level BPE = ByteLevel pre-tokenizer + BPE model: optional prefix
 *   space, GPT-2's pattern (PCRE2, UTF + UCP), each piece's bytes mapped
 *   through GPT-2's bytes_to_unicode table, merges applied lowest rank
 *   first (leftmost first on equal rank), a bounded cache of pieces.
 * Categories and decompositions come from utf8proc.
 *
 * Invalid UTF-8: the reference tokenizers take a decoded string, and a file
 * decoded with errors="replace" (Python) or TextDecoder (JavaScript) turns
 * each maximal invalid subsequence into one U+FFFD. We do the same before
 * anything else, so any byte string is accepted. BertNormalizer then drops
 * U+FFFD (clean_text); byte-level BPE encodes it as the bytes EF BF BD.
 *
 * Special tokens written in the text ("[SEP]", "<mask>") are matched first,
 * as the crate's added-token pass does (leftmost, longest; RoBERTa's <mask>
 * also takes the white space before it, lstrip), and the text between them
 * is tokenized piece by piece.
 *
 * Known differences from the Rust crate, all outside GLUE-like text:
 * canonical reordering of
 * several combining marks is skipped (only the non-Mn characters survive
 * stripping, in order); in the GPT-2 pattern \s is PCRE2's Unicode white
 * space, as Oniguruma's in the Rust crate (U+FEFF is not white space: the
 * JavaScript port, whose \s includes it, splits " \uFEFF" differently; one
 * QNLI dev row shows it); unassigned code points (Cn) are kept, as the
 * JavaScript port does, while the Rust crate drops them; character tables
 * are those of the installed utf8proc and PCRE2.
 *
 * Not thread-safe: a tokenizer owns scratch buffers and a cache; use one
 * per thread. */
#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WP_MAX_CHARS 100      /* max_input_chars_per_word */
#define CACHE_SLOTS (1u << 15) /* BPE cache: hash slots */
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_KEY 64       /* longest piece (bytes) that is cached */

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Growable array of T. */
#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *p;                                                                                      \
        size_t n, cap;                                                                             \
    }

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}
#define VEC_RESERVE(v, need) grow((void **)&(v).p, &(v).cap, (need), sizeof *(v).p)
#define VEC_PUSH(v, x) (VEC_RESERVE(v, (v).n + 1) ? -1 : ((v).p[(v).n++] = (x), 0))

struct ivec {
    int32_t *p;
    size_t n, cap;
};

struct pair_slot {
    uint64_t key; /* ((left+1) << 32) | right; 0 = empty */
    int32_t rank;
    int32_t id;   /* merged token */
};

struct cache_slot {
    uint64_t hash;
    uint32_t key_off, key_len; /* in cache_keys */
    uint32_t ids_off, n_ids;   /* in cache_ids */
    int used;
};

struct bpe_sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int alive;
};

struct heap_item {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
};

struct special {
    const char *s; /* borrowed from the vocabulary */
    uint32_t len;
    int32_t id;
    int lstrip; /* swallow white space before it (RoBERTa <mask>) */
};

struct tokenizer {
    const struct tokdata *td; /* borrowed */
    struct special specials[5];
    int n_specials;
    /* vocab hash: token bytes -> id (slots hold id + 1, 0 = empty) */
    uint32_t *vslots;
    size_t vmask;
    uint32_t max_tok_len; /* longest token in bytes */
    /* BPE */
    struct pair_slot *pairs;
    size_t pmask;
    int32_t byte_id[256];        /* id of each byte's unicode stand-in */
    pcre2_code *re;
    pcre2_match_data *md;
    struct cache_slot *cache;
    size_t cache_entries;
    VEC(char) cache_keys;
    struct ivec cache_ids;
    VEC(struct bpe_sym) syms;
    VEC(struct heap_item) heap;
    /* scratch */
    VEC(char) text;     /* sanitized UTF-8 */
    VEC(char) word;     /* current WordPiece word */
    struct ivec out;    /* ids of tokenizer_encode */
    struct ivec va, vb; /* pair halves */
};

/* ---- hashing ---- */

#define FNV_INIT 1469598103934665603ULL
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Id of prefix+s in the vocabulary, or -1. */
static int32_t vocab_find(const struct tokenizer *tk, const char *prefix, size_t plen,
                          const char *s, size_t n)
{
    uint64_t h = fnv(fnv(FNV_INIT, prefix, plen), s, n);
    size_t i = h & tk->vmask;
    const struct tok_str *v = tk->td->vocab;
    while (tk->vslots[i]) {
        uint32_t id = tk->vslots[i] - 1;
        if (v[id].len == plen + n && !memcmp(v[id].s, prefix, plen) &&
            !memcmp(v[id].s + plen, s, n))
            return (int32_t)id;
        i = (i + 1) & tk->vmask;
    }
    return -1;
}

static void vocab_insert(struct tokenizer *tk, uint32_t id)
{
    const struct tok_str *v = tk->td->vocab;
    uint64_t h = fnv(FNV_INIT, v[id].s, v[id].len);
    size_t i = h & tk->vmask;
    while (tk->vslots[i]) {
        uint32_t o = tk->vslots[i] - 1;
        if (v[o].len == v[id].len && !memcmp(v[o].s, v[id].s, v[id].len)) {
            tk->vslots[i] = id + 1; /* duplicate token: the later id wins, as in HF */
            return;
        }
        i = (i + 1) & tk->vmask;
    }
    tk->vslots[i] = id + 1;
}

static const struct pair_slot *pair_find(const struct tokenizer *tk, int32_t l, int32_t r)
{
    uint64_t key = ((uint64_t)(uint32_t)(l + 1) << 32) | (uint32_t)r;
    size_t i = mix64(key) & tk->pmask;
    while (tk->pairs[i].key) {
        if (tk->pairs[i].key == key)
            return &tk->pairs[i];
        i = (i + 1) & tk->pmask;
    }
    return NULL;
}

/* ---- UTF-8 ---- */

/* Decodes one code point at s[0..n) (n >= 1). Invalid input yields U+FFFD
 * and consumes the maximal subpart of an ill-formed sequence (at least one
 * byte), as the WHATWG decoder and Python's errors="replace" do. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *used)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *used = 1;
        return c;
    }
    size_t need;
    uint32_t cp;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        *used = 1;
        return 0xFFFD;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *used = i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *used = need + 1;
    return cp;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Copies text into tk->text as valid UTF-8 (invalid sequences -> U+FFFD),
 * after `prefix` (0 or 1 leading bytes). */
static int sanitize(struct tokenizer *tk, const char *text, size_t len, const char *prefix,
                    size_t plen)
{
    /* each invalid byte becomes at most 3 bytes */
    if (VEC_RESERVE(tk->text, plen + 3 * len + 1))
        return -1;
    char *o = tk->text.p;
    memcpy(o, prefix, plen);
    size_t k = plen;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            o[k++] = (char)s[i++];
            continue;
        }
        size_t used;
        uint32_t cp = utf8_next(s + i, len - i, &used);
        if (cp == 0xFFFD && !(used == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] == 0xBD))
            k += utf8_put(o + k, 0xFFFD);
        else {
            memcpy(o + k, s + i, used);
            k += used;
        }
        i += used;
    }
    o[k] = 0;
    tk->text.n = k;
    return 0;
}

/* ---- character classes (Hugging Face tokenizers, normalizers/bert.rs) ---- */

static int is_ws(uint32_t cp)
{
    if (cp == ' ' || (cp >= 9 && cp <= 13))
        return 1;
    if (cp < 0x80)
        return 0;
    if (cp == 0x85)
        return 1;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

static int is_control(uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return 0;
    if (cp < 0x20 || cp == 0x7F)
        return 1;
    if (cp < 0x80)
        return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CO ||
           c == UTF8PROC_CATEGORY_CS;
}

static int is_punct(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return 1;
    if (cp < 0x80)
        return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

static int is_chinese(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* ---- WordPiece ---- */

/* Greedy longest-match-first over tk->word; appends to out. */
static int wp_word(struct tokenizer *tk, size_t nchars, struct ivec *out)
{
    const char *w = tk->word.p;
    size_t n = tk->word.n;
    if (n == 0)
        return 0;
    if (nchars > WP_MAX_CHARS)
        return VEC_PUSH(*out, tk->td->unk_id);
    size_t first = out->n, start = 0;
    while (start < n) {
        size_t plen = start ? 2 : 0;
        size_t end = n;
        if (end - start + plen > tk->max_tok_len) {
            end = start + (tk->max_tok_len > plen ? tk->max_tok_len - plen : 0);
            while (end > start && end < n && ((unsigned char)w[end] & 0xC0) == 0x80)
                end--;
        }
        int32_t id = -1;
        while (end > start) {
            id = vocab_find(tk, "##", plen, w + start, end - start);
            if (id >= 0)
                break;
            do
                end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            out->n = first; /* the whole word becomes [UNK] */
            return VEC_PUSH(*out, tk->td->unk_id);
        }
        if (VEC_PUSH(*out, id))
            return -1;
        start = end;
    }
    return 0;
}

/* Appends one normalized character to the current word, splitting words on
 * white space and isolating punctuation. */
static int wp_char(struct tokenizer *tk, uint32_t cp, size_t *nchars, struct ivec *out)
{
    if (is_ws(cp)) {
        int r = wp_word(tk, *nchars, out);
        tk->word.n = 0;
        *nchars = 0;
        return r;
    }
    if (is_punct(cp)) {
        if (wp_word(tk, *nchars, out))
            return -1;
        tk->word.n = 0;
        tk->word.n = utf8_put(tk->word.p, cp);
        int r = wp_word(tk, 1, out);
        tk->word.n = 0;
        *nchars = 0;
        return r;
    }
    if (VEC_RESERVE(tk->word, tk->word.n + 4))
        return -1;
    tk->word.n += utf8_put(tk->word.p + tk->word.n, cp);
    (*nchars)++;
    return 0;
}

/* Lower-cases (Rust char::to_lowercase: simple mapping, and U+0130 ->
 * "i" U+0307, the one unconditional multi-character mapping) and feeds. */
static int wp_lower_feed(struct tokenizer *tk, uint32_t cp, size_t *nchars, struct ivec *out)
{
    if (tk->td->flags & TOK_F_LOWERCASE) {
        if (cp >= 'A' && cp <= 'Z')
            cp += 32;
        else if (cp == 0x130) {
            if (wp_char(tk, 'i', nchars, out))
                return -1;
            cp = 0x307;
        } else if (cp >= 0x80)
            cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    }
    return wp_char(tk, cp, nchars, out);
}

/* Strips accents (canonical decomposition, Mn dropped), then lower-cases. */
static int wp_strip_feed(struct tokenizer *tk, uint32_t cp, size_t *nchars, struct ivec *out)
{
    if (!(tk->td->flags & TOK_F_STRIP_ACCENTS) || cp < 0xC0)
        return wp_lower_feed(tk, cp, nchars, out);
    utf8proc_int32_t dec[32];
    int bound = 0;
    utf8proc_ssize_t nd =
        utf8proc_decompose_char((utf8proc_int32_t)cp, dec, 32, UTF8PROC_DECOMPOSE, &bound);
    if (nd < 0 || nd > 32) {
        dec[0] = (utf8proc_int32_t)cp;
        nd = 1;
    }
    for (utf8proc_ssize_t k = 0; k < nd; k++) {
        if (utf8proc_category(dec[k]) == UTF8PROC_CATEGORY_MN)
            continue;
        if (wp_lower_feed(tk, (uint32_t)dec[k], nchars, out))
            return -1;
    }
    return 0;
}

static int wp_encode(struct tokenizer *tk, const char *text, size_t len, struct ivec *out)
{
    uint32_t flags = tk->td->flags;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, nchars = 0;
    tk->word.n = 0;
    if (VEC_RESERVE(tk->word, 64))
        return -1;
    while (i < len) {
        size_t used = 1;
        uint32_t cp = s[i] < 0x80 ? s[i] : utf8_next(s + i, len - i, &used);
        i += used;
        if (flags & TOK_F_CLEAN_TEXT) {
            if (cp == 0 || cp == 0xFFFD || is_control(cp))
                continue;
            if (is_ws(cp))
                cp = ' ';
        }
        if ((flags & TOK_F_CHINESE) && is_chinese(cp)) {
            /* " X ": X is its own word */
            if (wp_char(tk, ' ', &nchars, out) || wp_strip_feed(tk, cp, &nchars, out) ||
                wp_char(tk, ' ', &nchars, out))
                return -1;
            continue;
        }
        if (wp_strip_feed(tk, cp, &nchars, out))
            return -1;
    }
    int r = wp_word(tk, nchars, out);
    tk->word.n = 0;
    return r;
}

/* ---- byte-level BPE ---- */

/* GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the
 * others map to U+0100 upwards in byte order. */
static uint32_t byte_to_unicode(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return b;
    unsigned n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
            n++;
    return 256 + n;
}

static void heap_push(struct heap_item *h, size_t *n, struct heap_item x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].rank < x.rank || (h[p].rank == x.rank && h[p].pos < x.pos))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static struct heap_item heap_pop(struct heap_item *h, size_t *n)
{
    struct heap_item top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n &&
            (h[c + 1].rank < h[c].rank || (h[c + 1].rank == h[c].rank && h[c + 1].pos < h[c].pos)))
            c++;
        if (x.rank < h[c].rank || (x.rank == h[c].rank && x.pos < h[c].pos))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

static void bpe_push_pair(struct tokenizer *tk, int32_t pos)
{
    struct bpe_sym *sy = tk->syms.p;
    int32_t nx = sy[pos].next;
    if (nx < 0)
        return;
    const struct pair_slot *ps = pair_find(tk, sy[pos].id, sy[nx].id);
    if (ps)
        heap_push(tk->heap.p, &tk->heap.n, (struct heap_item){ps->rank, pos, ps->id});
}

/* Encodes one pre-tokenized piece (raw bytes) and appends its ids. */
static int bpe_piece(struct tokenizer *tk, const char *piece, size_t n, struct ivec *out)
{
    uint64_t h = fnv(FNV_INIT, piece, n);
    size_t slot = 0;
    if (n <= CACHE_MAX_KEY) {
        slot = h & (CACHE_SLOTS - 1);
        while (tk->cache[slot].used) {
            struct cache_slot *c = &tk->cache[slot];
            if (c->hash == h && c->key_len == n && !memcmp(tk->cache_keys.p + c->key_off, piece, n)) {
                if (VEC_RESERVE(*out, out->n + c->n_ids))
                    return -1;
                memcpy(out->p + out->n, tk->cache_ids.p + c->ids_off, c->n_ids * sizeof(int32_t));
                out->n += c->n_ids;
                return 0;
            }
            slot = (slot + 1) & (CACHE_SLOTS - 1);
        }
    }
    if (VEC_RESERVE(tk->syms, n) || VEC_RESERVE(tk->heap, 3 * n + 1))
        return -1;
    struct bpe_sym *sy = tk->syms.p;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tk->byte_id[(unsigned char)piece[i]];
        sy[i] = (struct bpe_sym){id >= 0 ? id : tk->td->unk_id, (int32_t)i - 1,
                                 i + 1 < n ? (int32_t)i + 1 : -1, 1};
    }
    tk->heap.n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        bpe_push_pair(tk, (int32_t)i);
    while (tk->heap.n) {
        struct heap_item top = heap_pop(tk->heap.p, &tk->heap.n);
        struct bpe_sym *a = &sy[top.pos];
        if (!a->alive || a->next < 0)
            continue;
        struct bpe_sym *b = &sy[a->next];
        const struct pair_slot *ps = pair_find(tk, a->id, b->id);
        if (!ps || ps->id != top.new_id)
            continue; /* stale entry: a neighbour changed */
        a->id = top.new_id;
        b->alive = 0;
        a->next = b->next;
        if (b->next >= 0)
            sy[b->next].prev = top.pos;
        if (a->prev >= 0)
            bpe_push_pair(tk, a->prev);
        bpe_push_pair(tk, top.pos);
    }
    size_t first = out->n;
    for (int32_t i = 0; i >= 0; i = sy[i].next)
        if (VEC_PUSH(*out, sy[i].id))
            return -1;
    /* cache: bounded, insert-only (no eviction), so results never depend on history */
    if (n <= CACHE_MAX_KEY && tk->cache_entries < CACHE_MAX_ENTRIES) {
        size_t k = out->n - first;
        if (!VEC_RESERVE(tk->cache_keys, tk->cache_keys.n + n) &&
            !VEC_RESERVE(tk->cache_ids, tk->cache_ids.n + k)) {
            struct cache_slot *c = &tk->cache[slot];
            c->hash = h;
            c->key_off = (uint32_t)tk->cache_keys.n;
            c->key_len = (uint32_t)n;
            c->ids_off = (uint32_t)tk->cache_ids.n;
            c->n_ids = (uint32_t)k;
            c->used = 1;
            memcpy(tk->cache_keys.p + tk->cache_keys.n, piece, n);
            tk->cache_keys.n += n;
            memcpy(tk->cache_ids.p + tk->cache_ids.n, out->p + first, k * sizeof(int32_t));
            tk->cache_ids.n += k;
            tk->cache_entries++;
        }
    }
    return 0;
}

static int bpe_encode(struct tokenizer *tk, const char *text, size_t len, struct ivec *out)
{
    int prefix = (tk->td->flags & TOK_F_ADD_PREFIX_SPACE) && !(len > 0 && text[0] == ' ');
    if (sanitize(tk, text, len, " ", prefix ? 1 : 0))
        return -1;
    const char *s = tk->text.p;
    size_t n = tk->text.n, start = 0;
    while (start < n) {
        int rc = pcre2_match(tk->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, tk->md, NULL);
        if (rc < 0)
            break; /* cannot happen: every character matches an alternative */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tk->md);
        if (ov[1] <= ov[0]) {
            start = ov[1] + 1;
            continue;
        }
        if (bpe_piece(tk, s + ov[0], ov[1] - ov[0], out))
            return -1;
        start = ov[1];
    }
    return 0;
}

/* ---- public ---- */

static int encode_segment(struct tokenizer *tk, const char *text, size_t len, struct ivec *out)
{
    if (tk->td->kind == TOK_BPE)
        return bpe_encode(tk, text, len, out);
    return wp_encode(tk, text, len, out);
}

/* The longest special token starting at text[i], or NULL. */
static const struct special *special_at(const struct tokenizer *tk, const char *text,
                                        size_t len, size_t i)
{
    const struct special *best = NULL;
    for (int k = 0; k < tk->n_specials; k++) {
        const struct special *sp = &tk->specials[k];
        if (sp->len <= len - i && !memcmp(text + i, sp->s, sp->len) &&
            (!best || sp->len > best->len))
            best = sp;
    }
    return best;
}

static int encode_into(struct tokenizer *tk, const char *text, size_t len, struct ivec *out)
{
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '[' && text[i] != '<')
            continue; /* every special token starts with '[' or '<' (checked in _new) */
        const struct special *sp = special_at(tk, text, len, i);
        if (!sp)
            continue;
        size_t end = i;
        if (sp->lstrip)
            while (end > start && (text[end - 1] == ' ' || (text[end - 1] >= 9 && text[end - 1] <= 13)))
                end--;
        if (end > start && encode_segment(tk, text + start, end - start, out))
            return -1;
        if (VEC_PUSH(*out, sp->id))
            return -1;
        start = i + sp->len;
        i = start - 1;
    }
    if (start < len || start == 0)
        return encode_segment(tk, text + start, len - start, out);
    return 0;
}

enum idim_status tokenizer_new(struct tokenizer **out, const struct tokdata *td,
                               struct idim_err *err)
{
    *out = NULL;
    struct tokenizer *tk = calloc(1, sizeof *tk);
    if (!tk)
        return idim_fail(err, IDIM_ERR_NOMEM, "tokenizer: out of memory");
    tk->td = td;
    enum idim_status st = IDIM_OK;
    if (td->n_vocab == 0) { /* `idim init --vocab-size N` alone */
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "the model file holds no tokenizer (it was made by 'idim init "
                       "--vocab-size N' without --vocab): make it with 'idim init --vocab "
                       "vocab.txt ...', or 'idim convert --hf DIR' from a folder with tokenizer "
                       "files");
        goto fail;
    }
    if (td->unk_id < 0 || (uint32_t)td->unk_id >= td->n_vocab ||
        td->cls_id < 0 || (uint32_t)td->cls_id >= td->n_vocab || td->sep_id < 0 ||
        (uint32_t)td->sep_id >= td->n_vocab || td->pad_id < 0 ||
        (uint32_t)td->pad_id >= td->n_vocab) {
        st = idim_fail(err, IDIM_ERR_FORMAT,
                       "tokenizer: special token ids (unk %d, cls %d, sep %d, pad %d) must lie "
                       "in the vocabulary of %u tokens",
                       td->unk_id, td->cls_id, td->sep_id, td->pad_id, td->n_vocab);
        goto fail;
    }
    size_t vs = 1;
    while (vs < 2 * (size_t)td->n_vocab)
        vs *= 2;
    tk->vslots = calloc(vs, sizeof *tk->vslots);
    if (!tk->vslots)
        goto nomem;
    tk->vmask = vs - 1;
    for (uint32_t i = 0; i < td->n_vocab; i++) {
        vocab_insert(tk, i);
        if (td->vocab[i].len > tk->max_tok_len)
            tk->max_tok_len = td->vocab[i].len;
    }
    {
        int32_t sid[5] = {td->cls_id, td->sep_id, td->pad_id, td->unk_id, td->mask_id};
        for (int k = 0; k < 5; k++) {
            if (sid[k] < 0 || (uint32_t)sid[k] >= td->n_vocab)
                continue;
            const struct tok_str *t = &td->vocab[sid[k]];
            if (t->len == 0 || (t->s[0] != '[' && t->s[0] != '<'))
                continue; /* never matched in text (no such token in the usual vocabularies) */
            tk->specials[tk->n_specials++] =
                (struct special){t->s, t->len, sid[k], k == 4 && td->kind == TOK_BPE};
        }
    }
    if (td->kind == TOK_BPE) {
        for (unsigned b = 0; b < 256; b++) {
            char u[4];
            size_t ul = utf8_put(u, byte_to_unicode(b));
            tk->byte_id[b] = vocab_find(tk, "", 0, u, ul);
        }
        size_t ps = 1;
        while (ps < 2 * (size_t)td->n_merges + 2)
            ps *= 2;
        tk->pairs = calloc(ps, sizeof *tk->pairs);
        tk->cache = calloc(CACHE_SLOTS, sizeof *tk->cache);
        if (!tk->pairs || !tk->cache)
            goto nomem;
        tk->pmask = ps - 1;
        for (uint32_t r = 0; r < td->n_merges; r++) {
            const char *m = td->merges[r].s;
            uint32_t ml = td->merges[r].len;
            const char *sp = memchr(m, ' ', ml);
            if (!sp) {
                st = idim_fail(err, IDIM_ERR_FORMAT, "tokenizer: merge %u has no space", r + 1);
                goto fail;
            }
            size_t la = (size_t)(sp - m), lb = ml - la - 1;
            int32_t a = vocab_find(tk, "", 0, m, la);
            int32_t b = vocab_find(tk, "", 0, sp + 1, lb);
            int32_t c = vocab_find(tk, m, la, sp + 1, lb);
            if (a < 0 || b < 0 || c < 0) {
                st = idim_fail(err, IDIM_ERR_FORMAT,
                               "tokenizer: merge %u \"%.*s\" names a token missing from the "
                               "vocabulary",
                               r + 1, (int)(ml > 60 ? 60 : ml), m);
                goto fail;
            }
            uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)b;
            size_t i = mix64(key) & tk->pmask;
            while (tk->pairs[i].key && tk->pairs[i].key != key)
                i = (i + 1) & tk->pmask;
            if (tk->pairs[i].key == key)
                continue; /* a repeated merge keeps its first (lowest) rank */
            tk->pairs[i] = (struct pair_slot){key, (int32_t)r, c};
        }
        int ecode;
        PCRE2_SIZE eoff;
        tk->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP, &ecode, &eoff, NULL);
        if (!tk->re) {
            st = idim_fail(err, IDIM_ERR_INTERNAL, "tokenizer: PCRE2 rejected the GPT-2 pattern");
            goto fail;
        }
        pcre2_jit_compile(tk->re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
        tk->md = pcre2_match_data_create_from_pattern(tk->re, NULL);
        if (!tk->md)
            goto nomem;
    }
    *out = tk;
    return IDIM_OK;
nomem:
    st = idim_fail(err, IDIM_ERR_NOMEM, "tokenizer: out of memory");
fail:
    tokenizer_free(tk);
    return st;
}

void tokenizer_free(struct tokenizer *tk)
{
    if (!tk)
        return;
    free(tk->vslots);
    free(tk->pairs);
    free(tk->cache);
    free(tk->cache_keys.p);
    free(tk->cache_ids.p);
    free(tk->syms.p);
    free(tk->heap.p);
    if (tk->md)
        pcre2_match_data_free(tk->md);
    if (tk->re)
        pcre2_code_free(tk->re);
    free(tk->text.p);
    free(tk->word.p);
    free(tk->out.p);
    free(tk->va.p);
    free(tk->vb.p);
    free(tk);
}

long tokenizer_encode(struct tokenizer *tk, const char *text, size_t len, int32_t *ids,
                      size_t cap)
{
    if (encode_into(tk, text, len, &tk->out))
        return -1;
    size_t n = tk->out.n < cap ? tk->out.n : cap;
    if (n)
        memcpy(ids, tk->out.p, n * sizeof *ids);
    return (long)tk->out.n;
}

void tokenizer_truncate_lengths(size_t la, size_t lb, size_t m, size_t *na, size_t *nb)
{
    /* The tokenizers crate's LongestFirst (utils/truncation.rs): with
     * n1 <= n2 the shorter keeps its length if the longer still gets at
     * least as much; else both get m/2, the longer (the second on a tie)
     * taking the odd token. */
    if (la + lb <= m) {
        *na = la;
        *nb = lb;
        return;
    }
    size_t n1 = la, n2 = lb;
    int swap = 0;
    if (n1 > n2) {
        swap = 1;
        n1 = lb;
        n2 = la;
    }
    if (n1 > m)
        n2 = n1;
    else
        n2 = n1 > m - n1 ? n1 : m - n1;
    if (n1 + n2 > m) {
        n1 = m / 2;
        n2 = n1 + m % 2;
    }
    if (swap) {
        size_t t = n1;
        n1 = n2;
        n2 = t;
    }
    *na = n1;
    *nb = n2;
}

long tokenizer_encode_pair(struct tokenizer *tk, const char *a, const char *b, int max_len,
                           int32_t *ids, int32_t *type_ids)
{
    const struct tokdata *td = tk->td;
    int bert = td->kind != TOK_BPE;
    size_t n_special = b ? (bert ? 3 : 4) : 2;
    if (max_len < (int)n_special)
        return -1; /* callers check max_len >= 4 */
    if (encode_into(tk, a, strlen(a), &tk->va))
        return -1;
    size_t m = (size_t)max_len - n_special, na, nb = 0;
    if (b) {
        if (encode_into(tk, b, strlen(b), &tk->vb))
            return -1;
        tokenizer_truncate_lengths(tk->va.n, tk->vb.n, m, &na, &nb);
    } else {
        na = tk->va.n < m ? tk->va.n : m;
    }
    size_t k = 0;
    ids[k] = td->cls_id;
    type_ids[k++] = 0;
    for (size_t i = 0; i < na; i++) {
        ids[k] = tk->va.p[i];
        type_ids[k++] = 0;
    }
    ids[k] = td->sep_id;
    type_ids[k++] = 0;
    if (b) {
        int32_t t = bert ? 1 : 0;
        if (!bert) {
            ids[k] = td->sep_id;
            type_ids[k++] = 0;
        }
        for (size_t i = 0; i < nb; i++) {
            ids[k] = tk->vb.p[i];
            type_ids[k++] = t;
        }
        ids[k] = td->sep_id;
        type_ids[k++] = t;
    }
    return (long)k;
}
