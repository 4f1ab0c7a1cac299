/* cli_check.c - `idim check`: guard a reported d90 in CI. Exit 0 when
 * |d90 - expected| / expected <= tolerance; otherwise exit 1 with a
 * one-line diff ("check failed" is exit 1 on purpose: distinct from usage
 * errors (2) and unreadable input (3)). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static const char *USAGE =
    "idim check --expected expected.json --report report.json [--tolerance 0.25]";

static void help(void)
{
    printf("usage: %s\n\n"
           "Compares the d90 of a measure report with an expected value, for CI jobs that\n"
           "guard a published figure. Passes when |d90 - expected| / expected <= tolerance.\n"
           "expected.json is a measure report itself or a file holding {\"d90\": N}.\n"
           "A null d90 (\"not reached\") matches only another null d90.\n\n"
           "options:\n"
           "  --expected FILE   the expected d90 (required)\n"
           "  --report FILE     the report to check, from `idim measure --out` (required)\n"
           "  --tolerance R     allowed relative difference (default 0.25)\n"
           "  -h, --help        this help\n\n"
           "exit codes: 0 within tolerance (prints one 'ok' line); 1 check failed (one-line\n"
           "diff on stderr); 2 usage; 3 a file is missing, not JSON, or has no \"d90\".\n\n"
           "example:\n"
           "  idim check --expected ci/mrpc-d90.json --report report.json --tolerance 0.25\n",
           USAGE);
}

enum { CK_EXPECTED = 1300, CK_REPORT, CK_TOLERANCE };

enum idim_status cli_check(int argc, char **argv, struct idim_err *err)
{
    static const struct option opts[] = {
        {"expected", required_argument, 0, CK_EXPECTED},
        {"report", required_argument, 0, CK_REPORT},
        {"tolerance", required_argument, 0, CK_TOLERANCE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *expected = NULL, *report = NULL;
    double tol = 0.25;
    enum idim_status st;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return IDIM_OK;
        case CK_EXPECTED: expected = optarg; break;
        case CK_REPORT: report = optarg; break;
        case CK_TOLERANCE:
            if ((st = cli_parse_double("--tolerance", optarg, 0, 1e6, &tol, err)))
                return st;
            break;
        default: return cli_bad_option(err, "check", USAGE, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, "check", USAGE, "unexpected argument");
    if (!expected || !report)
        return cli_usage_error(err, "check", USAGE, "--expected and --report are required");
    double want = 0, got = 0;
    if ((st = report_read_d90(expected, &want, err)))
        return st;
    if ((st = report_read_d90(report, &got, err)))
        return st;
    if (isnan(want) || isnan(got)) {
        if (report_check_d90(want, got, tol)) {
            printf("ok: neither run reached the target (d90 null in both)\n");
            return IDIM_OK;
        }
        char w[32], g[32];
        snprintf(w, sizeof w, isnan(want) ? "null (not reached)" : "%g", want);
        snprintf(g, sizeof g, isnan(got) ? "null (not reached)" : "%g", got);
        return idim_fail(err, IDIM_ERR_INTERNAL, "check failed: %s d90 %s vs expected %s (%s)",
                         report, g, w, expected);
    }
    if (report_check_d90(want, got, tol)) {
        printf("ok: d90 %g is within %g%% of the expected %g (%+.1f%%)\n", got, tol * 100, want,
               (got - want) / want * 100);
        return IDIM_OK;
    }
    /* Exit 1 = "check failed" (IDIM_ERR_INTERNAL maps to exit 1). */
    return idim_fail(err, IDIM_ERR_INTERNAL,
                     "check failed: %s d90 %g vs expected %g (%s): off by %+.1f%%, tolerance "
                     "%g%%",
                     report, got, want, expected, (got - want) / want * 100, tol * 100);
}
