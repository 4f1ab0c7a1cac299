/* cli_opt.h - one option table per command.
 *
 * Each `idim <command>` describes its options once, as an array of struct
 * cli_opt (kind, short and long name, argument name, help line, target,
 * range), and hands it to cli_parse() inside a struct cli_cmd. From that one
 * table come: the getopt_long `struct option` array and short-option string
 * (getopt_long stays the parser), the range checks and their messages, the
 * `--help` text (defaults are printed from the targets' initial values), the
 * man page section (docs/idim.1) and the bash completion
 * (scripts/idim.bash), so they cannot drift apart. Like git's
 * parse-options.h (OPT_STRING, OPT_GROUP, usage_with_options).
 *
 * Adding an option to a command:
 *     long epochs = 3;                      // the default, shown by --help
 *     struct cli_opt opts[] = {
 *         CLI_LONG(0, "epochs", "E", &epochs, 1, 100, "epochs"),
 *         CLI_TASK_OPTS(&task),             // a shared group, defined once
 *         CLI_END,
 *     };
 *     struct cli_cmd C = {"finetune", "about text",
 *                         "examples", opts};
 *     int pos;
 *     if ((st = cli_parse(&C, argc, argv, &pos, err)) || pos < 0)
 *         return st;                        // usage error, or --help shown
 * then run `make docs` (regenerates docs/idim.1 and scripts/idim.bash; a
 * test fails while they are stale). Shared groups (task, training, search,
 * output) are macros in this header; add an option there to give it to every
 * command that has the group. */
#ifndef IDIM_CLI_OPT_H
#define IDIM_CLI_OPT_H

#include <stdio.h>

#include "status.h"

enum cli_opt_kind {
    CLI_K_END = 0,
    CLI_K_GROUP,   /* heading in --help and the man page: help = title */
    CLI_K_FLAG,    /* int target = 1 */
    CLI_K_STR,     /* const char * target = the argument */
    CLI_K_STRS,    /* repeatable: struct cli_strs target */
    CLI_K_CHOICE,  /* const char * target, one of choices ("a,b,c") */
    CLI_K_LONG,    /* long target in lo..hi */
    CLI_K_INT,     /* int target in lo..hi */
    CLI_K_U64,     /* unsigned long long target */
    CLI_K_DOUBLE,  /* double target in lo..hi */
    CLI_K_LIST,    /* comma list of doubles in lo..hi: struct cli_list target */
    CLI_K_FN,      /* fn(o, arg, err) decides (arg NULL for a flag: argname NULL) */
};

/* flags */
#define CLI_REQ 1u       /* must be given: "--X is required" */
#define CLI_HIDDEN 2u    /* parsed, but in no help, man page or completion (old names) */
#define CLI_NODEF 4u     /* print no "(default ...)" after the help text */
#define CLI_FILE 8u      /* the argument is a file path (completion) */
#define CLI_DIR 16u      /* the argument is a folder (completion) */

#define CLI_MAX_STRS 16
#define CLI_MAX_LIST 32

struct cli_strs {
    const char *v[CLI_MAX_STRS];
    int n;
};

struct cli_list {
    double v[CLI_MAX_LIST];
    int n;
    int given; /* 1 once the option was given */
};

struct cli_opt;
typedef enum idim_status (*cli_opt_fn)(const struct cli_opt *o, const char *arg,
                                       struct idim_err *err);

struct cli_opt {
    enum cli_opt_kind kind;
    int short_name;        /* 'o', or 0 */
    const char *long_name; /* "out" */
    const char *argname;   /* "FILE"; NULL for flags */
    void *target;          /* borrowed; what kind says */
    double lo, hi;         /* numeric range, inclusive */
    const char *choices;   /* CLI_K_CHOICE: "a,b,c"; completion words for others */
    const char *help;      /* one line; '\n' starts an indented continuation */
    unsigned flags;
    cli_opt_fn fn;         /* CLI_K_FN */
    int *seen;             /* optional: set to 1 when the option is given */
};

