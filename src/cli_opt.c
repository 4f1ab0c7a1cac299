/* cli_opt.c - the one option parser, help printer, man page and completion
 * writer of the command line, all driven by a command's struct cli_opt
 * table (include/cli_opt.h). Parsing is getopt_long's; this file builds its
 * `struct option` array from the table, checks ranges, and words errors. */
#include <assert.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_opt.h"

int cli_docs_mode = CLI_DOCS_HELP;

#define CLI_MAX_OPTS 128
#define HELP_COL 26

enum idim_status cli_usage(struct idim_err *err, const char *cmd, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return idim_fail(err, IDIM_ERR_USAGE, "%s: %s (see 'idim %s --help')", cmd, what, cmd);
}

/* Levenshtein distance, capped: strings here are option and command names. */
static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63)
        return 99;
    int row[64];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *cli_suggest(const char *word, const char *const *cands, int n)
{
    const char *best = NULL;
    int best_d = 3;
    size_t wl = strlen(word);
    for (int i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        int d = edit_distance(word, cands[i]);
        if (wl >= 2 && !strncmp(cands[i], word, wl))
            d = 1; /* a prefix: likely meant */
        if (d < best_d)
            best_d = d, best = cands[i];
    }
    return best;
}

/* ---- the table, flattened ---- */

struct flat {
    const struct cli_opt *o[CLI_MAX_OPTS];
    int n;
};

static void flatten(const struct cli_opt *opts, struct flat *f)
{
    f->n = 0;
    for (const struct cli_opt *o = opts; o->kind != CLI_K_END; o++) {
        if (o->kind == CLI_K_GROUP)
            continue;
        assert(f->n < CLI_MAX_OPTS);
        f->o[f->n++] = o;
    }
}

/* "--name" or "-o/--name" */
static void opt_label(const struct cli_opt *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "--%s", o->long_name);
}

static void choices_words(const char *choices, char *buf, size_t cap)
{
    /* "a,b,c" -> "a, b or c" */
    size_t k = 0;
    const char *last = strrchr(choices, ',');
    for (const char *p = choices; *p && k + 5 < cap; p++) {
        if (*p == ',') {
            const char *sep = p == last ? " or " : ", ";
            size_t sl = strlen(sep);
            memcpy(buf + k, sep, sl);
            k += sl;
        } else {
            buf[k++] = *p;
        }
    }
    buf[k] = 0;
}

