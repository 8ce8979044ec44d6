#!/usr/bin/env bash
# Robustness of runs (issue #15) on a small data set made here from
# ../shared/data (16 train, 8 val, 8 test images) and random ResNet-18
# weights made by PyTorch: runs never overwrite each other (the --out lock,
# a non-empty --out refused, unique default folders), the feature cache
# recovers from odd entries, interrupts say what is true.
set -eu
PY=${PYTHON:-/usr/bin/python3}
BIN=${PNEUMO_BIN:-build/pneumo}
SRC=${PNEUMO_DATA:-../shared/data}/chest_xray_resized224/test
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }
D="$tmp/data"
for c in NORMAL PNEUMONIA; do
    mkdir -p "$D/train/$c" "$D/val/$c" "$D/test/$c"
    ls "$SRC/$c" | sort | head -16 >"$tmp/list"
    i=0
    while read -r f; do
        if [ $i -lt 8 ]; then s=train; elif [ $i -lt 12 ]; then s=val; else s=test; fi
        cp "$SRC/$c/$f" "$D/$s/$c/"
        i=$((i + 1))
    done <"$tmp/list"
done
"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1] + "/r18.pth")
PYEOF
W="$tmp/r18.pth"
train() { "$BIN" train --data "$D" --weights "$W" --epochs 2 -j 2 "$@"; }

# 1. a finished run's folder is not replaced without a word
train --out "$tmp/a" >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; fail "train a"; }
cp "$tmp/a/metrics.json" "$tmp/a.metrics"
rc=0; train --out "$tmp/a" >"$tmp/a2.log" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$tmp/a2.log"; fail "a rerun into a finished --out: exit $rc, want 1"; }
grep -q -e "--out $tmp/a is not empty (it holds .*): choose a new folder, --resume to continue the run in it, or --force" "$tmp/a2.log" \
    || { cat "$tmp/a2.log"; fail "non-empty --out message"; }
grep -q "^epoch" "$tmp/a2.log" && fail "the refused run trained"
cmp -s "$tmp/a/metrics.json" "$tmp/a.metrics" || fail "the refused run changed metrics.json"
# --force replaces it; --resume continues it
train --out "$tmp/a" --force >"$tmp/a3.log" 2>&1 || { cat "$tmp/a3.log"; fail "--force"; }
train --out "$tmp/a" --epochs 3 --resume >"$tmp/a4.log" 2>&1 || { cat "$tmp/a4.log"; fail "--resume"; }
grep -q "^epoch 3/3" "$tmp/a4.log" || fail "--resume did not train epoch 3"

# 2. the lock: a folder locked by another run (here flock(1), as a stopped
#    pneumo holds it) is refused at once, and pneumo holds the lock while it runs
mkdir "$tmp/l"
rc=0; flock "$tmp/l" timeout 60 "$BIN" train --data "$D" --weights "$W" --epochs 2 --out "$tmp/l" \
    >"$tmp/l.log" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$tmp/l.log"; fail "a locked --out: exit $rc, want 1"; }
grep -q -e "--out $tmp/l is in use by another pneumo run" "$tmp/l.log" || { cat "$tmp/l.log"; fail "lock message"; }
[ -z "$(ls -A "$tmp/l")" ] || fail "the refused run wrote into the locked folder"
train --out "$tmp/l" --epochs 400 --no-cache >"$tmp/l2.log" 2>&1 &
pid=$!
held=0
for _ in $(seq 600); do
    if ! flock -n "$tmp/l" true; then held=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
done
wait $pid || { cat "$tmp/l2.log"; fail "the locked run"; }
[ $held = 1 ] || fail "pneumo train did not hold the --out lock while it ran"
flock -n "$tmp/l" true || fail "the lock outlived the run"

# 3. default folders: two runs in the same second get two folders
mkdir "$tmp/cwd"
( cd "$tmp/cwd" && train >"$tmp/d1.log" 2>&1 & cd "$tmp/cwd" && train >"$tmp/d2.log" 2>&1; wait ) \
    || { cat "$tmp/d1.log" "$tmp/d2.log"; fail "default --out runs"; }
