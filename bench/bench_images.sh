#!/usr/bin/env bash
# Image pipeline benchmark: read + decode + resize + normalize of the shared
# originals (../shared/data/chest_xray, 827 JPEGs, median 1280x872), pneumo
# exact and --fast-decode beside Pillow 9.4 + torchvision 0.14 measured in the
# same run, with 1 and 2 threads/workers. Also how much fast-decode changes
# the tensors.
#
# Two rates per line: img/s (wall clock) and img/cpu-s (images per CPU second
# the workers used = img/s per busy core). On a shared 2-core machine the wall
# rates swing with the other load; the CPU rates are steadier. Each figure is
# the best of REPS runs (default 3).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${PNEUMO_DATA:-../shared/data}
PY=${PYTHON:-/usr/bin/python3}
SET="$DATA/chest_xray"
REPS=${REPS:-3}
[ -d "$SET" ] || { echo "bench_images: $SET is missing"; exit 1; }
make -s "$BUILD/libpneumo.a"
mkdir -p "$BUILD/bench"
PKGS="libjpeg libpng libzip zlib libcjson cairo libcrypto"
${CC:-gcc} -std=c17 -O2 -D_GNU_SOURCE -Iinclude bench/bench_images.c -o "$BUILD/bench/bench_images" \
    "$BUILD/libpneumo.a" $(pkg-config --libs $PKGS) -ldnnl -lgomp -lpthread -lm
B="$BUILD/bench/bench_images"
cat "$SET"/*/*/*.jpeg >/dev/null   # warm the page cache for both sides

# best "<wall img/s> <img per cpu-s>" of REPS runs of a command
best() {
    local bw=0 bc=0 line w c
    for _ in $(seq "$REPS"); do
        line=$("$@")
        w=$(sed -n 's/.* img\/s \([0-9.]*\).*/\1/p' <<<"$line")
        c=$(sed -n 's/.* img\/cpu_s \([0-9.]*\).*/\1/p' <<<"$line")
        bw=$(echo "if ($w > $bw) $w else $bw" | bc -l)
        bc=$(echo "if ($c > $bc) $c else $bc" | bc -l)
    done
    echo "$bw $bc"
}
row() { # name threads wall cpu pillow_wall pillow_cpu
    printf "%-22s %7d %8.1f %11.1f %10.1f %8.2fx %8.2fx\n" "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)" \
        "$4" "$(echo "$3 / $5" | bc -l)" "$(echo "$4 / $6" | bc -l)"
}
echo "images: $SET ($(ls "$SET"/*/*/*.jpeg | wc -l) JPEGs); $(nproc) cores; best of $REPS runs;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-22s %7s %8s %11s %10s %9s %9s\n" "pipeline" "threads" "img/s" "img/s/core" "img/cpu-s" \
    "wall vs" "cpu vs"
for t in 1 2; do
    read -r pw pc < <(best "$PY" bench/bench_images_pillow.py "$SET" "$t")
    read -r ew ec < <(best "$B" speed "$SET" exact "$t")
    read -r fw fc < <(best "$B" speed "$SET" fast "$t")
    row "Pillow+torchvision" "$t" "$pw" "$pc" "$pw" "$pc"
    row "pneumo exact" "$t" "$ew" "$ec" "$pw" "$pc"
    row "pneumo --fast-decode" "$t" "$fw" "$fc" "$pw" "$pc"
done
echo "(\"vs\" = ratio to Pillow+torchvision with the same number of threads/workers)"
"$B" diff "$SET"
