#!/usr/bin/env bash
# Runs the libFuzzer targets that `make fuzz` builds into build-fuzz/fuzz/
# (clang, ASan + UBSan, linked from the Makefile's objects and
# build-fuzz/libpneumo_core.a), each for FUZZ_SECONDS (default 60) on a copy
# of its seed corpus fuzz/corpus/<target>/ (new inputs stay in build-fuzz/).
# Usage: make fuzz [FUZZ_SECONDS=N]      (builds, then runs this script)
#        fuzz/run.sh [target...]         targets: pickle pth safetensors image npy multipart dicom csv
# A crash, leak, timeout or out-of-memory writes build-fuzz/crashes/<target>-*
# and makes this script fail: add that file to fuzz/corpus/<target>/ once fixed
# (tests/test_weights_corpus.c replays the corpus in `make test`).
set -eu
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$OUT/crashes"
# leaks inside the codecs GDCM calls (not pneumo's): fuzz/lsan.supp. LSan
# reads one suppressions file, the last one named: ours goes after the
# caller's options (tests/run.sh names tests/lsan.supp, which, first in the
# list, used to win, so a 3-s campaign of make test that reached OpenJPEG's
# leak on a corrupt JPEG 2000 frame failed)
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/fuzz/lsan.supp"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pickle pth safetensors image npy multipart csv dicom)
fail=0
for t in "${targets[@]}"; do
    case "$t" in
    pickle | pth | safetensors | image | npy | multipart | dicom | csv) ;;
    *) echo "unknown fuzz target '$t' (pickle pth safetensors image npy multipart dicom csv)" >&2; exit 2 ;;
    esac
    bin="$OUT/fuzz/fuzz_$t"
    if [ ! -x "$bin" ]; then
        echo "!! $bin is not built: run 'make fuzz' (or make BUILD=$OUT CC=clang ... fuzz-bins)" >&2
        exit 2
    fi
    work="$OUT/corpus-$t"
    mkdir -p "$work"
    cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
    echo "== fuzzing $t for ${SECS}s"
    if ! "$bin" "$work" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$OUT/crashes/$t-" \
        >"$OUT/fuzz_$t.log" 2>&1; then
        echo "!! fuzz_$t failed, see $OUT/fuzz_$t.log and $OUT/crashes/"
        tail -n 40 "$OUT/fuzz_$t.log"
        fail=1
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$OUT/fuzz_$t.log" || true
    fi
done
exit $fail