static int in_choices(const char *choices, const char *arg)
{
    size_t al = strlen(arg);
    for (const char *p = choices; *p;) {
        size_t l = strcspn(p, ",");
        if (l == al && !strncmp(p, arg, l))
            return 1;
        p += l;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Stores arg into o's target after its checks. */
static enum idim_status set_value(const struct cli_opt *o, const char *arg, struct idim_err *err)
{
    char name[80];
    opt_label(o, name, sizeof name);
    long v;
    switch (o->kind) {
    case CLI_K_FLAG: *(int *)o->target = 1; return IDIM_OK;
    case CLI_K_STR: *(const char **)o->target = arg; return IDIM_OK;
    case CLI_K_STRS: {
        struct cli_strs *s = o->target;
        if (s->n >= CLI_MAX_STRS)
            return idim_fail(err, IDIM_ERR_USAGE, "%s can be given at most %d times", name,
                             CLI_MAX_STRS);
        s->v[s->n++] = arg;
        return IDIM_OK;
    }
    case CLI_K_CHOICE:
        if (!in_choices(o->choices, arg)) {
            char w[200];
            choices_words(o->choices, w, sizeof w);
            return idim_fail(err, IDIM_ERR_USAGE, "%s takes %s, not '%s'", name, w, arg);
        }
        *(const char **)o->target = arg;
        return IDIM_OK;
    case CLI_K_LONG: return cli_parse_long(name, arg, (long)o->lo, (long)o->hi, o->target, err);
    case CLI_K_INT: {
        enum idim_status st = cli_parse_long(name, arg, (long)o->lo, (long)o->hi, &v, err);
        if (!st)
            *(int *)o->target = (int)v;
        return st;
    }
    case CLI_K_U64: return cli_parse_u64(name, arg, o->target, err);
    case CLI_K_DOUBLE: return cli_parse_double(name, arg, o->lo, o->hi, o->target, err);
    case CLI_K_LIST: {
        struct cli_list *l = o->target;
        enum idim_status st = cli_parse_list(name, arg, o->lo, o->hi, l->v, CLI_MAX_LIST, &l->n, err);
        if (!st)
            l->given = 1;
        return st;
    }
    case CLI_K_FN: return o->fn(o, arg, err);
    case CLI_K_END:
    case CLI_K_GROUP: break;
    }
    assert(0 && "option kind");
    return IDIM_ERR_INTERNAL;
}

/* The message of a failed set_value as a one-line usage error. */
static enum idim_status rewrap(struct idim_err *err, const char *cmd)
{
    char what[sizeof err->msg];
    snprintf(what, sizeof what, "%s", err->msg);
    return cli_usage(err, cmd, "%s", what);
}

static enum idim_status unknown_option(const struct cli_cmd *c, const struct flat *f,
                                       const char *arg, int short_opt, struct idim_err *err)
{
    if (short_opt)
        return cli_usage(err, c->name, "unknown option '-%c'", short_opt);
    char word[64];
    const char *w = arg;
    while (*w == '-')
        w++;
    snprintf(word, sizeof word, "%.*s", (int)strcspn(w, "="), w);
    const char *names[CLI_MAX_OPTS + 1];
    int n = 0, n_prefix = 0;
    for (int i = 0; i < f->n; i++) {
        if (f->o[i]->flags & CLI_HIDDEN)
            continue;
        names[n++] = f->o[i]->long_name;
        n_prefix += word[0] && !strncmp(f->o[i]->long_name, word, strlen(word));
    }
    names[n++] = "help";
    if (n_prefix > 1)
        return cli_usage(err, c->name, "ambiguous option '--%s' (%d options start so)", word,
                         n_prefix);
    const char *s = cli_suggest(word, names, n);
    if (s)
        return cli_usage(err, c->name, "unknown option '--%s'; did you mean '--%s'?", word, s);
    return cli_usage(err, c->name, "unknown option '--%s'", word);
}

static const struct cli_opt *by_val(const struct flat *f, int ch)
{
    if (ch >= 256 && ch - 256 < f->n)
        return f->o[ch - 256];
    for (int i = 0; i < f->n; i++)
        if (f->o[i]->short_name == ch)
            return f->o[i];
    return NULL;
}

static void docs_dump(const struct cli_cmd *c);

/* 1 when argv asks for help (before a "--"). */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    }
    return 0;
}

enum idim_status cli_parse(const struct cli_cmd *c, int argc, char **argv, int *first_operand,
                           struct idim_err *err)
{
    struct flat f;
    flatten(c->opts, &f);
    *first_operand = -1;
    if (wants_help(argc, argv)) {
        if (cli_docs_mode)
            docs_dump(c);
        else
            cli_help(c, stdout);
        return IDIM_OK;
    }
    struct option lo[CLI_MAX_OPTS + 2];
    char shorts[3 * CLI_MAX_OPTS + 4], *sp = shorts;
    int given[CLI_MAX_OPTS] = {0};
    *sp++ = ':';
    for (int i = 0; i < f.n; i++) {
        const struct cli_opt *o = f.o[i];
        lo[i] = (struct option){o->long_name, o->argname ? required_argument : no_argument, NULL,
                                256 + i};
        if (o->short_name) {
            *sp++ = (char)o->short_name;
            if (o->argname)
                *sp++ = ':';
        }
    }
    lo[f.n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[f.n + 1] = (struct option){0, 0, 0, 0};
    *sp++ = 'h';
    *sp = 0;
    optind = 0;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const char *arg = argv[optind - 1] ? argv[optind - 1] : "?";
        if (ch == ':') {
            const struct cli_opt *o = by_val(&f, optopt);
            if (!o)
                return cli_usage(err, c->name, "missing value for '%s'", arg);
            return cli_usage(err, c->name, "missing value for --%s %s", o->long_name, o->argname);
        }
        if (ch == '?') {
            const struct cli_opt *o = optopt >= 256 ? by_val(&f, optopt) : NULL;
            if (o)
                return cli_usage(err, c->name, "--%s takes no value", o->long_name);
            if (optopt == 'h')
                return cli_usage(err, c->name, "--help takes no value");
            int short_opt = optopt && !(arg[0] == '-' && arg[1] == '-') ? optopt : 0;
            return unknown_option(c, &f, arg, short_opt, err);
        }
        const struct cli_opt *o = by_val(&f, ch);
        assert(o);
        if (set_value(o, optarg, err) != IDIM_OK)
            return rewrap(err, c->name);
        for (int i = 0; i < f.n; i++)
            if (f.o[i] == o)
                given[i] = 1;
        if (o->seen)
            *o->seen = 1;
    }
    for (int i = 0; i < f.n; i++) {
        const struct cli_opt *o = f.o[i];
        if ((o->flags & CLI_REQ) && !given[i]) {
            if (o->short_name)
                return cli_usage(err, c->name, "-%c/--%s is required", o->short_name, o->long_name);
            return cli_usage(err, c->name, "--%s is required", o->long_name);
        }
    }
    int n_ops = argc - optind;
    if (!c->operands && n_ops > 0)
        return cli_usage(err, c->name, "unexpected argument '%s'", argv[optind]);
    if (c->operands && (n_ops < c->min_operands || n_ops > c->max_operands))
        return cli_usage(err, c->name, n_ops < c->min_operands ? "missing %s" : "too many arguments: give only %s",
                         c->operands);
    *first_operand = optind;
    return IDIM_OK;
}

