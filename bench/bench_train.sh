#!/usr/bin/env bash
# Training benchmark (bench/bench_train.sh): pneumo's trainable ResNet-18 (src/model) against
# PyTorch (Debian python3-torch) on the same workloads in the same run:
# train step per freeze level and eval forward, batch 32, 224x224.
#   BENCH_BATCH, BENCH_THREADS (default "2"), BENCH_ITERS, BENCH_LEVELS override.
#   bf16 table (CPUs with avx512_bf16; BENCH_BF16_LEVELS, default "layer4 layer3 none",
#   empty to skip): pneumo's bf16 training (pn_model_config.bf16) against PyTorch's CPU
#   autocast (torch.autocast('cpu', dtype=torch.bfloat16)) in the same run, with pneumo's
#   fp32 rate of the same level beside it (bf16/fp32 > 1 = bf16 faster).
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
bin="$BUILD/bench/engine_train"
make -s -j2 BUILD="$BUILD" "$bin"
rate() { sed -n 's/.* \([0-9.]*\) img\/s.*/\1/p'; }
cpus() { sed -n 's/.* \([0-9.]*\) cpu-s\/img.*/\1/p'; }
printf "%-14s %5s %7s %12s %11s %6s %12s %11s %6s\n" workload batch threads "pneumo img/s" \
    "torch img/s" ratio "pneumo cpu-s" "torch cpu-s" ratio
declare -A fp32
for t in ${BENCH_THREADS:-2}; do
    for what in $LEVELS; do
        po=$("$bin" "$what" "$N" "$t" "$ITERS")
        qo=$("$PY" bench/engine_torch.py "$what" "$N" "$t" "$ITERS")
        p=$(echo "$po" | rate); q=$(echo "$qo" | rate)
        fp32[$t-$what]=$p
        pc=$(echo "$po" | cpus); qc=$(echo "$qo" | cpus)
        r=$(awk -v a="$p" -v b="$q" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        rc=$(awk -v a="$pc" -v b="$qc" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')
        name=$what; [ "$what" = eval ] && name=forward-eval || name="train-$what"
        printf "%-14s %5s %7s %12s %11s %6s %12s %11s %6s\n" "$name" "$N" "$t" "$p" "$q" "$r" \
            "$pc" "$qc" "$rc"
    done
done
BF16_LEVELS=${BENCH_BF16_LEVELS-layer4 layer3 none}
if [ -n "$BF16_LEVELS" ] && ! grep -qw avx512_bf16 /proc/cpuinfo; then
    echo
    echo "bf16 training: skipped, this CPU has no avx512_bf16 (pneumo would train in fp32;"
    echo "PyTorch's autocast emulates bf16 there)"
elif [ -n "$BF16_LEVELS" ]; then
    echo
    echo "bf16 training (pneumo: bf16 convs, fp32 master weights; PyTorch: CPU autocast bf16):"
    printf "%-14s %5s %7s %12s %11s %6s %12s %11s %6s %9s\n" workload batch threads \
        "pneumo img/s" "torch img/s" ratio "pneumo cpu-s" "torch cpu-s" ratio "bf16/fp32"
    for t in ${BENCH_THREADS:-2}; do
        for what in $BF16_LEVELS; do
            f=${fp32[$t-$what]:-}
            [ -n "$f" ] || f=$("$bin" "$what" "$N" "$t" "$ITERS" | rate)
            po=$("$bin" "$what" "$N" "$t" "$ITERS" 224 bf16)
            qo=$("$PY" bench/engine_torch.py "$what" "$N" "$t" "$ITERS" 224 bf16)
            case "$po" in *"bf16->fp32"*) echo "(pneumo fell back to fp32 for $what)";; esac
            p=$(echo "$po" | rate); q=$(echo "$qo" | rate)
            pc=$(echo "$po" | cpus); qc=$(echo "$qo" | cpus)
            r=$(awk -v a="$p" -v b="$q" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
            rc=$(awk -v a="$pc" -v b="$qc" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')
            sp=$(awk -v a="$p" -v b="$f" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
            printf "%-14s %5s %7s %12s %11s %6s %12s %11s %6s %9s\n" "train-$what" "$N" "$t" \
                "$p" "$q" "$r" "$pc" "$qc" "$rc" "$sp"
        done
    done
fi
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
