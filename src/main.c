/* main.c - `idim <command> [options]`: dispatch, signals, exit codes.
 *
 * The only place that prints errors or exits. Each command parses its own
 * options with getopt_long in src/cli_<command>.c and returns a status;
 * this file prints "idim: <message>" and maps the status to an exit code. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
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
    {"plot", cli_plot, "draw the SVG plot from saved sweep rows"},
    {"check", cli_check, "compare a report's d90 with an expected value (for CI)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *f)
{
    fprintf(f, "idim %s - intrinsic dimension of fine-tuning pretrained transformers\n\n",
            IDIM_VERSION);
    fprintf(f, "usage: idim <command> [options]\n       idim <command> --help\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes:\n"
               "  0    success\n"
               "  1    internal error (a bug: please report it)\n"
               "  2    usage error: unknown command or option, missing or bad value\n"
               "  3    input missing, unreadable or invalid (model file, data, config)\n"
               "  4    out of memory, or output not writable (disk full, permissions)\n"
               "  5    the run finished but no d up to --dmax reached the target\n"
               "  130  interrupted (Ctrl-C); finished work was saved\n"
               "\nenvironment:\n"
               "  IDIM_DATA  folder holding the GLUE task folders (MRPC, SST-2, ...)\n");
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
    if (argc < 2) {
        fprintf(stderr, "usage: idim <command> [options]  (see 'idim --help')\n");
        return IDIM_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return IDIM_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("idim %s\n", IDIM_VERSION);
        return IDIM_EXIT_OK;
    }
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
    fprintf(stderr, "idim: unknown command '%s'\nusage: idim <command> [options]  (see 'idim --help')\n",
            cmd);
    return IDIM_EXIT_USAGE;
}