#define CLI_END {CLI_K_END, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, 0, NULL, NULL}
#define CLI_GROUP(title) {CLI_K_GROUP, 0, NULL, NULL, NULL, 0, 0, NULL, title, 0, NULL, NULL}
#define CLI_FLAG(s, l, t, h) {CLI_K_FLAG, s, l, NULL, t, 0, 0, NULL, h, CLI_NODEF, NULL, NULL}
#define CLI_STR(s, l, a, t, h, fl) {CLI_K_STR, s, l, a, t, 0, 0, NULL, h, fl, NULL, NULL}
#define CLI_STRS(s, l, a, t, h, fl) {CLI_K_STRS, s, l, a, t, 0, 0, NULL, h, fl, NULL, NULL}
#define CLI_CHOICE(s, l, a, t, ch, h) {CLI_K_CHOICE, s, l, a, t, 0, 0, ch, h, 0, NULL, NULL}
#define CLI_LONG(s, l, a, t, lo, hi, h) {CLI_K_LONG, s, l, a, t, lo, hi, NULL, h, 0, NULL, NULL}
#define CLI_INT(s, l, a, t, lo, hi, h) {CLI_K_INT, s, l, a, t, lo, hi, NULL, h, 0, NULL, NULL}
#define CLI_U64(s, l, a, t, h) {CLI_K_U64, s, l, a, t, 0, 0, NULL, h, 0, NULL, NULL}
#define CLI_DOUBLE(s, l, a, t, lo, hi, h) {CLI_K_DOUBLE, s, l, a, t, lo, hi, NULL, h, 0, NULL, NULL}
#define CLI_LIST(s, l, a, t, lo, hi, h) {CLI_K_LIST, s, l, a, t, lo, hi, NULL, h, 0, NULL, NULL}
#define CLI_FN(s, l, a, f, t, h, fl) {CLI_K_FN, s, l, a, t, 0, 0, NULL, h, fl, f, NULL}
/* an old option name kept working but shown nowhere */
#define CLI_OLD_LONG(l, t, lo, hi) {CLI_K_LONG, 0, l, "N", t, lo, hi, NULL, "old name", CLI_HIDDEN, NULL, NULL}
#define CLI_OLD_STR(l, t) {CLI_K_STR, 0, l, "X", t, 0, 0, NULL, "old name", CLI_HIDDEN, NULL, NULL}
/* -o/--out FILE for every command that writes one file */
#define CLI_OUT(t, h, fl) CLI_STR('o', "out", "FILE", t, h, CLI_FILE | (fl))
/* --threads N (int target; 0 = all cores) */
#define CLI_THREADS(t)                                                                        \
    CLI_INT(0, "threads", "N", t, 1, 1024,                                                    \
            "threads (default: all cores); results are bit-identical for the\n"              \
            "same inputs, seeds and thread count")
/* the required input model */
#define CLI_MODEL(t, h) CLI_STR(0, "model", "FILE", t, h, CLI_FILE | CLI_REQ)

struct cli_cmd {
    const char *name;     /* "check" */
    const char *about;    /* paragraphs for --help and the man page; may be NULL */
    const char *examples; /* lines, each a full command; may be NULL */
    const struct cli_opt *opts; /* ends with CLI_END; -h/--help is implied */
    const char *operands; /* e.g. "MODEL" when positional arguments are taken; NULL = none */
    int min_operands, max_operands;
};

/* Parses argv (argv[0] is the command name) against c->opts with
 * getopt_long: sets each given option's target after its range check,
 * refuses unknown options (with a "did you mean" when one is close), a
 * missing value, a repeated single-valued option given twice is allowed
 * (last wins), a missing CLI_REQ option and a wrong operand count, each as a
 * one-line IDIM_ERR_USAGE pointing to `idim NAME --help`. On success
 * *first_operand is the argv index of the first operand; after -h/--help (help
 * printed to stdout) or a docs dump (see cli_docs_mode) it is -1 and the
 * status IDIM_OK: the caller returns. */
enum idim_status cli_parse(const struct cli_cmd *c, int argc, char **argv, int *first_operand,
                           struct idim_err *err);

/* The one-line summary of a command, from main.c's command list. */
const char *cli_command_summary(const char *name);

/* Prints c's help (usage, about, options by group with defaults, examples). */
void cli_help(const struct cli_cmd *c, FILE *f);

/* What `--help` prints instead of the help while main.c generates the docs:
 * CLI_DOCS_MAN (a man page section), CLI_DOCS_BASH (a `case` arm of the
 * completion function), CLI_DOCS_LIST (one line per option:
 * "cmd<TAB>--long<TAB>-s<TAB>ARG", for the tests). 0 = normal help. */
enum { CLI_DOCS_HELP = 0, CLI_DOCS_MAN, CLI_DOCS_BASH, CLI_DOCS_LIST };
extern int cli_docs_mode;

/* The candidate closest to word (edit distance at most 2, or a candidate
 * that word is a prefix of), or NULL. For "did you mean". */
const char *cli_suggest(const char *word, const char *const *cands, int n);

/* A one-line usage error: "NAME: WHAT (see 'idim NAME --help')". */
enum idim_status cli_usage(struct idim_err *err, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
