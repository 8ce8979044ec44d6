#!/usr/bin/env bash
# pneumo under Open MPI (docs/mpi.md) on the 62-image subset of
# ../shared/data/chest_xray (tests/pytorch/app_parity.py make: random-weights
# ResNet-18 from PyTorch):
#  - the sharded feature pass: mpirun -np 2 and -np 3 (an uneven split:
#    48 = 16+16+16, 8 = 3+3+2, 6 = 2+2+2) fill the feature cache with exactly
#    the bytes one process writes (every feature bit for bit), and --freeze fc
#    training gives the identical model.safetensors;
#  - sharded eval: the same JSON metrics as one process, and with --skip-bad
#    the same unreadable image reported; sharded predict: the same rows, bad
#    file report, CAM files and exit status;
#  - --resume under MPI: 2 epochs + --resume to 3 == an unbroken 3-epoch run
#    == one process;
#  - a rank that fails (an unreadable image in the last rank's share) ends
#    the job: non-zero exit, the message names the rank, the host and the
#    file; a killed rank ends the job within seconds, leaving no model file;
#  - --freeze layer4 data-parallel: see tests/test_mpi_train.sh.
# Skips (exit 77) with the reason where mpirun or an MPI build is missing.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
fail() { echo "FAIL: $*"; exit 1; }
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (apt-get install openmpi-bin)"; exit 77; }
"$BIN" version | grep -q "^MPI: built in" ||
    { echo "SKIP: $BIN was built without MPI (make MPI=1 with libopenmpi-dev)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp
# Open MPI's own helper processes stay on this machine and its loopback
export OMPI_MCA_rmaps_base_oversubscribe=1
MPI=(mpirun --oversubscribe --bind-to none)
"$PY" tests/pytorch/app_parity.py make "$tmp"
host=$(hostname)

train() { # name ranks|1 [extra...]: features into $tmp/c_name, model into $tmp/o_name
    local name=$1 np=$2; shift 2
    local pre=()
    [ "$np" -gt 1 ] && pre=("${MPI[@]}" -np "$np")
    XDG_CACHE_HOME="$tmp/c_${CACHE:-$name}" "${pre[@]}" "$BIN" train --data "$tmp/data" \
        --weights "$tmp/r18.pth" --out "$tmp/o_$name" --seed 3 --batch 8 --epochs "${EP:-2}" \
        --threads 1 "$@" >"$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; fail "train $name"; }
}

# ---- features and --freeze fc ---------------------------------------------------
train one 1
train np2 2
train np3 3
n=$(find "$tmp/c_one" -name '*.bin' | wc -l)
[ "$n" = 62 ] || fail "one process cached $n features, want 62"
for r in np2 np3; do
    diff -r "$tmp/c_one" "$tmp/c_$r" >/dev/null || fail "$r: the cached features differ from one process's"
    cmp -s "$tmp/o_one/model.safetensors" "$tmp/o_$r/model.safetensors" ||
        fail "$r: model.safetensors differs from one process's"
    cmp -s "$tmp/o_one/predictions.csv" "$tmp/o_$r/predictions.csv" || fail "$r: predictions.csv differs"
    grep -q "features train: 48/48" "$tmp/$r.log" || { cat "$tmp/$r.log"; fail "$r: job progress"; }
    grep -q "0 hits, 62 computed" "$tmp/$r.log" || fail "$r: the job's cache counts"
    [ "$(grep -c '^epoch 2/2' "$tmp/$r.log")" = 1 ] || fail "$r: rank 0 alone should report"
done
# the test can fail: another seed gives another model
CACHE=np2 train seed4 2 --seed 4
cmp -s "$tmp/o_one/model.safetensors" "$tmp/o_seed4/model.safetensors" && fail "--seed ignored under MPI"
# a second run reuses the node's cache: every feature a hit
CACHE=np3 train again 3
grep -q "62 hits, 0 computed" "$tmp/again.log" || { cat "$tmp/again.log"; fail "cache reuse"; }
echo "features and --freeze fc: np 2 and 3 == one process: OK"

# ---- eval -------------------------------------------------------------------
for s in test train; do
    "$BIN" eval --model "$tmp/o_one/model.safetensors" --data "$tmp/data" --split $s --json \
        --threads 1 >"$tmp/e1.json"
    "${MPI[@]}" -np 3 "$BIN" eval --model "$tmp/o_one/model.safetensors" --data "$tmp/data" \
        --split $s --json --threads 1 >"$tmp/e3.json"
    cmp -s "$tmp/e1.json" "$tmp/e3.json" || { cat "$tmp/e1.json" "$tmp/e3.json"; fail "eval $s"; }
done
grep -q '"n":48' "$tmp/e3.json" || fail "eval under MPI lost items"

# ---- an unreadable image in the last rank's share ------------------------------------
cp -r "$tmp/data" "$tmp/bad"
printf 'not a jpeg' >"$tmp/bad/train/PNEUMONIA/zzz_broken.jpeg"
"$BIN" eval --model "$tmp/o_one/model.safetensors" --data "$tmp/bad" --split train --json \
    --threads 1 --skip-bad >"$tmp/b1.json" 2>"$tmp/b1.err"
"${MPI[@]}" -np 2 "$BIN" eval --model "$tmp/o_one/model.safetensors" --data "$tmp/bad" \
    --split train --json --threads 1 --skip-bad >"$tmp/b2.json" 2>"$tmp/b2.err" ||
    { cat "$tmp/b2.err"; fail "eval --skip-bad under MPI"; }
cmp -s "$tmp/b1.json" "$tmp/b2.json" || fail "eval --skip-bad: metrics differ"
cmp -s "$tmp/b1.err" "$tmp/b2.err" || { diff "$tmp/b1.err" "$tmp/b2.err"; fail "eval --skip-bad: report"; }
grep -q "zzz_broken.jpeg" "$tmp/b2.err" || fail "the skipped image is not named"
t0=$(date +%s)
if XDG_CACHE_HOME="$tmp/c_bad" "${MPI[@]}" -np 2 "$BIN" train --data "$tmp/bad" \
    --weights "$tmp/r18.pth" --out "$tmp/o_bad" --threads 1 >"$tmp/bad.log" 2>&1; then
    fail "a bad image without --skip-bad was accepted"
fi
grep -q "rank 1 of 2 on $host: .*zzz_broken.jpeg" "$tmp/bad.log" ||
    { cat "$tmp/bad.log"; fail "the failing rank's message (rank, host, file)"; }
[ $(($(date +%s) - t0)) -lt 60 ] || fail "the failed job took too long to end"
[ ! -e "$tmp/o_bad/model.safetensors" ] || fail "a failed job left a model"
# predict, sharded over 3 ranks: the same rows in argument order, the bad file
# reported in its place, the same CAM files, the same exit status (1)
rc1=0 rc3=0
"$BIN" predict --model "$tmp/o_one/model.safetensors" --threads 1 --cam "$tmp/cam1" \
    "$tmp/bad/train" "$tmp/bad/test" >"$tmp/p1.out" 2>"$tmp/p1.err" || rc1=$?
"${MPI[@]}" -np 3 "$BIN" predict --model "$tmp/o_one/model.safetensors" --threads 1 \
    --cam "$tmp/cam3" "$tmp/bad/train" "$tmp/bad/test" >"$tmp/p3.out" 2>"$tmp/p3.err" || rc3=$?
[ "$rc1" = 1 ] && [ "$rc3" = 1 ] || fail "predict with a bad file: exit $rc1 / $rc3, want 1 / 1"
[ "$(grep -c . "$tmp/p3.out")" -ge 56 ] || { cat "$tmp/p3.out"; fail "predict under MPI lost rows"; }
cmp -s "$tmp/p1.out" "$tmp/p3.out" || { diff "$tmp/p1.out" "$tmp/p3.out"; fail "predict rows differ"; }
diff <(grep '^pneumo' "$tmp/p1.err") <(grep '^pneumo' "$tmp/p3.err") || fail "predict: reports differ"
diff -r "$tmp/cam1" "$tmp/cam3" >/dev/null || fail "predict --cam: the CAM files differ"
[ "$(find "$tmp/cam3" -name '*.png' | wc -l)" = 54 ] || fail "predict --cam: want 54 CAMs"
echo "eval and predict sharded == one process, a failing rank ends the job: OK"

# ---- --resume under MPI ------------------------------------------------------------
EP=3 CACHE=one train full3 2
EP=2 CACHE=one train part 2
EP=3 CACHE=one train part 2 --resume
grep -q "^epoch 1/3" "$tmp/part.log" && fail "resume repeated epoch 1"
grep -q "^epoch 3/3" "$tmp/part.log" || fail "resume did not run epoch 3"
EP=3 CACHE=one train one3 1
for o in part one3; do
    cmp -s "$tmp/o_full3/model.safetensors" "$tmp/o_$o/model.safetensors" || fail "resume: $o differs"
done
echo "--resume under MPI == unbroken == one process: OK"

# ---- a killed rank ends the job within seconds ----------------------------------------
XDG_CACHE_HOME="$tmp/c_kill" "${MPI[@]}" -np 2 "$BIN" train --data "$tmp/data" \
    --weights "$tmp/r18.pth" --out "$tmp/o_kill" --freeze none --epochs 50 --batch 8 \
    --threads 1 >"$tmp/kill.log" 2>&1 &
mp=$!
victim=
for _ in $(seq 100); do
    for p in $(pgrep -P $mp 2>/dev/null); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p
    done
    [ -n "$victim" ] && grep -q "features" "$tmp/kill.log" && break
    sleep 0.2
done
[ -n "$victim" ] || { kill $mp; fail "rank 1 not found"; }
sleep 1
kill -9 "$victim"
t0=$(date +%s)
rc=0
for _ in $(seq 300); do kill -0 $mp 2>/dev/null || break; sleep 0.1; done
if kill -0 $mp 2>/dev/null; then kill $mp; fail "the job still runs 30 s after rank 1 was killed"; fi
wait $mp || rc=$?
secs=$(($(date +%s) - t0))
[ $rc -ne 0 ] || fail "a job with a killed rank exited 0"
grep -q "rank 1 .*on node $host .*signal 9" "$tmp/kill.log" ||
    { cat "$tmp/kill.log"; fail "mpirun did not name the killed rank, host and signal"; }
[ ! -e "$tmp/o_kill/model.safetensors" ] || fail "a killed job left a model"
echo "killed rank 1: the job ended in ${secs}s with exit $rc: OK"
