/* main.c - `idim <command> [options]`: dispatch, signals, exit codes.
 *
 * The only place that prints errors or exits. Each command parses its own
 * options from its table (include/cli_opt.h) in src/cli_<command>.c and
 * returns a status;
 * this file prints "idim: <message>" and maps the status to an exit code. */
#include <cblas.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "memguard.h"
#include "cli_opt.h"
#include "fastfood.h"
#include "status.h"

#ifndef IDIM_VERSION
#define IDIM_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    cli_fn fn;
    const char *summary;
} commands[] = {
    {"convert", cli_convert, "convert a Hugging Face model folder to an idim model file"},
    {"init", cli_init, "write a randomly initialised model (presets tiny..base)"},
    {"info", cli_info, "describe a model file: architecture, tensors, tokenizer"},
    {"tokenize", cli_tokenize, "print a task's token ids as JSON lines"},
    {"pretrain", cli_pretrain, "masked-LM pretraining with checkpoints and resume"},
    {"finetune", cli_finetune, "full fine-tuning (the d90 baseline)"},
    {"predict", cli_predict, "print logits and predictions of a model on a split"},
    {"train", cli_train, "train theta_d in a d-dimensional subspace (DID/SAID)"},
    {"eval", cli_eval, "rebuild tuned weights from a saved theta_d and evaluate"},
    {"project", cli_project, "print one tensor's projected update; dump Fastfood tables"},
    {"measure", cli_measure, "find d90 by bracket and log-scale bisection"},
    {"sweep", cli_sweep, "train on a log-spaced grid of d; CSV and SVG plot"},
    {"plot", cli_plot, "overlay saved runs (reports, sweep CSV, JSON lines) in one SVG plot"},
    {"check", cli_check, "compare a report's d90 with an expected value (for CI)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* The exit codes, for --help and the man page (README.md has the same table). */
static const struct {
    int code;
    const char *what;
} exits[] = {
    {IDIM_EXIT_OK, "success"},
    {IDIM_EXIT_INTERNAL, "internal error (a bug: please report it)"},
    {IDIM_EXIT_USAGE, "usage error: unknown command or option, missing or bad value"},
    {IDIM_EXIT_INPUT, "input missing, unreadable or invalid (model file, data, config);\n"
                      "       idim check: the reports differ in task, method, threshold or model"},
    {IDIM_EXIT_OUTPUT, "out of memory, or output not writable (disk full, permissions)"},
    {IDIM_EXIT_NOT_REACHED, "the run finished but no d up to --dmax reached the target"},
    {IDIM_EXIT_CHECK, "idim check: the d90 is outside the tolerance (a regression)"},
    {IDIM_EXIT_INTERRUPTED, "interrupted (Ctrl-C); finished work was saved"},
};
#define N_EXITS (sizeof exits / sizeof exits[0])

const char *cli_command_summary(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].summary;
    return "";
}

static void print_help(FILE *f)
{
    fprintf(f, "idim %s - intrinsic dimension of fine-tuning pretrained transformers\n\n",
            IDIM_VERSION);
    fprintf(f, "usage: idim <command> [options]\n       idim <command> --help\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes:\n");
    for (size_t i = 0; i < N_EXITS; i++)
        fprintf(f, "  %-4d %s\n", exits[i].code, exits[i].what);
    fprintf(f, "\nevery command also takes:\n"
               "  --max-memory SIZE  refuse work whose estimated memory (weights, activations,\n"
               "                     projection tables) exceeds SIZE (8G, 512M, bytes); default:\n"
               "                     IDIM_MAX_MEMORY, else MemAvailable from /proc/meminfo\n"
               "\nenvironment:\n"
               "  IDIM_DATA  folder holding the GLUE task folders (MRPC, SST-2, ...)\n"
               "  IDIM_MAX_MEMORY  the --max-memory default\n"
               "\nidim <command> --help describes a command; `man idim` describes them all.\n");
}

/* `idim --version`: the version and what this binary was built with. */
static void print_version(void)
{
    static const char *simd[] = {"scalar", "AVX2", "AVX-512F"};
    int lvl = fwht_simd_level();
    printf("idim %s\n", IDIM_VERSION);
    printf("BLAS: %s (core %s)\n", openblas_get_config(), openblas_get_corename());
    printf("SIMD: Fastfood transform uses %s\n", simd[lvl < 0 || lvl > 2 ? 0 : lvl]);
#if defined(IDIM_MPI) || defined(IDIM_HAVE_MPI)
    printf("MPI: yes\n");
#else
    printf("MPI: no\n");
#endif
    printf("share: %s\n", idim_share_dir ? idim_share_dir : "(not found: set IDIM_SHARE)");
#if defined(__clang__)
    printf("compiler: clang %s\n", __clang_version__);
#elif defined(__GNUC__)
    printf("compiler: gcc %s\n", __VERSION__);
#endif
}

/* `idim --docs man|bash|list`: the man page, the bash completion, or the
 * option list, each generated from the commands' option tables (`make docs`
 * writes docs/idim.1 and scripts/idim.bash; the tests compare them). */
static int print_docs(const char *what)
{
    int mode = !strcmp(what, "man") ? CLI_DOCS_MAN : !strcmp(what, "bash") ? CLI_DOCS_BASH
                : !strcmp(what, "list") ? CLI_DOCS_LIST : -1;
    if (mode < 0) {
        fprintf(stderr, "idim: --docs takes man, bash or list\n");
        return IDIM_EXIT_USAGE;
    }
    /* Help examples name the share folder; the generated pages must not
     * depend on where this checkout happens to live, so they show the
     * folder of a default `make install`. */
    idim_share_dir = "/usr/local/share/idim";
    if (mode == CLI_DOCS_MAN) {
        printf(".\\\" Generated by `idim --docs man` from the option tables; do not edit.\n"
               ".TH IDIM 1 \"\" \"idim %s\" \"User Commands\"\n"
               ".SH NAME\nidim \\- intrinsic dimension of fine\\-tuning pretrained transformers\n"
               ".SH SYNOPSIS\n\\fBidim\\fR \\fIcommand\\fR [\\fIoptions\\fR]\n.br\n"
               "\\fBidim\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR\n.br\n"
               "\\fBidim \\-\\-version\\fR\n.SH COMMANDS\n", IDIM_VERSION);
        for (size_t i = 0; i < N_COMMANDS; i++)
            printf(".TP\n\\fB%s\\fR\n%s\n", commands[i].name, commands[i].summary);
        printf(".SH OPTIONS\n");
    } else if (mode == CLI_DOCS_BASH) {
        printf("# bash completion for idim. Generated by `idim --docs bash` from the option\n"
               "# tables; do not edit. Install: source it, or copy it to\n"
               "# $PREFIX/share/bash-completion/completions/idim.\n"
               "_idim_compgen() { COMPREPLY=($(compgen \"$@\" -- \"$cur\")); }\n"
               "_idim() {\n"
               "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} opts\n"
               "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
               "        _idim_compgen -W \"");
        for (size_t i = 0; i < N_COMMANDS; i++)
            printf("%s ", commands[i].name);
        printf("--help --version\"; return\n    fi\n    case \"${COMP_WORDS[1]}\" in\n");
    }
    cli_docs_mode = mode;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char *argv[] = {(char *)commands[i].name, "--help", NULL};
        struct idim_err err = {{0}};
        if (commands[i].fn(2, argv, &err) != IDIM_OK) {
            fprintf(stderr, "idim: %s: %s\n", commands[i].name, err.msg);
            return IDIM_EXIT_INTERNAL;
        }
    }
    if (mode == CLI_DOCS_MAN)
    {
        printf(".SH EXIT STATUS\n");
        for (size_t i = 0; i < N_EXITS; i++)
            printf(".TP\n\\fB%d\\fR\n%s\n", exits[i].code, exits[i].what);
        printf(".SH ENVIRONMENT\n.TP\n\\fBIDIM_DATA\\fR\n"
               "folder holding the GLUE task folders (MRPC, SST\\-2, ...)\n"
               ".TP\n\\fBIDIM_MAX_MEMORY\\fR\n"
               "the memory commands may plan for (\\fB\\-\\-max\\-memory\\fR, taken by every "
               "command: 8G, 512M, bytes); default MemAvailable from /proc/meminfo\n"
               ".SH FILES\n.TP\n\\fIPREFIX/share/idim\\fR\n"
               "demo data, scripts and the report schema of an installed idim\n"
               ".SH SEE ALSO\nREADME.md and docs/ in the source tree.\n");
    }
    else if (mode == CLI_DOCS_BASH)
        printf("    *) opts=\"\" ;;\n    esac\n"
               "    if [[ $cur == -* ]]; then _idim_compgen -W \"$opts\"; else _idim_compgen -f; fi\n"
               "}\ncomplete -o filenames -F _idim idim\n");
    return fflush(stdout) || ferror(stdout) ? IDIM_EXIT_OUTPUT : IDIM_EXIT_OK;
}

