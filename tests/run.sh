#!/usr/bin/env bash
# Runs every test binary given on the command line (cmocka) and every
# tests/test_*.sh script, then prints one summary line CI can read:
#   "N passed, N failed" (", N skipped" when some were skipped).
# Exits non-zero when any test failed or any binary crashed.
set -u
cd "$(dirname "$0")/.."
export PNEUMO_DATA="${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}"
export PNEUMO_ROOT="$PWD"
export PNEUMO_BIN="$PWD/${BUILD:-build}/pneumo"
export PYTHON="${PYTHON:-/usr/bin/python3}"
# Under make asan: ignore leaks owned by fontconfig and Open MPI (see
# tests/lsan.supp), without listing the suppressions used after every run.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Open MPI's plugins (mca_*.so, unloaded at MPI_Finalize) have no frame
# pointers: ASan's fast unwinder stops in them, so their start-up
# allocations (kept for the process's life) show one "<unknown module>"
# frame that no suppression can name. The MPI tests use the slow (DWARF)
# unwinder, which reaches libmpi's frames; other builds ignore ASAN_OPTIONS.
mpi_asan="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@" tests/test_*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    start=$(date +%s)
    case "$t" in
        *test_mpi*.sh) ASAN_OPTIONS=$mpi_asan bash "$t" >"$log" 2>&1 ;;
        *.sh) bash "$t" >"$log" 2>&1 ;;
        *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    cat "$log"
    secs=$(( $(date +%s) - start ))
    case "$t" in
    *.sh)
        if [ $rc -eq 0 ]; then passed=$((passed + 1)); elif [ $rc -eq 77 ]; then skipped=$((skipped + 1)); else failed=$((failed + 1)); failures+=("$t"); fi
        ;;
    *)
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
        s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
        p=${p:-0} f=${f:-0} s=${s:-0}
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "!! $t exited with status $rc"; fi
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        [ "$f" -gt 0 ] && failures+=("$t")
        ;;
    esac
    echo "-- $t: exit $rc, ${secs}s"
done
if [ ${#failures[@]} -gt 0 ]; then echo "failing: ${failures[*]}"; fi
if [ $skipped -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ] && [ $passed -gt 0 ]
