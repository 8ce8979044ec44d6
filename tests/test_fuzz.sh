#!/usr/bin/env bash
# make fuzz must not rot: every libFuzzer target (the Makefile's FUZZ_TARGETS:
# pickle pth safetensors image npy multipart csv dicom) is built by the Makefile (clang, ASan + UBSan, build-fuzz/) and run for
# FUZZ_SECONDS (default 3) on its seed corpus. A target that does not build, or
# an input that crashes, leaks, hangs or runs out of memory, fails this test.
# Skipped (exit 77) only when clang itself is not installed.
set -u
cd "$(dirname "$0")/.."
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "SKIP: $CC not found, so the fuzz targets cannot be built (make deps installs clang and libclang-rt-dev)"
    exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# a make of its own (not the jobserver or the variables of a calling make test /
# make asan): the fuzz build always goes to build-fuzz/ with clang's flags
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} --no-print-directory -j2 fuzz \
    FUZZ_CC="$CC" FUZZ_SECONDS="${FUZZ_SECONDS:-3}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FAIL: make fuzz"
    exit 1
fi
grep -E '^== fuzzing|^stat::number_of_executed_units' "$log"
want=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} --no-print-directory -s print-FUZZ_TARGETS | wc -w)
n=$(grep -c '^== fuzzing' "$log")
[ "$want" -ge 6 ] || { echo "FAIL: the Makefile lists $want fuzz targets (6 expected at least)"; exit 1; }
[ "$n" -eq "$want" ] || { echo "FAIL: $n of $want fuzz targets ran"; exit 1; }
echo "ok: $n fuzz targets built and ran"
