#!/usr/bin/env bash
# Training benchmark (bench/bench_train.sh): pneumo's trainable ResNet-18 (src/model) against
# PyTorch (Debian python3-torch) on the same workloads in the same run:
# train step per freeze level and eval forward, batch 32, 224x224.
#   BENCH_BATCH, BENCH_THREADS (default "2"), BENCH_ITERS, BENCH_LEVELS override.
#   BENCH_DNN_VERBOSE=1 adds a second table from separate runs: oneDNN's verbose exec
#   times summed per step (pneumo: every primitive; PyTorch: its bundled oneDNN, i.e.
#   convolutions and reorders; its batch norm, ReLU, pooling and add are ATen code).
# Prints img/s (best of BENCH_ITERS after one warm-up), CPU seconds per image (user+sys,
# getrusage, mean over the timed iterations: the robust number on a loaded machine; use
# BENCH_THREADS=1 for it) and the pneumo/PyTorch ratios of both (> 1 = pneumo better).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
N=${BENCH_BATCH:-32}
ITERS=${BENCH_ITERS:-3}
LEVELS=${BENCH_LEVELS:-eval fc layer4 layer3 none}
make -s -j2 "$BUILD/libpneumo.a"
bin="$BUILD/bench/engine_train"
mkdir -p "$BUILD/bench"
PKGS="libjpeg libpng libzip zlib libcjson libcurl cairo libcrypto"
${CC:-gcc} -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc bench/engine_train.c src/cli/bench_run.c \
    "$BUILD/libpneumo.a" \
    $(pkg-config --libs $PKGS) -ldnnl -lgomp -lpthread -lm -o "$bin"
rate() { sed -n 's/.* \([0-9.]*\) img\/s.*/\1/p'; }
cpus() { sed -n 's/.* \([0-9.]*\) cpu-s\/img.*/\1/p'; }
printf "%-14s %5s %7s %12s %11s %6s %12s %11s %6s\n" workload batch threads "pneumo img/s" \
    "torch img/s" ratio "pneumo cpu-s" "torch cpu-s" ratio
for t in ${BENCH_THREADS:-2}; do
    for what in $LEVELS; do
        po=$("$bin" "$what" "$N" "$t" "$ITERS")
        qo=$("$PY" bench/engine_torch.py "$what" "$N" "$t" "$ITERS")
        p=$(echo "$po" | rate); q=$(echo "$qo" | rate)
        pc=$(echo "$po" | cpus); qc=$(echo "$qo" | cpus)
        r=$(awk -v a="$p" -v b="$q" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        rc=$(awk -v a="$pc" -v b="$qc" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')
        name=$what; [ "$what" = eval ] && name=forward-eval || name="train-$what"
        printf "%-14s %5s %7s %12s %11s %6s %12s %11s %6s\n" "$name" "$N" "$t" "$p" "$q" "$r" \
            "$pc" "$qc" "$rc"
    done
done
if [ "${BENCH_DNN_VERBOSE:-0}" = 1 ]; then
    sum() { "$PY" bench/dnn_verbose_sum.py "$ITERS"; }
    echo
    echo "oneDNN verbose exec time per step (ms), summed:"
    printf "%-14s %7s %-44s %-44s\n" workload threads pneumo torch
    for t in ${BENCH_THREADS:-2}; do
        for what in $LEVELS; do
            p=$(BENCH_DNN_VERBOSE=1 "$bin" "$what" "$N" "$t" "$ITERS" | sum | sed 's/dnn-ms\/step //')
            q=$(BENCH_DNN_VERBOSE=1 "$PY" bench/engine_torch.py "$what" "$N" "$t" "$ITERS" | sum |
                sed 's/dnn-ms\/step //')
            name=$what; [ "$what" = eval ] && name=forward-eval || name="train-$what"
            printf "%-14s %7s %-44s %-44s\n" "$name" "$t" "$p" "$q"
        done
    done
fi
echo "(timings on a shared machine are noisy; rerun on a quiet one)"
