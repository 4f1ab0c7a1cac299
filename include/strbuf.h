/* strbuf.h - a growable byte buffer holding NUL-separated strings that are
 * referred to by offset (pointers would move when the buffer grows). Used
 * by the task loaders and the tokenizer-file reader. */
#ifndef IDIM_STRBUF_H
#define IDIM_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *p;    /* owned; free(p) releases it */
    size_t len; /* bytes used, NULs included */
    size_t cap; /* bytes allocated */
};

/* Appends s[0..n) and a NUL; *off receives the string's offset in b->p.
 * Returns 0, or -1 when out of memory (b is unchanged). */
int strbuf_add(struct strbuf *b, const char *s, size_t n, size_t *off);

#endif
