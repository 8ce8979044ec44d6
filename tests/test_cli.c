/* The CLI's shared pieces, linked from build/libpneumo_cli.a: the option
 * table (src/cli/options.c) and the progress drawer (src/cli/progress.c) in
 * count mode (tests/test_fetch.c covers its byte mode on a real download). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"

/* Run the parser over a NULL-terminated argument list; stderr into err. */
static int parse(const char *const *args, pn_cli_opts *co, const char **own_val, char *err,
                 size_t errn)
{
    char *argv[16];
    int argc = 0;
    for (; args[argc]; argc++) argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    static const struct option own[] = {{"chart", required_argument, 0, 'c'},
                                        {"no-check", no_argument, 0, 300},
                                        {0, 0, 0, 0}};
    char path[] = "/tmp/pneumo-cli-err-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    pn_cli_parser ps;
    pn_cli_parser_init(&ps, "t", "c:", own,
                       PN_OPT_HELP | PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_MIN_SIDE | PN_OPT_BF16);
    int ch, rc = 0;
    while ((ch = pn_cli_getopt(&ps, argc, argv, co)) != -1) {
        if (ch == 'c') {
            *own_val = optarg;
        } else if (ch == 300) {
            *own_val = "no-check";
        } else {
            rc = ch;
            break;
        }
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, err, errn - 1, 0);
    err[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_options(void **state)
{
    (void)state;
    char err[1024];
    const char *own = NULL;
    pn_cli_opts co = {.threads = 2};
    const char *a1[] = {"t", "--json", "-j", "7", "--chart", "x.png", "--min-side=9", "--bf16",
                        "DATA", NULL};
    assert_int_equal(parse(a1, &co, &own, err, sizeof err), 0);
    assert_true(co.json && co.bf16 && !co.help);
    assert_int_equal(co.threads, 7);
    assert_int_equal(co.min_side, 9);
    assert_string_equal(own, "x.png");
    assert_true(co.given & PN_OPT_THREADS);
    assert_false(co.given & PN_OPT_BATCH);
    assert_string_equal(err, "");
    /* a shared value out of its limits: the usual message, exit 2 */
    pn_cli_opts c2 = {0};
    const char *a2[] = {"t", "--threads", "0", NULL};
    assert_int_equal(parse(a2, &c2, &own, err, sizeof err), PN_CLI_BAD);
    assert_non_null(strstr(err, "pneumo t: --threads wants a whole number from 1 to 256, not '0'"));
    /* an option the command did not pick is unknown */
    const char *a3[] = {"t", "--batch", "4", NULL};
    assert_int_equal(parse(a3, &c2, &own, err, sizeof err), PN_CLI_BAD);
    assert_non_null(strstr(err, "unrecognized option '--batch'"));
    const char *a4[] = {"t", "--chart", NULL};
    assert_int_equal(parse(a4, &c2, &own, err, sizeof err), PN_CLI_BAD);
    assert_non_null(strstr(err, "--chart needs a value"));
    const char *a5[] = {"t", "--no-check", "-h", "--threads", "x", NULL};
    assert_int_equal(parse(a5, &c2, &own, err, sizeof err), PN_CLI_HELP); /* before --threads x */
    assert_string_equal(own, "no-check");
}

/* Count mode, not a terminal: a line at each further 10% and one at the end,
 * in the format the training log tests read ("  features train: 800/800 images"). */
static void test_progress_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/pneumo-cli-prog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    pn_cli_progress p;
    pn_cli_progress_init(&p, PN_CLI_LINES);
    pn_cli_progress_begin(&p, "  features train", "images", 0);
    for (int d = 0; d <= 800; d += 16) pn_cli_progress_update(&p, d, 800);
    pn_cli_progress_end(&p, 800, 800, NULL);
    pn_cli_progress_begin(&p, "  features val", "images", 0);
    pn_cli_progress_update(&p, 3, 6);
    pn_cli_progress_end(&p, 6, 6, "done");
    pn_cli_progress q;
    pn_cli_progress_init(&q, PN_CLI_QUIET);
    pn_cli_progress_begin(&q, "quiet", "images", 0);
    pn_cli_progress_update(&q, 5, 5);
    pn_cli_progress_end(&q, 5, 5, "nothing");
    pn_cli_progress_note(&q, NULL, "nothing either");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    assert_null(strchr(buf, '\r'));
    assert_non_null(strstr(buf, "  features train: 80/800 images\n"));
    assert_non_null(strstr(buf, "  features train: 400/800 images\n"));
    assert_non_null(strstr(buf, "  features train: 800/800 images\n"));
    assert_null(strstr(strstr(buf, "800/800") + 1, "800/800")); /* the end line once */
    assert_non_null(strstr(buf, "  features val: 3/6 images\n  features val: 6/6 images\n"
                                "  features val: done\n"));
    assert_null(strstr(buf, "quiet"));
    assert_null(strstr(buf, "nothing"));
    int lines = 0;
    for (char *c = buf; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 10 + 3); /* train: 10 steps of 10%; val: 2 + the note */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_progress_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
