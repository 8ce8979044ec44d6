#!/usr/bin/env bash
# ResNet-18 forward (and PyTorch's training step) images/s: `pneumo bench`
# beside the same workloads in Debian's PyTorch (bench/torch_resnet.py),
# measured in the same run; prints a markdown table with the ratio.
#   BENCH_ITERS=K   timed batches per workload (default 5)
# Timings are only meaningful on a quiet machine.
set -eu
cd "$(dirname "$0")/.."
BIN="${PNEUMO_BIN:-$PWD/build/pneumo}"
PY="${PYTHON:-/usr/bin/python3}"
ITERS="${BENCH_ITERS:-5}"
p=$(mktemp) t=$(mktemp)
trap 'rm -f "$p" "$t"' EXIT
"$BIN" bench --json --iters "$ITERS" >"$p"
"$PY" bench/torch_resnet.py --json --iters "$ITERS" >"$t"
"$PY" bench/compare_engine.py "$p" "$t"
