/* tokenizer.h - WordPiece (BERT) and byte-level BPE (RoBERTa/GPT-2), with
 * their data read from the weights file (struct tokdata).
 *
 * Stage: feeds the trainer. Must produce exactly the ids of Hugging Face's
 * fast tokenizers (checked against reference ids in tests/). */
#ifndef IDIM_TOKENIZER_H
#define IDIM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tokdata.h"

struct tokenizer; /* opaque: vocab hash, merges ranks, BPE cache */

/* Builds a tokenizer over td (borrowed: td must outlive it). Returns IDIM_OK,
 * IDIM_ERR_NOMEM or IDIM_ERR_FORMAT (e.g. a merge naming unknown tokens). */
enum idim_status tokenizer_new(struct tokenizer **out, const struct tokdata *td,
                               struct idim_err *err);
void tokenizer_free(struct tokenizer *tk);

/* Tokenizes one text (no special tokens) into ids. Invalid UTF-8 is handled
 * as the reference tokenizers handle it, never a crash. Writes at most cap
 * ids and returns the total count (may exceed cap: call again larger), or
 * -1 on out of memory. */
long tokenizer_encode(struct tokenizer *tk, const char *text, size_t len, int32_t *ids,
                      size_t cap);

/* The pair lengths after "longest first" truncation of la + lb tokens to at
 * most m (special tokens excluded), exactly as the tokenizers crate's
 * TruncationStrategy::LongestFirst: the shorter keeps its length when the
 * longer still gets at least as much; else each gets m/2 and the longer
 * (the second on a tie) takes the odd token. */
void tokenizer_truncate_lengths(size_t la, size_t lb, size_t m, size_t *na, size_t *nb);

/* Encodes a sequence-classification input: BERT [CLS] a [SEP] b [SEP]
 * (type ids 0 then 1), RoBERTa <s> a </s></s> b </s> (all type 0); b may be
 * NULL for single sentences. Truncates "longest first" to max_len total
 * tokens, keeping the special tokens, as HF's fast tokenizers do.
 * a and b are NUL-terminated (any bytes: invalid UTF-8 is replaced).
 * ids and type_ids have room for max_len. Returns the length, or -1 on OOM
 * or when max_len is below the number of special tokens (2 single, 3 BERT
 * pair, 4 RoBERTa pair). */
long tokenizer_encode_pair(struct tokenizer *tk, const char *a, const char *b, int max_len,
                           int32_t *ids, int32_t *type_ids);

#endif
