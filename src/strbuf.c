/* strbuf.c - growable buffer of NUL-separated strings (see strbuf.h). */
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

int strbuf_add(struct strbuf *b, const char *s, size_t n, size_t *off)
{
    if (b->cap - b->len < n + 1) {
        size_t ncap = b->cap ? b->cap : 1 << 16;
        while (ncap - b->len < n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->p[b->len + n] = 0;
    *off = b->len;
    b->len += n + 1;
    return 0;
}