[ "$(ls "$tmp/cwd/runs" | wc -l)" = 2 ] || { ls -l "$tmp/cwd/runs"; cat "$tmp/d1.log" "$tmp/d2.log"; fail "two runs, not two folders"; }
for r in "$tmp"/cwd/runs/*; do [ -s "$r/model.safetensors" ] || fail "$r: no model"; done

# 4. feature cache: an entry replaced by a folder, a FIFO and a link to
#    /dev/zero are recomputed (and repaired), the run never stops or hangs
ents=($(ls "$XDG_CACHE_HOME/pneumo/features" | grep '\.bin$' | head -3))
[ ${#ents[@]} = 3 ] || fail "no cache entries"
F="$XDG_CACHE_HOME/pneumo/features"
rm "$F/${ents[0]}" && mkdir -p "$F/${ents[0]}/x"
rm "$F/${ents[1]}" && mkfifo "$F/${ents[1]}"
rm "$F/${ents[2]}" && ln -s /dev/zero "$F/${ents[2]}"
touch "$F/${ents[0]%.bin}.bin.tmp.999999999.0"   # a killed run's temporary (no such pid)
timeout 120 "$BIN" train --data "$D" --weights "$W" --epochs 2 --out "$tmp/c" >"$tmp/c.log" 2>&1 \
    || { cat "$tmp/c.log"; fail "train with odd cache entries"; }
grep -q "feature cache: 29 hits, 3 computed, some entries were invalid and recomputed" "$tmp/c.log" \
    || { cat "$tmp/c.log"; fail "odd cache entries not recomputed"; }
for e in "${ents[@]}"; do [ -f "$F/$e" ] && [ ! -L "$F/$e" ] || fail "$e not repaired"; done
[ -e "$F/${ents[0]%.bin}.bin.tmp.999999999.0" ] && fail "a stale temporary file stayed in the cache"
# a read-only cache folder: a warning, and the run goes on without it
chmod 555 "$F"
if [ "$(id -u)" = 0 ]; then RO="setpriv --reuid=65534 --regid=65534 --clear-groups"; chmod -R a+rX "$tmp"; chmod a+rwx "$tmp"; else RO=; fi
$RO "$BIN" train --data "$D" --weights "$W" --epochs 2 --out "$tmp/ro" >"$tmp/ro.log" 2>&1 \
    || { cat "$tmp/ro.log"; fail "a read-only cache stopped the run"; }
grep -q "warning: feature cache: .*running without the disk feature cache" "$tmp/ro.log" || { cat "$tmp/ro.log"; fail "read-only cache warning"; }
chmod 755 "$F"
# 5. model files: inspect shows the recorded SHA-256 of the tensors; a flipped
#    bit in the tensor data is refused by eval naming the file and both hashes
#    (--no-verify reads it); a checkpoint given to inspect is described
M="$tmp/a/model.safetensors"
"$BIN" inspect -q "$M" >"$tmp/i.log" || fail "inspect"
grep -Eq "^integrity: tensors SHA-256 [0-9a-f]{64}, verified$" "$tmp/i.log" || { cat "$tmp/i.log"; fail "inspect: integrity line"; }
rec=$(sed -n 's/^integrity: tensors SHA-256 \([0-9a-f]*\),.*/\1/p' "$tmp/i.log")
cp "$M" "$tmp/flip.safetensors"
"$PY" -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)-1000]^=8; open(p,'wb').write(b)" "$tmp/flip.safetensors"
rc=0; "$BIN" eval --model "$tmp/flip.safetensors" --data "$D" >"$tmp/e.log" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$tmp/e.log"; fail "eval of a flipped model: exit $rc"; }
grep -q "flip.safetensors: the tensors changed after pneumo wrote the file: their SHA-256 is [0-9a-f]\{64\}, the file records $rec" "$tmp/e.log" \
    || { cat "$tmp/e.log"; fail "flipped model message"; }
"$BIN" eval --model "$tmp/flip.safetensors" --data "$D" --no-verify >"$tmp/e2.log" 2>&1 || { cat "$tmp/e2.log"; fail "--no-verify"; }
"$BIN" inspect "$tmp/a/checkpoint.safetensors" >"$tmp/ck.log" 2>&1 || { cat "$tmp/ck.log"; fail "inspect checkpoint"; }
grep -q "pneumo training checkpoint: 3 epoch(s) done, --freeze fc, 2 classes; not a model" "$tmp/ck.log" || { cat "$tmp/ck.log"; fail "checkpoint description"; }
# 6. read-only and full places. stats in a read-only folder prints its
#    output (the default chart cannot be written: a warning, JSON "chart": null)
if [ "$(id -u)" = 0 ]; then AS="setpriv --reuid=65534 --regid=65534 --clear-groups"; else AS=; fi
mkdir -p "$tmp/rodir" && chmod 555 "$tmp/rodir" && chmod -R a+rX "$D"
(cd "$tmp/rodir" && $AS "$BIN" stats "$D" --json --no-check >"$tmp/st.json" 2>"$tmp/st.err") || { cat "$tmp/st.err"; fail "stats in a read-only folder"; }
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['chart'] is None and d['splits']['train']['total']==16, d" "$tmp/st.json" \
    || fail "stats --json in a read-only folder"