/* ---- help ---- */

/* The default shown after the help text, from the target's value now. */
static int default_text(const struct cli_opt *o, char *buf, size_t cap)
{
    buf[0] = 0;
    if ((o->flags & (CLI_NODEF | CLI_REQ)) || !o->target || (o->help && strstr(o->help, "default")))
        return 0;
    switch (o->kind) {
    case CLI_K_STR:
    case CLI_K_CHOICE: {
        const char *s = *(const char *const *)o->target;
        if (!s)
            return 0;
        snprintf(buf, cap, "%s", s);
        break;
    }
    /* a value outside the range means "not set": no default to show */
    case CLI_K_LONG: {
        long v = *(const long *)o->target;
        if (v < o->lo || v > o->hi)
            return 0;
        snprintf(buf, cap, "%ld", v);
        break;
    }
    case CLI_K_INT: {
        int v = *(const int *)o->target;
        if (v < o->lo || v > o->hi)
            return 0;
        snprintf(buf, cap, "%d", v);
        break;
    }
    case CLI_K_U64: snprintf(buf, cap, "%llu", *(const unsigned long long *)o->target); break;
    case CLI_K_DOUBLE: {
        double v = *(const double *)o->target;
        if (!(v >= o->lo && v <= o->hi))
            return 0;
        snprintf(buf, cap, "%g", v);
        break;
    }
    case CLI_K_LIST: {
        const struct cli_list *l = o->target;
        size_t k = 0;
        for (int i = 0; i < l->n && k + 24 < cap; i++)
            k += (size_t)snprintf(buf + k, cap - k, "%s%g", i ? "," : "", l->v[i]);
        break;
    }
    default: return 0;
    }
    return buf[0] != 0;
}

static void opt_left(const struct cli_opt *o, char *buf, size_t cap)
{
    if (o->short_name)
        snprintf(buf, cap, "-%c, --%s%s%s", o->short_name, o->long_name, o->argname ? " " : "",
                 o->argname ? o->argname : "");
    else
        snprintf(buf, cap, "--%s%s%s", o->long_name, o->argname ? " " : "",
                 o->argname ? o->argname : "");
}

static void help_line(FILE *f, const char *left, const char *help, const char *def)
{
    int w = fprintf(f, "  %s", left);
    if (w >= HELP_COL - 1)
        fprintf(f, "\n%*s", HELP_COL, "");
    else
        fprintf(f, "%*s", HELP_COL - w, "");
    for (const char *p = help; *p; p++) {
        fputc(*p, f);
        if (*p == '\n')
            fprintf(f, "%*s", HELP_COL, "");
    }
    if (def)
        fprintf(f, " (default %s)", def);
    fputc('\n', f);
}

void cli_help(const struct cli_cmd *c, FILE *f)
{
    fprintf(f, "usage: idim %s", c->name);
    for (const struct cli_opt *o = c->opts; o->kind != CLI_K_END; o++)
        if ((o->flags & CLI_REQ) && !(o->flags & CLI_HIDDEN)) {
            if (o->short_name)
                fprintf(f, " -%c %s", o->short_name, o->argname);
            else
                fprintf(f, " --%s %s", o->long_name, o->argname ? o->argname : "");
        }
    fprintf(f, " [options]%s%s\n\n", c->operands ? " " : "", c->operands ? c->operands : "");
    fprintf(f, "%s\n", cli_command_summary(c->name));
    if (c->about)
        fprintf(f, "\n%s", c->about);
    fprintf(f, "\noptions:\n");
    for (const struct cli_opt *o = c->opts; o->kind != CLI_K_END; o++) {
        if (o->kind == CLI_K_GROUP) {
            fprintf(f, "\n%s:\n", o->help);
            continue;
        }
        if (o->flags & CLI_HIDDEN)
            continue;
        char left[96], def[160];
        opt_left(o, left, sizeof left);
        help_line(f, left, o->help, default_text(o, def, sizeof def) ? def : NULL);
    }
    help_line(f, "-h, --help", "this help", NULL);
    if (c->examples)
        fprintf(f, "\nexamples:\n%s", c->examples);
    fprintf(f, "\nexit codes: see 'idim --help'; `man idim` has every command.\n");
}

