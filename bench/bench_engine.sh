#!/usr/bin/env bash
# ResNet-18 forward images/s of every engine a user would pick, measured in
# the same run on this machine: `pneumo bench` (fp32, bf16, int8, Winograd;
# 1 thread and all cores; beside a busy neighbour, static and dynamic
# schedule), Debian's PyTorch (bench/torch_resnet.py: eager, TorchScript
# freeze + channels_last, bf16 autocast where the CPU has avx512_bf16, FX
# int8 on the onednn engine), ONNX Runtime from npm's onnxruntime-node (the
# model from torch.onnx.export; also beside a busy neighbour), and the
# machine's own peak from bench/peak.c; prints a markdown table with the
# ratio to the best peer and the fraction of the peak (bench/compare_engine.py).
#   BENCH_ITERS=K   timed batches per workload (default 5)
#   BENCH_BATCH=N   images per batch (default 32)
#   BENCH_BUSY=S    longest a busy-neighbour workload may take (default 120 s)
#   BENCH_TRAIN=0   skip the training-step rows (pneumo and PyTorch)
#   BENCH_REPEAT=R  run every engine R times, the rounds interleaved, and show
#                   each row's best round (default 1; for a VM whose host
#                   steals cycles, where one round can be tens of % off)
#   BENCH_OUT=DIR   also keep every round's JSON files in DIR
# ONNX Runtime is installed once (npm install --ignore-scripts) into the same
# cache folder tests/test_onnx.sh uses; without node/npm its rows are left out.
# Timings are only meaningful on a quiet machine.
set -eu
cd "$(dirname "$0")/.."
BIN="${PNEUMO_BIN:-$PWD/build/pneumo}"
PY="${PYTHON:-/usr/bin/python3}"
ITERS="${BENCH_ITERS:-5}" BATCH="${BENCH_BATCH:-32}" BUSY="${BENCH_BUSY:-120}"
REPEAT="${BENCH_REPEAT:-1}"
NOTRAIN=""
[ "${BENCH_TRAIN:-1}" = 0 ] && NOTRAIN="--no-train"
NCPU=$(nproc)
d=$(mktemp -d)
spin=""
trap '[ -n "$spin" ] && kill "$spin" 2>/dev/null; rm -rf "$d"' EXIT
cc -O2 bench/peak.c -o "$d/peak"
npmdir=${PNEUMO_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pneumo-test/npm}
have_ort=0
if command -v node >/dev/null && command -v npm >/dev/null; then
    if [ ! -d "$npmdir/node_modules/onnxruntime-node" ]; then
        part="$npmdir.part.$$"
        rm -rf "$part"; mkdir -p "$part"
        if (cd "$part" && timeout 300 npm install --ignore-scripts --no-audit --no-fund onnxruntime-node \
                >"$d/npm.log" 2>&1); then
            rm -rf "$npmdir"; mkdir -p "$(dirname "$npmdir")"; mv "$part" "$npmdir"
        else
            rm -rf "$part"; echo "(npm install onnxruntime-node failed: no ONNX Runtime rows)" >&2
        fi
    fi
    if [ -d "$npmdir/node_modules/onnxruntime-node" ] && "$PY" bench/export_onnx.py "$d/r18.onnx" 2>"$d/onnx.log"; then
        have_ort=1
    fi
fi
# R rounds, each engine once per round: a slow stretch of the host hits
# every engine alike, and compare_engine.py keeps each row's best round
peaks="" pns="" tos="" orts="" obusy=""
for r in $(seq 1 "$REPEAT"); do
    [ "$REPEAT" -gt 1 ] && echo "(round $r of $REPEAT)" >&2
    "$d/peak" >"$d/peak.$r.json"
    "$BIN" bench --json --iters "$ITERS" --batch "$BATCH" --dtype all --busy "$BUSY" $NOTRAIN >"$d/pneumo.$r.json"
    "$PY" bench/torch_resnet.py --json --iters "$ITERS" --batch "$BATCH" $NOTRAIN >"$d/torch.$r.json"
    peaks="$peaks${peaks:+,}$d/peak.$r.json" pns="$pns${pns:+,}$d/pneumo.$r.json"
    tos="$tos${tos:+,}$d/torch.$r.json"
    if [ "$have_ort" = 1 ]; then
        NODE_PATH="$npmdir/node_modules" node bench/ort_resnet.js "$d/r18.onnx" "$BATCH" "$ITERS" 1 "$NCPU" >"$d/ort.$r.json"
        orts="$orts${orts:+,}$d/ort.$r.json"
        if [ "$NCPU" -gt 1 ]; then # the same busy neighbour as pneumo bench --busy: one spinning process
            timeout "$BUSY" sh -c 'while :; do :; done' & spin=$!
            NODE_PATH="$npmdir/node_modules" node bench/ort_resnet.js "$d/r18.onnx" "$BATCH" "$ITERS" "$NCPU" >"$d/ort_busy.$r.json"
            kill "$spin" 2>/dev/null || true; spin=""
            obusy="$obusy${obusy:+,}$d/ort_busy.$r.json"
        fi
    fi
done
if [ -n "${BENCH_OUT:-}" ]; then mkdir -p "$BENCH_OUT" && cp "$d"/*.json "$BENCH_OUT"/; fi
ort=()
[ -n "$orts" ] && ort+=("$orts")
[ -n "$obusy" ] && ort+=("$obusy")
"$PY" bench/compare_engine.py "$peaks" "$pns" "$tos" "${ort[@]}"
