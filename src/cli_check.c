/* cli_check.c - `idim check`: guard a reported d90 in CI.
 *
 * Exit codes (README): 0 within tolerance; 6 (IDIM_ERR_CHECK) outside it, a
 * regression CI must tell from a crash (1) or bad input (3); 3 also when the
 * two reports describe different experiments (task, method, threshold or
 * model checksum differ), unless --ignore FIELD. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_opt.h"
#include "report.h"

/* the fields --ignore takes, in the order compared */
static const char *const FIELDS[] = {"task", "method", "threshold", "model"};
#define N_FIELDS 4

/* --tolerance: a fraction in [0, 1] ("0.25") or a percentage ("25%"); a bare
 * number above 1 is refused, since "25" meaning 2500% passes anything. */
static enum idim_status parse_tolerance(const struct cli_opt *o, const char *arg,
                                        struct idim_err *err)
{
    size_t n = strlen(arg);
    int pct = n > 1 && arg[n - 1] == '%';
    char buf[64];
    if (n >= sizeof buf)
        return idim_fail(err, IDIM_ERR_USAGE, "--tolerance: value too long");
    memcpy(buf, arg, n + 1);
    if (pct)
        buf[n - 1] = 0;
    double v;
    if (cli_parse_double("--tolerance", buf, 0, pct ? 100 : 1, &v, err))
        return idim_fail(err, IDIM_ERR_USAGE,
                         "--tolerance takes a fraction from 0 to 1 (0.25) or a percentage from "
                         "0%% to 100%% (25%%), not '%s'",
                         arg);
    *(double *)o->target = pct ? v / 100 : v;
    return IDIM_OK;
}

/* --ignore F[,F...]: sets bit i for FIELDS[i]. */
static enum idim_status parse_ignore(const struct cli_opt *o, const char *arg,
                                     struct idim_err *err)
{
    unsigned *mask = o->target;
    for (const char *p = arg; *p;) {
        size_t l = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < N_FIELDS; i++)
            if (strlen(FIELDS[i]) == l && !strncmp(p, FIELDS[i], l))
                found = i;
        if (found < 0)
            return idim_fail(err, IDIM_ERR_USAGE,
                             "--ignore takes task, method, threshold or model (comma-separated), "
                             "not '%.*s'",
                             (int)l, p);
        *mask |= 1u << found;
        p += l;
        if (*p == ',')
            p++;
    }
    return IDIM_OK;
}

/* Compares the experiment fields the expected file holds; on a difference
 * fills err and returns IDIM_ERR_FORMAT (exit 3). */
static enum idim_status same_experiment(const struct report_summary *want,
                                        const struct report_summary *got, unsigned ignore,
                                        const char *exp_path, const char *rep_path,
                                        struct idim_err *err)
{
    const char *w[N_FIELDS] = {want->task, want->method, NULL, want->checksum};
    const char *g[N_FIELDS] = {got->task, got->method, NULL, got->checksum};
    char wt[32], gt[32];
    snprintf(wt, sizeof wt, isnan(want->threshold) ? "" : "%g", want->threshold);
    snprintf(gt, sizeof gt, isnan(got->threshold) ? "(none)" : "%g", got->threshold);
    w[2] = wt, g[2] = gt;
    for (int i = 0; i < N_FIELDS; i++) {
        if ((ignore & (1u << i)) || !w[i][0] || !strcmp(w[i], g[i]))
            continue;
        return idim_fail(err, IDIM_ERR_FORMAT,
                         "check: %s is for %s %s but %s expects %s %s: not the same experiment "
                         "(add --ignore %s to compare anyway)",
                         rep_path, FIELDS[i], g[i][0] ? g[i] : "(none)", exp_path, FIELDS[i], w[i],
                         FIELDS[i]);
    }
    return IDIM_OK;
}

enum idim_status cli_check(int argc, char **argv, struct idim_err *err)
{
    const char *expected = NULL, *report = NULL;
    double tol = 0.25;
    unsigned ignore = 0;
    struct cli_opt opts[] = {
        CLI_STR(0, "expected", "FILE", &expected,
                "the expected result: a measure report, or a file holding {\"d90\": N}",
                CLI_REQ | CLI_FILE),
        CLI_STR(0, "report", "FILE", &report, "the report to check, from `idim measure --out`",
                CLI_REQ | CLI_FILE),
        CLI_FN(0, "tolerance", "R", parse_tolerance, &tol,
               "allowed relative difference: a fraction (0.25) or a percentage (25%);\n"
               "a bare number above 1 is refused (default 0.25)",
               0),
        CLI_FN(0, "ignore", "FIELD", parse_ignore, &ignore,
               "do not compare FIELD: task, method, threshold or model (checksum);\n"
               "repeat or comma-separate",
               CLI_NODEF),
        CLI_END,
    };
    opts[3].choices = "task,method,threshold,model";
    struct cli_cmd c = {
        "check",
        "Passes when |d90 - expected| / expected <= tolerance. A null d90 (\"not\n"
        "reached\") matches only another null. When the expected file is a measure\n"
        "report, its task, method, threshold and model checksum must match the\n"
        "report's too: a report of another experiment is refused (exit 3), even when\n"
        "its d90 happens to match.\n\n"
        "exit codes: 0 within tolerance (one 'ok' line on stdout); 6 outside it (one\n"
        "line on stderr: a regression); 3 a file is missing, not JSON, has no \"d90\",\n"
        "or the reports differ in task, method, threshold or model; 2 usage; 1 a bug.\n",
        "  idim check --expected ci/demo-d90.json --report report.json --tolerance 25%\n"
        "  idim check --expected old.json --report new.json --ignore model\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    struct report_summary want, got;
    if ((st = report_read_summary(expected, &want, err)) ||
        (st = report_read_summary(report, &got, err)))
        return st;
    if ((st = same_experiment(&want, &got, ignore, expected, report, err)))
        return st;
    if (report_check_d90(want.d90, got.d90, tol)) {
        if (isnan(want.d90))
            printf("ok: neither run reached the target (d90 null in both)\n");
        else
            printf("ok: d90 %g is within %g%% of the expected %g (%+.1f%%)\n", got.d90, tol * 100,
                   want.d90, (got.d90 - want.d90) / want.d90 * 100);
        return IDIM_OK;
    }
    if (isnan(want.d90) || isnan(got.d90)) {
        char w[32], g[32];
        snprintf(w, sizeof w, isnan(want.d90) ? "null (not reached)" : "%g", want.d90);
        snprintf(g, sizeof g, isnan(got.d90) ? "null (not reached)" : "%g", got.d90);
        return idim_fail(err, IDIM_ERR_CHECK, "check failed: %s d90 %s vs expected %s (%s)",
                         report, g, w, expected);
    }
    return idim_fail(err, IDIM_ERR_CHECK,
                     "check failed: %s d90 %g vs expected %g (%s): off by %+.1f%%, tolerance "
                     "%g%%",
                     report, got.d90, want.d90, expected, (got.d90 - want.d90) / want.d90 * 100,
                     tol * 100);
}
