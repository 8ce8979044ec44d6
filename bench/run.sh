#!/usr/bin/env bash
# make bench: runs every bench/bench_*.sh in order. Each prints its own
# table: pneumo beside PyTorch/Pillow measured in the same run, and the ratio.
set -u
cd "$(dirname "$0")/.."
export PNEUMO_DATA="${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}"
export PNEUMO_BIN="$PWD/${BUILD:-build}/pneumo"
export PYTHON="${PYTHON:-/usr/bin/python3}"
rc=0
for b in bench/bench_*.sh; do
    [ -e "$b" ] || continue
    echo "== $b"
    bash "$b" || rc=1
done
exit $rc