/* Sets idim_share_dir: $IDIM_SHARE, else PREFIX/share/idim beside an
 * installed binary (PREFIX/bin/idim), else the checkout holding ./idim or
 * build/idim; the first folder that holds scripts/pt2safetensors.py. */
static void find_share_dir(void)
{
    static char buf[4096];
    const char *env = getenv("IDIM_SHARE");
    if (env && env[0]) {
        idim_share_dir = env;
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0;
    static const char *const rel[] = {"/../share/idim", "", "/.."};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char probe[sizeof buf + 64];
        snprintf(buf, sizeof buf, "%s%s", exe, rel[i]);
        snprintf(probe, sizeof probe, "%s/scripts/pt2safetensors.py", buf);
        if (access(probe, R_OK) == 0) {
            char *real = realpath(buf, NULL);
            if (real) {
                snprintf(buf, sizeof buf, "%s", real);
                free(real);
            }
            idim_share_dir = buf;
            return;
        }
    }
}

static void on_signal(int sig)
{
    (void)sig;
    if (idim_interrupted) /* second Ctrl-C: stop now */
        signal(sig, SIG_DFL), raise(sig);
    idim_interrupted = 1;
}

int main(int argc, char **argv)
{
    find_share_dir();
    if (argc < 2) {
        fprintf(stderr, "idim: give a command (see 'idim --help')\n");
        return IDIM_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return IDIM_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        print_version();
        return IDIM_EXIT_OK;
    }
    if (!strcmp(cmd, "--docs") && argc == 3)
        return print_docs(argv[2]);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        struct idim_err err = {{0}};
        enum idim_status st = IDIM_OK;
        /* --max-memory SIZE is understood by every command: taken out here */
        int out = 2;
        for (int a = 2; a < argc; a++) {
            const char *v = NULL;
            if (!strcmp(argv[a], "--max-memory") && a + 1 < argc)
                v = argv[++a];
            else if (!strncmp(argv[a], "--max-memory=", 13))
                v = argv[a] + 13;
            else if (!strcmp(argv[a], "--")) {
                while (a < argc)
                    argv[out++] = argv[a++];
                break;
            } else {
                argv[out++] = argv[a];
                continue;
            }
            if (memguard_parse_size(v, &memguard_limit) != 0 && st == IDIM_OK)
                st = idim_fail(&err, IDIM_ERR_USAGE,
                               "--max-memory takes a size such as 8G, 512M or a number of "
                               "bytes, not '%s'", v);
        }
        argv[out] = NULL;
        argc = out;
        const char *mem_source; /* MemAvailable as the command starts (memguard.h) */
        (void)memguard_available(&mem_source);
        /* an output file on standard output: the command's text goes to stderr */
        for (int a = 2; a < argc && st == IDIM_OK; a++) {
            const char *v = strchr(argv[a], '=');
            if (fileio_is_stdout(argv[a]) || (argv[a][0] == '-' && v && fileio_is_stdout(v + 1))) {
                st = fileio_move_stdout(&err);
                break;
            }
        }
        if (st == IDIM_OK)
            st = commands[i].fn(argc - 1, argv + 1, &err);
        if (st != IDIM_OK) {
            if (err.msg[0])
                fprintf(stderr, "idim: %s\n", err.msg);
            else
                fprintf(stderr, "idim: %s: %s\n", cmd, idim_status_name(st));
        }
        fflush(stdout);
        if (ferror(stdout) && st == IDIM_OK) {
            fprintf(stderr, "idim: %s: could not write standard output\n", cmd);
            return IDIM_EXIT_OUTPUT;
        }
        return idim_exit_code(st);
    }
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    const char *s = cmd[0] == '-' ? NULL : cli_suggest(cmd, names, (int)N_COMMANDS);
    if (s)
        fprintf(stderr, "idim: unknown command '%s'; did you mean '%s'? (see 'idim --help')\n",
                idim_esc(cmd), s);
    else
        fprintf(stderr, "idim: unknown command '%s' (see 'idim --help')\n", idim_esc(cmd));
    return IDIM_EXIT_USAGE;
}
