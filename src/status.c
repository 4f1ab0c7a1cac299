/* status.c - error message formatting and the status -> exit code map. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

volatile int idim_interrupted = 0;
const char *idim_share_dir = NULL;

/* Length of the valid UTF-8 sequence at s[0..n) that is not a C1 control
 * (U+0080..U+009F), or 0. Overlong forms, surrogates and values above
 * U+10FFFF are invalid (RFC 3629). */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
        return 0;
    return len;
}

size_t idim_escape(char *dst, size_t cap, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_ok(s + i, n - i);
        char esc[5];
        const char *put = (const char *)s + i;
        size_t m = k;
        if (k == 1 && (s[i] < 0x20 || s[i] == 0x7F)) {
            k = 0;
        }
        if (k == 0) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[s[i] >> 4];
            esc[3] = hex[s[i] & 15];
            put = esc;
            m = 4;
            k = 1;
        }
        if (o + m >= cap)
            break;
        for (size_t j = 0; j < m; j++)
            dst[o++] = put[j];
        i += k;
    }
    dst[o] = 0;
    return o;
}

const char *idim_esc(const char *s)
{
    static _Thread_local char buf[8][1024];
    static _Thread_local unsigned k;
    char *b = buf[k++ % 8];
    if (!s)
        s = "(null)";
    idim_escape(b, sizeof buf[0], s, strlen(s));
    return b;
}

enum idim_status idim_fail(struct idim_err *err, enum idim_status st,
                           const char *fmt, ...)
{
    if (err) {
        char raw[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        size_t len = n < 0 ? 0 : (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
        idim_escape(err->msg, sizeof err->msg, raw, len);
    }
    return st;
}

int idim_exit_code(enum idim_status st)
{
    switch (st) {
    case IDIM_OK: return IDIM_EXIT_OK;
    case IDIM_ERR_USAGE: return IDIM_EXIT_USAGE;
    case IDIM_ERR_IO:
    case IDIM_ERR_FORMAT: return IDIM_EXIT_INPUT;
    case IDIM_ERR_NOMEM:
    case IDIM_ERR_WRITE: return IDIM_EXIT_OUTPUT;
    case IDIM_ERR_NOT_REACHED: return IDIM_EXIT_NOT_REACHED;
    case IDIM_ERR_INTERRUPTED: return IDIM_EXIT_INTERRUPTED;
    case IDIM_ERR_DIVERGED: return IDIM_EXIT_INPUT;
    case IDIM_ERR_CHECK: return IDIM_EXIT_CHECK;
    case IDIM_ERR_INTERNAL:
    default: return IDIM_EXIT_INTERNAL;
    }
}

const char *idim_status_name(enum idim_status st)
{
    switch (st) {
    case IDIM_OK: return "ok";
    case IDIM_ERR_INTERNAL: return "internal error";
    case IDIM_ERR_USAGE: return "usage error";
    case IDIM_ERR_IO: return "input not readable";
    case IDIM_ERR_FORMAT: return "invalid input";
    case IDIM_ERR_NOMEM: return "out of memory";
    case IDIM_ERR_WRITE: return "output not writable";
    case IDIM_ERR_NOT_REACHED: return "target not reached";
    case IDIM_ERR_INTERRUPTED: return "interrupted";
    case IDIM_ERR_DIVERGED: return "diverged";
    case IDIM_ERR_CHECK: return "check failed";
    }
    return "unknown status";
}
