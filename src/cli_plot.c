/* cli_plot.c - `idim plot`: the SVG plot of dev metric against d (log axis,
 * 90% line) from rows saved by `idim sweep --out` (report.h CSV). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static const char *USAGE =
    "idim plot --in sweep.csv [--baseline V] [--threshold 0.9] [--d90 N] [--title T] -o plot.svg";

static void help(void)
{
    printf("usage: %s\n\n"
           "Draws the dev metric against the subspace dimension d (log axis with decade\n"
           "ticks), one point per d (the best row when several learning rates share a d),\n"
           "joined by a line; with a baseline, the baseline and the threshold x baseline\n"
           "line (the 90%% line), as in Li et al. 2018 / Aghajanyan et al. 2021, Figure 1.\n"
           "Hollow points: runs that diverged or predicted only the majority class.\n\n"
           "options:\n"
           "  --in FILE         rows written by `idim sweep --out` (CSV, header\n"
           "                    %s) (required)\n"
           "  -o, --out FILE    the SVG to write (required; written atomically)\n"
           "  --baseline V      baseline dev metric (default: none, then no 90%% line)\n"
           "  --threshold T     the line is drawn at T x baseline (default 0.9)\n"
           "  --d90 N           mark d90 with a vertical line (default: none)\n"
           "  --title TEXT      title above the plot (default: none)\n"
           "  -h, --help        this help\n\n"
           "example:\n"
           "  idim plot --in sweep.csv --baseline 0.84 -o sweep.svg\n",
           USAGE, REPORT_CSV_HEADER);
}

enum { PL_IN = 1200, PL_BASELINE, PL_THRESHOLD, PL_D90, PL_TITLE };

enum idim_status cli_plot(int argc, char **argv, struct idim_err *err)
{
    static const struct option opts[] = {
        {"in", required_argument, 0, PL_IN},
        {"out", required_argument, 0, 'o'},
        {"baseline", required_argument, 0, PL_BASELINE},
        {"threshold", required_argument, 0, PL_THRESHOLD},
        {"d90", required_argument, 0, PL_D90},
        {"title", required_argument, 0, PL_TITLE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *in = NULL, *out = NULL, *title = NULL;
    double baseline = NAN, threshold = 0.9;
    long d90 = 0;
    enum idim_status st;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return IDIM_OK;
        case PL_IN: in = optarg; break;
        case 'o': out = optarg; break;
        case PL_TITLE: title = optarg; break;
        case PL_BASELINE:
            if ((st = cli_parse_double("--baseline", optarg, -1e9, 1e9, &baseline, err)))
                return st;
            break;
        case PL_THRESHOLD:
            if ((st = cli_parse_double("--threshold", optarg, 1e-6, 10, &threshold, err)))
                return st;
            break;
        case PL_D90:
            if ((st = cli_parse_long("--d90", optarg, 1, 1L << 40, &d90, err)))
                return st;
            break;
        default: return cli_bad_option(err, "plot", USAGE, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(err, "plot", USAGE, "unexpected argument");
    if (!in || !out)
        return cli_usage_error(err, "plot", USAGE, "--in and -o are required");
    struct search_trial *rows = NULL;
    size_t n = 0;
    char metric[64];
    st = report_csv_read(in, &rows, &n, metric, sizeof metric, err);
    if (st)
        return st;
    struct report_plot p = {.pts = rows, .n = n, .metric_name = metric[0] ? metric : "metric",
                            .baseline = baseline, .threshold = threshold, .d90 = d90,
                            .title = title};
    char *svg = report_svg(&p);
    free(rows);
    if (!svg)
        return idim_fail(err, IDIM_ERR_FORMAT, "%s: no row with d > 0 and a finite metric to plot",
                         in);
    st = report_write_file(out, svg, strlen(svg), err);
    free(svg);
    return st;
}