/* ---- docs: man page section, completion arm, option list ---- */

/* Text for roff: backslashes and hyphens escaped, no line starting with '.' or '\''. */
static void roff(FILE *f, const char *s)
{
    int bol = 1;
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
        bol = *s == '\n';
    }
}

static void docs_man(const struct cli_cmd *c)
{
    printf(".SS \"idim %s\"\n", c->name);
    roff(stdout, cli_command_summary(c->name));
    printf("\n");
    if (c->about) {
        printf(".PP\n");
        for (const char *p = c->about; *p;) { /* paragraphs: blank lines -> .PP */
            const char *e = strstr(p, "\n\n");
            size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
            char *para = strndup(p, len);
            if (para)
                roff(stdout, para);
            free(para);
            p += len;
            if (e) {
                printf(".PP\n");
                p++;
            }
        }
    }
    for (const struct cli_opt *o = c->opts; o->kind != CLI_K_END; o++) {
        if (o->kind == CLI_K_GROUP) {
            printf(".PP\n\\fI");
            roff(stdout, o->help);
            printf("\\fR:\n");
            continue;
        }
        if (o->flags & CLI_HIDDEN)
            continue;
        printf(".TP\n");
        if (o->short_name)
            printf("\\fB\\-%c\\fR, ", o->short_name);
        printf("\\fB");
        roff(stdout, "--");
        roff(stdout, o->long_name);
        printf("\\fR");
        if (o->argname) {
            printf(" \\fI");
            roff(stdout, o->argname);
            printf("\\fR");
        }
        printf("\n");
        char def[160];
        roff(stdout, o->help);
        if (default_text(o, def, sizeof def)) {
            printf(" (default ");
            roff(stdout, def);
            printf(")");
        }
        printf("\n");
    }
    printf(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nthis help\n");
    if (c->examples) {
        printf(".PP\nExamples:\n.PP\n.nf\n.RS 4\n");
        roff(stdout, c->examples);
        printf(".RE\n.fi\n");
    }
}

static void docs_bash(const struct cli_cmd *c)
{
    printf("    %s)\n        opts=\"", c->name);
    for (const struct cli_opt *o = c->opts; o->kind != CLI_K_END; o++)
        if (o->kind != CLI_K_GROUP && !(o->flags & CLI_HIDDEN)) {
            if (o->short_name)
                printf("-%c ", o->short_name);
            printf("--%s ", o->long_name);
        }
    printf("-h --help\"\n        case \"$prev\" in\n");
    for (const struct cli_opt *o = c->opts; o->kind != CLI_K_END; o++) {
        if (o->kind == CLI_K_GROUP || !o->argname || (o->flags & CLI_HIDDEN))
            continue;
        printf("        ");
        if (o->short_name)
            printf("-%c|", o->short_name);
        printf("--%s) ", o->long_name);
        if (o->flags & CLI_DIR)
            printf("_idim_compgen -d; return ;;\n");
        else if (o->flags & CLI_FILE)
            printf("_idim_compgen -f; return ;;\n");
        else if (o->choices) {
            printf("_idim_compgen -W \"");
            for (const char *p = o->choices; *p; p++)
                putchar(*p == ',' ? ' ' : *p);
            printf("\"; return ;;\n");
        } else
            printf("return ;;\n");
    }
    printf("        esac ;;\n");
}

static void docs_list(const struct cli_cmd *c)
{
    for (const struct cli_opt *o = c->opts; o->kind != CLI_K_END; o++)
        if (o->kind != CLI_K_GROUP && !(o->flags & CLI_HIDDEN))
            printf("%s\t--%s\t%s%c\t%s\n", c->name, o->long_name, o->short_name ? "-" : "",
                   o->short_name ? o->short_name : '.', o->argname ? o->argname : ".");
    printf("%s\t--help\t-h\t.\n", c->name);
}

static void docs_dump(const struct cli_cmd *c)
{
    switch (cli_docs_mode) {
    case CLI_DOCS_MAN: docs_man(c); break;
    case CLI_DOCS_BASH: docs_bash(c); break;
    case CLI_DOCS_LIST: docs_list(c); break;
    default: cli_help(c, stdout);
    }
}
