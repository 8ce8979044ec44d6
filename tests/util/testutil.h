/* Helpers shared by the cmocka tests.
 *
 * Tests that read ../shared/data call tu_data_dir(), which fails the test
 * loudly (never skips) when the folder is missing: in CI it is always there.
 * Fixture tensors come from tests/fixtures/<name> (see tests/pytorch/). */
#ifndef PNEUMO_TESTUTIL_H
#define PNEUMO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka wants these first */
#include <cmocka.h>

/* $PNEUMO_DATA or ../shared/data; fails the current test if it is absent. */
const char *tu_data_dir(void);
/* Repository root ($PNEUMO_ROOT or "."). */
const char *tu_root(void);
/* "<root>/tests/fixtures/<name>" in a static buffer (one per thread call site). */
const char *tu_fixture(const char *name);
/* A fresh empty temporary folder (removed by tu_rmtree). */
const char *tu_tmpdir(void);
void tu_rmtree(const char *path);

/* Compare n floats; returns the max relative error
 * |got-want| / max(|want|, floor) and prints the first 5 worst entries when
 * it is above rtol. floor keeps near-zero entries from dominating. */
double tu_max_rel_err(const char *what, const float *got, const float *want, size_t n,
                      double floor, double rtol);
#define tu_assert_close(what, got, want, n, floor, rtol)                                  \
    do {                                                                                  \
        double tu_e_ = tu_max_rel_err((what), (got), (want), (n), (floor), (rtol));       \
        if (!(tu_e_ <= (rtol)))                                                           \
            fail_msg("%s: max relative error %.3g > %.3g", (what), tu_e_, (double)(rtol)); \
    } while (0)

/* Relative tolerance of fp32 oneDNN results against PyTorch's float64
 * references: 1e-5 on CPUs with AVX-512 (oneDNN's jit:avx512_core kernels,
 * where the limits were calibrated), 4e-5 elsewhere: the jit:avx2 kernels sum
 * in other orders and block sizes (nChw8c), and their worst elements measured
 * 1.0e-5 .. 1.9e-5 (layer3/layer4 taps, logits, 3 Adam steps, the 5-epoch
 * head). A wrong result is orders of magnitude off either way. */
double tu_fp32_rtol(void);
#define TU_FP32_RTOL tu_fp32_rtol()

/* Deterministic pseudo-random floats in [lo, hi). */
void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

#endif
