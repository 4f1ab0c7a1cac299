/* cli_plot.c - `idim plot`: the SVG plot of dev metric against d (log axis,
 * baseline, 90% line, d90), one series per --in: measure reports, sweep CSV
 * (`idim sweep --out`) and JSON lines of `idim train` runs
 * (scripts/sweep-d.sh), mixed, overlaid as in the paper's Figure 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_opt.h"
#include "report.h"

enum idim_status cli_plot(int argc, char **argv, struct idim_err *err)
{
    struct cli_strs in = {{0}, 0}, labels = {{0}, 0};
    const char *out = NULL, *title = NULL;
    double baseline = NAN, threshold = 0.9;
    long d90 = 0;
    struct cli_opt opts[] = {
        CLI_STRS(0, "in", "FILE", &in,
                 "one series: a measure report (JSON), a sweep CSV (`idim sweep --out`)\n"
                 "or JSON lines of `idim train` or `idim sweep --json` runs\n"
                 "(scripts/sweep-d.sh); repeat to overlay up to 16", CLI_REQ | CLI_FILE),
        CLI_STRS(0, "label", "TEXT", &labels,
                 "legend text of the n-th --in (default: \"task method\" from the file,\n"
                 "else its name)", 0),
        CLI_OUT(&out, "the SVG to write", CLI_REQ),
        CLI_DOUBLE(0, "baseline", "V", &baseline, 1e-9, 1e9,
                   "baseline dev metric for series whose file has none (sweep-d.sh\n"
                   "lines, CSV from --no-baseline sweeps); default: none, no 90% line"),
        CLI_DOUBLE(0, "threshold", "T", &threshold, 1e-6, 10,
                   "the line at T x baseline, for series whose file has no threshold"),
        CLI_LONG(0, "d90", "N", &d90, 1, 1L << 40,
                 "mark d90 at N (one series only; default: the file's d90, else the\n"
                 "smallest d above the target)"),
        CLI_STR(0, "title", "TEXT", &title, "title above the plot", 0),
        CLI_END,
    };
    struct cli_cmd c = {
        "plot",
        "Draws the dev metric against the subspace dimension d (log axis with decade\n"
        "ticks), one point per d (the best run when several learning rates share a d),\n"
        "joined by a line; with a baseline, the baseline (dotted) and the threshold x\n"
        "baseline line (dashed), and d90 (vertical), as in Li et al. 2018 / Aghajanyan\n"
        "et al. 2021, Figure 1. Several --in overlay in colours with a legend, e.g. DID\n"
        "against SAID, or two models. Hollow points: runs below the target, diverged or\n"
        "predicting only the majority class.\n",
        "  idim plot --in said.json --in did.json --title 'MRPC: SAID vs DID' -o mrpc.svg\n"
        "  idim plot --in report.json --in sweep.csv --in sweep.jsonl --baseline 0.84 -o all.svg\n",
        opts, NULL, 0, 0};
    int pos;
    enum idim_status st;
    if ((st = cli_parse(&c, argc, argv, &pos, err)) || pos < 0)
        return st;
    if (labels.n > in.n)
        return cli_usage(err, "plot", "%d --label for %d --in", labels.n, in.n);
    if (d90 && in.n > 1)
        return cli_usage(err, "plot", "--d90 goes with one --in (each file holds its own d90)");
    struct report_series s[CLI_MAX_STRS];
    int n = 0;
    for (; n < in.n; n++) {
        if ((st = report_series_read(in.v[n], &s[n], err)))
            break;
        if (n < labels.n)
            snprintf(s[n].label, sizeof s[n].label, "%s", labels.v[n]);
        if (!isfinite(s[n].baseline))
            s[n].baseline = baseline;
        if (d90)
            s[n].d90 = d90;
    }
    if (st == IDIM_OK) {
        const char *metric = s[0].metric_name[0] ? s[0].metric_name : "metric";
        for (int i = 1; i < n; i++)
            if (s[i].metric_name[0] && strcmp(s[i].metric_name, metric))
                metric = "metric";
        struct report_plot p = {.series = s, .n_series = (size_t)n, .metric_name = metric,
                                .threshold = threshold, .title = title};
        char *svg = report_svg(&p);
        if (!svg)
            st = idim_fail(err, IDIM_ERR_FORMAT,
                           "plot: no run with d > 0 and a finite metric in %s%s", in.v[0],
                           in.n > 1 ? " or the other --in files" : "");
        else
            st = report_write_file(out, svg, strlen(svg), err);
        free(svg);
    }
    for (int i = 0; i < n; i++)
        report_series_free(&s[i]);
    return st;
}
