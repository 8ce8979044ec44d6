/* pneumo CLI: the subcommand table and helpers shared by the commands.
 * The CLI is a thin layer: each cmd_*.c parses options, calls the library,
 * prints results. Errors print "pneumo <cmd>: <message>" on stderr and
 * return a non-zero exit status (1 = failure, 2 = usage). */
#ifndef PNEUMO_CLI_H
#define PNEUMO_CLI_H

#include <getopt.h>

#include "pneumo/status.h"

typedef struct pn_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
} pn_command;

/* Print "pneumo <cmd>: <msg>" to stderr; returns 1. */
int pn_cli_fail(const char *cmd, const pn_error *err);
/* A new, empty run folder <parent>/<YYYYmmdd-HHMMSS> (local time), or
 * <stamp>-2, -3, ... when that exists already: created with mkdir, so two
 * runs started in the same second never share one. */
pn_status pn_cli_new_run_dir(const char *parent, char *buf, size_t n, pn_error *err);
/* Print "pneumo <cmd>: <printf msg>" + a hint to run --help; returns 2. */
int pn_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long (optstring starting with ':') returned ch ':' or '?': print
 * what is wrong ("--out needs a value", "unrecognized option '--x'", ...);
 * returns 2. */
int pn_cli_option_error(const char *cmd, int ch, char *const *argv, const struct option *opts);

/* Parse a positive integer / a float option value; on error prints a usage
 * error and returns non-zero. */
int pn_cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
int pn_cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                        double *out);

/* ---- shared options (src/cli/options.c) ---------------------------------
 * One table holds the options several commands share; a command picks them
 * by bit and lists only its own in a struct option array:
 *
 *     static const struct option own[] = {{"chart", required_argument, 0, 'c'}, {0}};
 *     pn_cli_parser ps;
 *     pn_cli_opts co = {.threads = 2};             // defaults first
 *     pn_cli_parser_init(&ps, "stats", "c:", own, PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_HELP);
 *     while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) switch (ch) {
 *         case 'c': chart = optarg; break;
 *         case PN_CLI_HELP: usage(stdout); return 0;
 *         default: return 2;                        // PN_CLI_BAD: already said why
 *     }
 *
 * Shared values are checked against the table's limits with the usual
 * messages ("--threads wants a whole number from 1 to 256, not 'x'"); an
 * unknown option or a missing value is reported by pn_cli_option_error.
 * Short names: -h --help, -q --quiet, -j --threads (the others are long only). */
enum {
    PN_OPT_HELP = 1u << 0,        /* -h, --help: pn_cli_getopt returns PN_CLI_HELP */
    PN_OPT_JSON = 1u << 1,        /* --json */
    PN_OPT_QUIET = 1u << 2,       /* -q, --quiet */
    PN_OPT_THREADS = 1u << 3,     /* -j, --threads N (1..256) */
    PN_OPT_BATCH = 1u << 4,       /* --batch N (1..4096) */
    PN_OPT_BF16 = 1u << 5,        /* --bf16 */
    PN_OPT_FAST_DECODE = 1u << 6, /* --fast-decode */
    PN_OPT_SKIP_BAD = 1u << 7,    /* --skip-bad */
    PN_OPT_MIN_SIDE = 1u << 8,    /* --min-side PX (1..2^20) */
    PN_OPT_MAX_PIXELS = 1u << 9,  /* --max-pixels N (1..2^40) */
    PN_OPT_LENIENT_JPEG = 1u << 15, /* --lenient-jpeg: pn_jpeg_set_lenient(1) */
    PN_OPT_NO_VERIFY = 1u << 14,  /* --no-verify: pn_weights_verify_hashes(0) */
    PN_OPT_PNG16 = 1u << 10,      /* --png16 scale|clip */
    /* --labels CSV --preset P --columns I,L --patient-column C --split-column C
     * --uncertain U --csv-split S --test-split F: a CSV-labelled dataset (pn_cli_data_*) */
    PN_OPT_LABELS = 1u << 11,
    PN_OPT_CLASSES = 1u << 12,    /* --classes MODEL=DATA,... */
    PN_OPT_POSITIVE = 1u << 13,   /* --positive CLASS */
    PN_OPT_INT8 = 1u << 17,       /* --int8 (a model made by pneumo quantize) */
    PN_OPT_WINOGRAD = 1u << 16,   /* --winograd (fp32 3x3 convs, where oneDNN has it) */
};

/* Where the shared options land; set the defaults before parsing. */
typedef struct pn_cli_opts {
    int help, json, quiet, bf16, fast_decode, skip_bad, no_verify, lenient_jpeg, int8, winograd;
    long threads, batch, min_side, max_pixels;
    /* string options: NULL when not given */
    const char *png16, *labels, *preset, *columns, *patient_col, *split_col, *uncertain,
        *csv_split, *test_split, *classes, *positive;
    unsigned given; /* PN_OPT_* bits of the options that were given */
} pn_cli_opts;

