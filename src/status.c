/* status.c - error message formatting and the status -> exit code map. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

volatile int idim_interrupted = 0;

enum idim_status idim_fail(struct idim_err *err, enum idim_status st,
                           const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
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
    }
    return "unknown status";
}
