/* tokdata.h - the tokenizer's data as the weights file stores it.
 *
 * Kept apart from tokenizer.h so that the weights-file stage (wfile) can
 * read and write it without depending on the tokenizer code. Strings are
 * UTF-8, not NUL-terminated inside the file; the in-memory view below
 * points into the mapping (reader) or into caller memory (writer). */
#ifndef IDIM_TOKDATA_H
#define IDIM_TOKDATA_H

#include <stdint.h>

#include "status.h"

enum tok_kind { TOK_WORDPIECE = 1, TOK_BPE = 2 /* byte-level BPE, GPT-2/RoBERTa */ };

#define TOK_F_LOWERCASE 1u     /* WordPiece: lower-case (BertNormalizer lowercase) */
#define TOK_F_STRIP_ACCENTS 2u /* WordPiece: NFD then drop Mn marks */
#define TOK_F_CHINESE 4u       /* WordPiece: split CJK ideographs out */
#define TOK_F_CLEAN_TEXT 8u    /* WordPiece: remove control chars, map whitespace */
#define TOK_F_ADD_PREFIX_SPACE 16u /* BPE: prepend a space to the text */

struct tok_str {
    const char *s; /* not NUL-terminated */
    uint32_t len;
};

struct tokdata {
    enum tok_kind kind;
    uint32_t flags;        /* TOK_F_* */
    int32_t unk_id;        /* [UNK] / <unk> */
    int32_t cls_id;        /* [CLS] / <s>: first token */
    int32_t sep_id;        /* [SEP] / </s>: separator and last token */
    int32_t pad_id;        /* [PAD] / <pad> */
    int32_t mask_id;       /* [MASK] / <mask>, -1 if none */
    uint32_t n_vocab;      /* tokens, id = index */
    struct tok_str *vocab; /* [n_vocab] */
    uint32_t n_merges;     /* BPE only, in rank order */
    struct tok_str *merges; /* [n_merges], each "left right" (one space), as merges.txt */
    char *owned;           /* storage owned by this struct (NULL when borrowed) */
    struct tok_str *owned_arrays; /* vocab and merges arrays, when owned */
};

/* Reads a tokenizer from Hugging Face files: `path` is a vocab.txt
 * (WordPiece), a vocab.json (BPE; merges.txt must sit beside it), a
 * tokenizer.json, or a folder holding any of these (tokenizer.json is
 * preferred). Flags come from tokenizer.json, else tokenizer_config.json,
 * else the defaults of the family (BERT uncased: lowercase + strip accents).
 * On success *td owns its memory (tokdata_free). Returns IDIM_OK, IDIM_ERR_IO
 * or IDIM_ERR_FORMAT with the file and field named. */
enum idim_status tokdata_load_hf(struct tokdata *td, const char *path, struct idim_err *err);

/* Frees owned memory; accepts a zeroed or half-built struct. */
void tokdata_free(struct tokdata *td);

#endif