#define PN_CLI_MAX_OPTS 64
typedef struct pn_cli_parser {
    const char *cmd;
    unsigned shared;
    char shortopts[128];
    struct option longopts[PN_CLI_MAX_OPTS];
} pn_cli_parser;

#define PN_CLI_HELP (-2) /* --help was given: print the usage, exit 0 */
#define PN_CLI_BAD (-3)  /* a usage error, already printed: exit 2 */

/* own: the command's options (may be NULL), ended by a zero entry;
 * shortopts: the short letters of its own options, getopt style ("c:o:").
 * Resets getopt (optind = 1). Returns 0. */
int pn_cli_parser_init(pn_cli_parser *p, const char *cmd, const char *shortopts,
                       const struct option *own, unsigned shared);
/* The next option of the command's own (its getopt value, optarg set), -1
 * at the end, PN_CLI_HELP or PN_CLI_BAD. Shared options are stored in o. */
int pn_cli_getopt(pn_cli_parser *p, int argc, char **argv, pn_cli_opts *o);

/* The engine's precision flags (PN_INFER_* of pneumo/infer.h) from the
 * shared --bf16 / --int8 / --winograd. */
int pn_cli_infer_mode(const pn_cli_opts *o);
/* ---- the data options (src/cli/data.c) ------------------------------------
 * The shared --labels group and --png16 turned into library options, and
 * the dataset opened by them (pn_dataset_open, or pn_dataset_open_csv with
 * --labels). */
#include "pneumo/dataset.h"
typedef struct pn_cli_data {
    pn_csv_opts csv;
    const char *labels; /* the CSV, or NULL */
    char cols[512];
} pn_cli_data;
/* The --help lines of the --labels group (22-column option names). */
#define PN_CLI_LABELS_HELP                                                              \
    "      --labels CSV    DATA is an image folder labelled by CSV (docs/data.md)\n"    \
    "      --preset P      the CSV layout: rsna, nih or chexpert\n"                     \
    "      --columns I,L   no preset: the image and label columns (labels 1/0 or\n"    \
    "                      PNEUMONIA/NORMAL)\n"                                         \
    "      --patient-column C  the CSV's patient column (patient-grouped splits)\n"    \
    "      --split-column C    a column with each row's split: train, val, test\n"     \
    "      --uncertain U   CheXpert -1: ignore (default), zeros or ones\n"              \
    "      --csv-split S   the split of all the CSV's rows (default train; NIH:\n"      \
    "                      train_val_list.txt / test_list.txt beside the CSV)\n"      \
    "      --test-split F  carve a test set from the train rows, by patient (a hash\n"  \
    "                      of the id: the same split in train and eval)\n"
/* Checks the option values; *dec gets --png16 (dec may be NULL). Prints a
 * usage error and returns 2 when a value is wrong, else 0. */
int pn_cli_data_init(pn_cli_data *d, const char *cmd, const pn_cli_opts *o, pn_decode_opts *dec);
/* Opens DATA (with --labels: the image folder of the CSV) and lists on
 * stderr the CSV rows --skip-bad left out, each with its line and reason. */
pn_status pn_cli_data_open(const pn_cli_data *d, const char *cmd, const char *path,
                           pn_dataset **ds, pn_error *err);

/* ---- metrics as printed (src/cli/metrics_print.c) ------------------------ */
#include "pneumo/eval.h"
/* train's one line per split: "val   n=16  acc 72.7% [43.4-90.3] ... AUC ..."
 * (nothing when m->n is 0), and a caution line when the split chose the
 * threshold. */
void pn_cli_print_split_line(const char *name, const pn_metrics *m, int chose_threshold);
/* The --bootstrap block (train and eval): "<head> N stratified resamples,
 * seed S: 95% percentile intervals", then one line per metric ("undefined in
 * every resample" where no resample defines it). */
void pn_cli_print_bootstrap(const char *head, const pn_bootstrap *b);

/* pneumo train's settings for model.safetensors, as cJSON text (malloc'ed;
 * NULL when out of memory) (src/cli/train_settings.c). */
#include "pneumo/train.h"
char *pn_cli_training_json(long epochs, long batch, double lr, long seed, const char *freeze,
                           pn_balance balance, double val_split, const char *threshold, int bf16,
                           int fast, int shuffle, const pn_fit_cfg *fc);

/* Subcommands (src/cli/cmd_*.c). */
int pn_cmd_quantize(int argc, char **argv);
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
int pn_cmd_cache(int argc, char **argv);

#endif