grep -q "warning: no chart: dataset_stats.png: cannot create" "$tmp/st.err" || { cat "$tmp/st.err"; fail "stats: no warning"; }
# full disks (a small tmpfs; needs root): each file that does not fit is named
# with "No space left on device", nothing truncated or temporary is left, and
# the statistics are printed before an asked-for chart fails
if [ "$(id -u)" = 0 ] && mkdir -p "$tmp/mnt" && mount -t tmpfs -o size=16k tmpfs "$tmp/mnt" 2>/dev/null; then
    rc=0; "$BIN" stats "$D" --no-check --chart "$tmp/mnt/c.png" >"$tmp/sf.out" 2>"$tmp/sf.err" || rc=$?
    umount "$tmp/mnt"
    [ $rc = 1 ] || fail "stats --chart on a full disk: exit $rc"
    grep -q "^train " "$tmp/sf.out" || fail "stats printed nothing before the chart failed"
    grep -q "c.png: write failed: No space left on device" "$tmp/sf.err" || { cat "$tmp/sf.err"; fail "stats ENOSPC message"; }
    train --out "$tmp/ref" >/dev/null 2>&1 || fail "reference run"
    pg() { echo $(( ($(stat -c %s "$tmp/ref/$1") + 4095) / 4096 * 4096 )); }
    order=(checkpoint.safetensors model.safetensors metrics.json predictions.csv curves.png confusion.png roc.png report.html)
    for target in model.safetensors curves.png roc.png report.html; do
        size=0
        for f in "${order[@]}"; do
            [ $f = $target ] && break
            size=$((size + $(pg $f)))
        done
        size=$((size + $(pg $target) / 2 / 4096 * 4096))
        mount -t tmpfs -o size=$size tmpfs "$tmp/mnt"
        rc=0; train --out "$tmp/mnt/o" >"$tmp/full.log" 2>&1 || rc=$?
        [ $rc = 1 ] || { cat "$tmp/full.log"; umount "$tmp/mnt"; fail "full disk at $target: exit $rc"; }
        grep -q "mnt/o/$target: write failed: No space left on device" "$tmp/full.log" \
            || { cat "$tmp/full.log"; umount "$tmp/mnt"; fail "full disk at $target: message"; }
        if [ $target != model.safetensors ]; then
            grep -q "(the model, metrics.json and predictions.csv in $tmp/mnt/o are saved)" "$tmp/full.log" \
                || { cat "$tmp/full.log"; umount "$tmp/mnt"; fail "full disk at $target: what is saved"; }
        fi
        left=$(ls "$tmp/mnt/o" | tr '\n' ' ')
        for f in "$tmp"/mnt/o/*.png; do
            [ -e "$f" ] || continue
            [ "$(tail -c 8 "$f" | head -c 4)" = IEND ] || { umount "$tmp/mnt"; fail "$f is truncated"; }
        done
        umount "$tmp/mnt"
        case "$left" in *tmp*) fail "full disk at $target left temporary files: $left";; esac
        case "$left" in *"$target"*) fail "full disk at $target: $target published: $left";; esac
    done
else
    echo "note: not root or no tmpfs: the full-disk checks were skipped"
fi
# 7. low memory: fontconfig crashed (SIGSEGV) when an allocation failed while
#    it read its configuration, under ulimit -v after a run's work was done.
#    Charts load DejaVu Sans from its files: fontconfig's configuration is
#    never read (it would complain about this one), and under ulimit -v the
#    chart is written or fails with a message (exit 1), never a crash.
#    (A limit too small for the libraries' own start-up is not pneumo's.)
FONTCONFIG_FILE=/nonexistent/fonts.conf "$BIN" stats "$D" --no-check --chart "$tmp/fc.png" >/dev/null 2>"$tmp/fc.err" \
    || { cat "$tmp/fc.err"; fail "stats --chart without fontconfig's configuration"; }
grep -qi fontconfig "$tmp/fc.err" && { cat "$tmp/fc.err"; fail "the chart read fontconfig's configuration"; }
v0=0
for v in $(seq 40000 2000 400000); do
    if (ulimit -v $v; "$BIN" stats "$D" --no-check --no-chart >/dev/null 2>&1) 2>/dev/null; then v0=$v; break; fi
done
[ $v0 -gt 0 ] || fail "stats does not run under any ulimit -v up to 400 MB"
crashes=""
for v in $(seq $v0 200 $((v0 + 6000))); do
    rc=0; (ulimit -v $v; exec "$BIN" stats "$D" --no-check --chart "$tmp/lm.png" >/dev/null 2>"$tmp/lm.err") 2>/dev/null || rc=$?
    if [ $rc -gt 1 ] && ! grep -q "bad_alloc" "$tmp/lm.err"; then crashes="$crashes $v:$rc"; fi
    if [ $rc = 1 ] && ! grep -Eq "out of memory|cannot|failed|libpng" "$tmp/lm.err"; then cat "$tmp/lm.err"; fail "ulimit -v $v: exit 1 without a reason"; fi
done
[ -z "$crashes" ] || fail "stats --chart crashed under ulimit -v (KiB:status):$crashes"
# 8. odd files never hang: a FIFO named like an image (predict: refused at
#    once; train --skip-bad with the cache on: left out and listed), folder
#    links: a self-link, a loop and a ladder of links (2^20 paths) walk each
#    folder once
mkdir -p "$tmp/odd"
mkfifo "$tmp/odd/fifo.jpeg"
rc=0; timeout 60 "$BIN" predict --model "$M" "$tmp/odd/fifo.jpeg" >"$tmp/p.out" 2>"$tmp/p.err" || rc=$?
[ $rc = 1 ] || fail "predict of a FIFO: exit $rc"
grep -q "fifo.jpeg: not a regular file" "$tmp/p.err" || { cat "$tmp/p.err"; fail "predict FIFO message"; }
cp -r "$D" "$tmp/fd" && mkfifo "$tmp/fd/train/NORMAL/zz.jpeg"
timeout 120 "$BIN" train --data "$tmp/fd" --weights "$W" --epochs 1 --out "$tmp/fo" --skip-bad >"$tmp/fo.log" 2>&1 \
    || { cat "$tmp/fo.log"; fail "--skip-bad with a FIFO and the cache on"; }
grep -q "skipped unreadable image $tmp/fd/train/NORMAL/zz.jpeg" "$tmp/fo.log" || { cat "$tmp/fo.log"; fail "FIFO not listed as skipped"; }
rc=0; timeout 120 "$BIN" train --data "$tmp/fd" --weights "$W" --epochs 1 --out "$tmp/fo2" >"$tmp/fo2.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a FIFO without --skip-bad: exit $rc"
grep -q "zz.jpeg: not a regular file (remove or replace the file, or pass --skip-bad" "$tmp/fo2.log" || { cat "$tmp/fo2.log"; fail "FIFO message"; }
L="$tmp/links"
mkdir -p "$L/a/b" && cp "$(ls "$D"/test/NORMAL/* | head -1)" "$L/a/x.jpeg"
ln -s . "$L/a/self" && ln -s .. "$L/a/b/up" && ln -s ../a "$L/a/b/side"
p="$L/ladder"; mkdir -p "$p"
for i in $(seq 20); do mkdir "$p/n"; ln -s n "$p/l1"; ln -s n "$p/l2"; p="$p/n"; done
cp "$L/a/x.jpeg" "$p/y.jpeg"
timeout 60 "$BIN" predict --model "$M" "$L" >"$tmp/lk.out" 2>"$tmp/lk.err" || { cat "$tmp/lk.err"; fail "predict on linked folders"; }
[ "$(grep -c "x.jpeg" "$tmp/lk.out")" = 1 ] || { cat "$tmp/lk.out"; fail "x.jpeg not classified exactly once"; }
[ "$(grep -c "y.jpeg" "$tmp/lk.out")" = 1 ] || { head "$tmp/lk.out"; fail "y.jpeg not classified exactly once"; }
echo "test_robust: all passed"
