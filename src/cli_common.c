/* cli_common.c - helpers shared by the command-line layer. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum idim_status cli_usage_error(struct idim_err *err, const char *cmd, const char *usage,
                                 const char *what)
{
    return idim_fail(err, IDIM_ERR_USAGE, "%s: %s\nusage: %s\n(see 'idim %s --help')", cmd,
                     what, usage, cmd);
}

enum idim_status cli_bad_option(struct idim_err *err, const char *cmd, const char *usage,
                                char **argv)
{
    char what[256];
    const char *arg = argv[optind - 1] ? argv[optind - 1] : "?";
    if (optopt && !strchr(arg, '=') && arg[0] == '-' && arg[1] != '-')
        snprintf(what, sizeof what, "unknown option or missing value for '-%c'", optopt);
    else
        snprintf(what, sizeof what, "unknown option or missing value: '%s'", arg);
    return cli_usage_error(err, cmd, usage, what);
}

enum idim_status cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out,
                                struct idim_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a whole number from %ld to %ld, not '%s'",
                         opt, lo, hi, s);
    *out = v;
    return IDIM_OK;
}

enum idim_status cli_parse_u64(const char *opt, const char *s, unsigned long long *out,
                               struct idim_err *err)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a non-negative whole number, not '%s'",
                         opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a non-negative whole number, not '%s'",
                         opt, s);
    *out = v;
    return IDIM_OK;
}

enum idim_status cli_parse_double(const char *opt, const char *s, double lo, double hi,
                                  double *out, struct idim_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return idim_fail(err, IDIM_ERR_USAGE, "%s takes a number from %g to %g, not '%s'", opt,
                         lo, hi, s);
    *out = v;
    return IDIM_OK;
}

enum idim_status cli_parse_list(const char *opt, const char *s, double lo, double hi,
                                double *out, int cap, int *n, struct idim_err *err)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char buf[64];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof buf || *n >= cap)
            return idim_fail(err, IDIM_ERR_USAGE,
                             "%s takes a comma-separated list of at most %d numbers, not '%s'", opt,
                             cap, s);
        memcpy(buf, p, len);
        buf[len] = 0;
        enum idim_status st = cli_parse_double(opt, buf, lo, hi, &out[*n], err);
        if (st)
            return st;
        (*n)++;
        p += len;
        if (*p == ',')
            p++;
    }
    if (*n == 0)
        return idim_fail(err, IDIM_ERR_USAGE, "%s needs at least one value", opt);
    return IDIM_OK;
}

int cli_stderr_is_tty(void) { return isatty(2); }
