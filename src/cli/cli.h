/* pneumo CLI: the subcommand table and helpers shared by the commands.
 * The CLI is a thin layer: each cmd_*.c parses options, calls the library,
 * prints results. Errors print "pneumo <cmd>: <message>" on stderr and
 * return a non-zero exit status (1 = failure, 2 = usage). */
#ifndef PNEUMO_CLI_H
#define PNEUMO_CLI_H

#include "pneumo/status.h"

typedef struct pn_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
} pn_command;

/* Print "pneumo <cmd>: <msg>" to stderr; returns 1. */
int pn_cli_fail(const char *cmd, const pn_error *err);
/* Print "pneumo <cmd>: <printf msg>" + a hint to run --help; returns 2. */
int pn_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long (optstring starting with ':') returned ch ':' or '?': print
 * what is wrong ("--out needs a value", "unrecognized option '--x'", ...);
 * returns 2. */
struct option;
int pn_cli_option_error(const char *cmd, int ch, char *const *argv, const struct option *opts);

/* Parse a positive integer / a float option value; on error prints a usage
 * error and returns non-zero. */
int pn_cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
int pn_cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                        double *out);

/* Subcommands (src/cli/cmd_*.c). */
int pn_cmd_version(int argc, char **argv);
int pn_cmd_export(int argc, char **argv);
int pn_cmd_inspect(int argc, char **argv);
int pn_cmd_preprocess(int argc, char **argv);
int pn_cmd_stats(int argc, char **argv);
int pn_cmd_bench(int argc, char **argv);
int pn_cmd_fetch(int argc, char **argv);
int pn_cmd_train(int argc, char **argv);
int pn_cmd_eval(int argc, char **argv);
int pn_cmd_predict(int argc, char **argv);
int pn_cmd_serve(int argc, char **argv);

#endif
