#!/usr/bin/env bash
# The scaling row of make bench (docs/mpi.md): on this machine,
#   1. the feature pass (--freeze fc, --no-cache): images/s of 1 process x 2
#      threads against 2 MPI processes x 1 thread (expect about equal: the
#      difference is the overhead of the sharding and the gather);
#   2. a --freeze layer4 training step (batch 32, features cached): images/s
#      of the same two set-ups, and the 2-process step split into compute and
#      collectives (PNEUMO_MPI_STATS: the gradient allreduce and the
#      synchronised BatchNorms);
#   3. MPI_Allreduce of one step's gradient bucket (--freeze layer4: 8,394,754
#      floats, 33.6 MB) between 2 ranks on this machine (shared memory) and
#      across two network namespaces joined by a veth pair (TCP; needs root,
#      else a SKIP line says so).
#   BENCH_SCALING_IMAGES (default 160 training images) overrides.
set -eu
cd "$(dirname "$0")/.."
BIN=${PNEUMO_BIN:-$PWD/build/pneumo}
PY=${PYTHON:-/usr/bin/python3}
DATA=${PNEUMO_DATA:-$(cd .. && pwd)/shared/data}/chest_xray
NIMG=${BENCH_SCALING_IMAGES:-160}
command -v mpirun >/dev/null || { echo "SKIP scaling: no mpirun (apt-get install openmpi-bin)"; exit 0; }
"$BIN" version | grep -q "^MPI: built in" || { echo "SKIP scaling: $BIN has no MPI (make MPI=1)"; exit 0; }
tmp=$(mktemp -d)
A=pbA$$ B=pbB$$
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp
MPI=(mpirun --oversubscribe --bind-to none -np 2)

# data: NIMG/2 images of each class for train, 8 + 8 for val and test
for s in train val test; do
    for c in NORMAL PNEUMONIA; do
        mkdir -p "$tmp/data/$s/$c"
        [ $s = train ] && k=$((NIMG / 2)) || k=8
        ls "$DATA/$s/$c" | head -n $k | while read -r f; do ln -s "$DATA/$s/$c/$f" "$tmp/data/$s/$c/$f"; done
    done
done
"$PY" - "$tmp/r18.pth" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])
PYEOF
ntot=$(find -L "$tmp/data" -type f | wc -l)
secs() { # LOG command...: runs it (output to LOG), prints the wall seconds
    local log=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    "$@" >"$log" 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
train() { "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --seed 1 --epochs 1 "$@"; }

printf "%-44s %10s %10s\n" "scaling (this machine)" "1 x 2 thr" "2 x 1 thr"
f1=$(secs "$tmp/f1.log" train --out "$tmp/o1" --threads 2 --no-cache)
f2=$(secs "$tmp/f2.log" "${MPI[@]}" "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" \
    --seed 1 --epochs 1 --out "$tmp/o2" --threads 1 --no-cache)
printf "%-44s %10.1f %10.1f\n" "feature pass, images/s ($ntot images)" "$(echo "$ntot / $f1" | bc -l)" \
    "$(echo "$ntot / $f2" | bc -l)"
export XDG_CACHE_HOME="$tmp/cache"
train --out "$tmp/warm" --threads 2 --freeze layer4 --batch 32 >/dev/null 2>&1 # fill the cache
ep() { sed -n 's/^epoch 1\/1 .* \([0-9.]*\)s$/\1/p' "$1"; }
train --out "$tmp/l1" --threads 2 --freeze layer4 --batch 32 >"$tmp/l1.log" 2>&1
PNEUMO_MPI_STATS=1 "${MPI[@]}" "$BIN" train --data "$tmp/data" --weights "$tmp/r18.pth" --seed 1 \
    --epochs 1 --out "$tmp/l2" --threads 1 --freeze layer4 --batch 32 >"$tmp/l2.log" 2>&1
e1=$(ep "$tmp/l1.log") e2=$(ep "$tmp/l2.log")
printf "%-44s %10.1f %10.1f\n" "--freeze layer4 epoch, train images/s" "$(echo "$NIMG / $e1" | bc -l)" \
    "$(echo "$NIMG / $e2" | bc -l)"
steps=$(((NIMG + 31) / 32))
ar=$(sed -n 's/^pneumo: rank 0 .* allreduce [0-9]* calls \([0-9.]*\) s .*/\1/p' "$tmp/l2.log")
ar1=$(sed -n 's/^pneumo: rank 1 .* allreduce [0-9]* calls \([0-9.]*\) s .*/\1/p' "$tmp/l2.log")
printf "%-44s %10s %10.3f\n" "  per step: seconds (2 ranks: epoch / $steps)" "$(printf %.3f "$(echo "$e1 / $steps" | bc -l)")" \
    "$(echo "$e2 / $steps" | bc -l)"
printf "%-44s %10s %10.3f\n" "  of which allreduces (rank 0 / rank 1 avg)" "-" \
    "$(echo "($ar + $ar1) / 2 / $steps" | bc -l)"

# the gradient bucket alone
mpicc -O2 -o "$tmp/mpi_allreduce" bench/mpi_allreduce.c
"${MPI[@]}" "$tmp/mpi_allreduce" 8394754 10 | sed 's/^/shared memory: /'
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! ip netns add "$A" 2>/dev/null; then
    echo "SKIP two-namespace allreduce: needs root and ip netns"
    exit 0
fi
ip netns add "$B"
ip link add vba$$ type veth peer name vbb$$
ip link set vba$$ netns "$A"
ip link set vbb$$ netns "$B"
ip -n "$A" addr add 10.231.8.1/24 dev vba$$
ip -n "$B" addr add 10.231.8.2/24 dev vbb$$
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set vba$$ up
ip -n "$B" link set vbb$$ up
cat >"$tmp/agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift;; *) break;; esac; done
case "\$1" in 10.231.8.1) ns=$A;; *) ns=$B;; esac
shift
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod +x "$tmp/agent"
printf '10.231.8.1 slots=1\n10.231.8.2 slots=1\n' >"$tmp/hosts"
ip netns exec "$A" mpirun --hostfile "$tmp/hosts" --mca plm_rsh_agent "$tmp/agent" \
    --mca btl tcp,self --mca btl_tcp_if_include 10.231.8.0/24 --mca oob_tcp_if_include 10.231.8.0/24 \
    -np 2 "$tmp/mpi_allreduce" 8394754 10 | sed 's/^/two namespaces (veth, TCP): /'
