#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (clang, ASan + UBSan) into
# build-fuzz/ and runs each for FUZZ_SECONDS (default 60) on a copy of its
# seed corpus fuzz/corpus/<target>/ (new inputs stay in build-fuzz/).
# Usage: fuzz/run.sh [target...]   targets: pickle pth safetensors image npy
# A crash, leak, timeout or out-of-memory writes build-fuzz/crashes/<target>-*
# and makes this script fail: add that file to fuzz/corpus/<target>/ once fixed
# (tests/test_weights_corpus.c replays the corpus in `make test`).
set -eu
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
mkdir -p "$OUT/crashes"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pickle pth safetensors image npy)
BASE="-std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc"
fail=0
for t in "${targets[@]}"; do
    bin="$OUT/fuzz_$t"
    case "$t" in
    pickle | pth | safetensors) # the model-file readers (src/io)
        SRC=$(ls src/core/*.c src/io/*.c)
        FLAGS="$BASE $(pkg-config --cflags libzip libcjson libcrypto)"
        LIBS="$(pkg-config --libs libzip libcjson libcrypto) -lm -lpthread" ;;
    image) # the JPEG/PNG/DICOM decoders and the resize (src/data); the GDCM bridge is C++
        GDCM_INC=$(ls -d /usr/include/gdcm-3.* | head -1)
        ${CXX:-clang++} -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=vptr \
            -Iinclude -Isrc -I"$GDCM_INC" -c src/data/dicom_gdcm.cc -o "$OUT/dicom_gdcm.o"
        SRC="src/data/image.c src/data/jpeg.c src/data/png.c src/data/resize.c src/data/dicom.c"
        SRC="$SRC src/data/dicom_walk.c $OUT/dicom_gdcm.o $(ls src/core/*.c)"
        FLAGS="$BASE -ffp-contract=off $(pkg-config --cflags libpng)"
        LIBS="$(pkg-config --libs libjpeg libpng libcrypto) -lgdcmMSFF -lgdcmDSED -lgdcmCommon -lstdc++ -lm -lpthread" ;;
    npy) # the .npy header parser (src/data)
        SRC="src/data/npy.c src/core/status.c"
        FLAGS="$BASE"
        LIBS="-lm" ;;
    *) echo "unknown fuzz target '$t' (pickle pth safetensors image npy)" >&2; exit 2 ;;
    esac
    echo "== building $bin"
    # shellcheck disable=SC2086
    $CC $FLAGS -o "$bin" "fuzz/fuzz_$t.c" $SRC $LIBS
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
