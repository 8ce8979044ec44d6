/* The options several commands share, in one table (after curl's
 * tool_getparam.c): name, value, limits and where the value goes. A command
 * lists its own options and picks the shared ones by bit; pn_cli_getopt
 * parses and checks the shared ones itself and hands back the command's own.
 * See cli.h. */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pneumo/image.h"
#include "pneumo/infer.h"
#include "pneumo/weights.h"

typedef enum { ARG_FLAG, ARG_LONG, ARG_STR } arg_kind;

typedef struct shared_opt {
    unsigned bit;
    const char *name;
    char short_name; /* 0: long only */
    arg_kind kind;
    long min, max;   /* ARG_LONG */
    size_t offset;   /* of the int (flag), long (value) or const char * (string) in pn_cli_opts */
} shared_opt;

#define F(field) offsetof(pn_cli_opts, field)
static const shared_opt table[] = {
    {PN_OPT_HELP, "help", 'h', ARG_FLAG, 0, 0, F(help)},
    {PN_OPT_JSON, "json", 0, ARG_FLAG, 0, 0, F(json)},
    {PN_OPT_QUIET, "quiet", 'q', ARG_FLAG, 0, 0, F(quiet)},
    {PN_OPT_THREADS, "threads", 'j', ARG_LONG, 1, 256, F(threads)},
    {PN_OPT_BATCH, "batch", 0, ARG_LONG, 1, 4096, F(batch)},
    {PN_OPT_BF16, "bf16", 0, ARG_FLAG, 0, 0, F(bf16)},
    {PN_OPT_FAST_DECODE, "fast-decode", 0, ARG_FLAG, 0, 0, F(fast_decode)},
    {PN_OPT_SKIP_BAD, "skip-bad", 0, ARG_FLAG, 0, 0, F(skip_bad)},
    {PN_OPT_MIN_SIDE, "min-side", 0, ARG_LONG, 1, 1L << 20, F(min_side)},
    {PN_OPT_MAX_PIXELS, "max-pixels", 0, ARG_LONG, 1, 1L << 40, F(max_pixels)},
    {PN_OPT_NO_VERIFY, "no-verify", 0, ARG_FLAG, 0, 0, F(no_verify)},
    {PN_OPT_LENIENT_JPEG, "lenient-jpeg", 0, ARG_FLAG, 0, 0, F(lenient_jpeg)},
    {PN_OPT_INT8, "int8", 0, ARG_FLAG, 0, 0, F(int8)},
    {PN_OPT_WINOGRAD, "winograd", 0, ARG_FLAG, 0, 0, F(winograd)},
    {PN_OPT_PNG16, "png16", 0, ARG_STR, 0, 0, F(png16)},
    {PN_OPT_LABELS, "labels", 0, ARG_STR, 0, 0, F(labels)},
    {PN_OPT_LABELS, "preset", 0, ARG_STR, 0, 0, F(preset)},
    {PN_OPT_LABELS, "columns", 0, ARG_STR, 0, 0, F(columns)},
    {PN_OPT_LABELS, "patient-column", 0, ARG_STR, 0, 0, F(patient_col)},
    {PN_OPT_LABELS, "split-column", 0, ARG_STR, 0, 0, F(split_col)},
    {PN_OPT_LABELS, "uncertain", 0, ARG_STR, 0, 0, F(uncertain)},
    {PN_OPT_LABELS, "csv-split", 0, ARG_STR, 0, 0, F(csv_split)},
    {PN_OPT_LABELS, "test-split", 0, ARG_STR, 0, 0, F(test_split)},
    {PN_OPT_CLASSES, "classes", 0, ARG_STR, 0, 0, F(classes)},
    {PN_OPT_POSITIVE, "positive", 0, ARG_STR, 0, 0, F(positive)},
};
#undef F
#define NSHARED (sizeof table / sizeof table[0])
/* getopt values of long-only shared options: table index + this */
#define SHARED_VAL 0x10000

int pn_cli_parser_init(pn_cli_parser *p, const char *cmd, const char *shortopts,
                       const struct option *own, unsigned shared)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->shared = shared;
    size_t n = 0, k = 0;
    p->shortopts[k++] = ':'; /* missing values come back as ':' (pn_cli_option_error) */
    for (const char *s = shortopts ? shortopts : ""; *s && k + 1 < sizeof p->shortopts; s++)
        p->shortopts[k++] = *s;
    for (const struct option *o = own; o && o->name && n + 1 < PN_CLI_MAX_OPTS; o++)
        p->longopts[n++] = *o;
    for (size_t i = 0; i < NSHARED && n + 1 < PN_CLI_MAX_OPTS; i++) {
        if (!(shared & table[i].bit)) continue;
        int val = table[i].short_name ? table[i].short_name : (int)(SHARED_VAL + i);
        p->longopts[n++] =
            (struct option){table[i].name, table[i].kind == ARG_FLAG ? no_argument : required_argument,
                            NULL, val};
        if (table[i].short_name && k + 2 < sizeof p->shortopts) {
            p->shortopts[k++] = table[i].short_name;
            if (table[i].kind != ARG_FLAG) p->shortopts[k++] = ':';
        }
    }
    p->shortopts[k] = '\0';
    p->longopts[n] = (struct option){0, 0, 0, 0};
    optind = 1;
    return 0;
}

/* The table entry a getopt value stands for, or NULL (the command's own). */
static const shared_opt *shared_for(const pn_cli_parser *p, int ch)
{
    if (ch >= SHARED_VAL && ch < SHARED_VAL + (int)NSHARED) return &table[ch - SHARED_VAL];
    for (size_t i = 0; i < NSHARED; i++)
        if ((p->shared & table[i].bit) && table[i].short_name && table[i].short_name == ch)
            return &table[i];
    return NULL;
}

int pn_cli_getopt(pn_cli_parser *p, int argc, char **argv, pn_cli_opts *o)
{
    for (;;) {
        int ch = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
        if (ch == -1) return -1;
        if (ch == ':' || ch == '?') {
            pn_cli_option_error(p->cmd, ch, argv, p->longopts);
            return PN_CLI_BAD;
        }
        const shared_opt *s = shared_for(p, ch);
        if (!s) return ch;
        o->given |= s->bit;
        if (s->kind == ARG_STR) {
            *(const char **)((char *)o + s->offset) = optarg;
            continue;
        }
        if (s->kind == ARG_FLAG) {
            *(int *)((char *)o + s->offset) = 1;
            if (s->bit == PN_OPT_HELP) return PN_CLI_HELP;
            if (s->bit == PN_OPT_NO_VERIFY) pn_weights_verify_hashes(0);
            if (s->bit == PN_OPT_LENIENT_JPEG) pn_jpeg_set_lenient(1);
            continue;
        }
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", s->name);
        long v;
        if (pn_cli_parse_int(p->cmd, opt, optarg, s->min, s->max, &v)) return PN_CLI_BAD;
        *(long *)((char *)o + s->offset) = v;
    }
}

int pn_cli_infer_mode(const pn_cli_opts *o)
{
    return (o->bf16 ? PN_INFER_BF16 : 0) | (o->int8 ? PN_INFER_INT8 : 0) |
           (o->winograd ? PN_INFER_WINOGRAD : 0);
}
