/* cli.h - the command-line layer: one entry point per `idim <command>`.
 *
 * Each cli_<command>() parses its own options with getopt_long (argv[0] is
 * the command name), calls the library, and prints results to stdout.
 * Errors are not printed here: a command fills err and returns a status;
 * src/main.c prints "idim: <msg>" and maps the status to an exit code.
 * For usage errors the message ends with a "usage: ..." line. `--help`
 * prints the command's help to stdout and returns IDIM_OK. */
#ifndef IDIM_CLI_H
#define IDIM_CLI_H

#include <stdio.h>

#include "status.h"

typedef enum idim_status (*cli_fn)(int argc, char **argv, struct idim_err *err);

enum idim_status cli_convert(int argc, char **argv, struct idim_err *err);
enum idim_status cli_init(int argc, char **argv, struct idim_err *err);
enum idim_status cli_info(int argc, char **argv, struct idim_err *err);
enum idim_status cli_tokenize(int argc, char **argv, struct idim_err *err);
enum idim_status cli_finetune(int argc, char **argv, struct idim_err *err);
enum idim_status cli_predict(int argc, char **argv, struct idim_err *err);
enum idim_status cli_train(int argc, char **argv, struct idim_err *err);
enum idim_status cli_eval(int argc, char **argv, struct idim_err *err);
enum idim_status cli_project(int argc, char **argv, struct idim_err *err);
enum idim_status cli_measure(int argc, char **argv, struct idim_err *err);
enum idim_status cli_sweep(int argc, char **argv, struct idim_err *err);
enum idim_status cli_plot(int argc, char **argv, struct idim_err *err);
enum idim_status cli_check(int argc, char **argv, struct idim_err *err);

/* Shared helpers for the cli_*.c files (src/cli_common.c). */

/* Fills err with "<cmd>: <what>" plus "\nusage: <usage>" and returns
 * IDIM_ERR_USAGE. */
enum idim_status cli_usage_error(struct idim_err *err, const char *cmd, const char *usage,
                                 const char *what);

/* The getopt_long "unknown option / missing value" report for optind/optopt. */
enum idim_status cli_bad_option(struct idim_err *err, const char *cmd, const char *usage,
                                char **argv);

/* Parses a whole number / a float / a comma list of floats from an option;
 * on failure fills a usage error naming the option. */
enum idim_status cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out,
                                struct idim_err *err);
enum idim_status cli_parse_u64(const char *opt, const char *s, unsigned long long *out,
                               struct idim_err *err);
enum idim_status cli_parse_double(const char *opt, const char *s, double lo, double hi,
                                  double *out, struct idim_err *err);
enum idim_status cli_parse_list(const char *opt, const char *s, double lo, double hi,
                                double *out, int cap, int *n, struct idim_err *err);

/* 1 when stderr is a terminal (progress bars), else 0. */
int cli_stderr_is_tty(void);

#endif
