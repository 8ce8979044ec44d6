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
# An ASan build (make asan) reserves terabytes of address space for its
# shadow memory and cannot start under any ulimit -v: this part runs only on
# the plain build (make test).
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
    echo "note: ASan build: the ulimit -v checks were skipped"
else
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
fi
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
# 9. Ctrl-C in a run into the default folder: the exact command to continue,
#    --out included, which then says that it resumed
mkdir -p "$tmp/cw2"
#    (head epochs on cached features take ~12 ms on a fast CPU: 400 of them, and a
#    10 ms poll, so that the signal lands mid-run; 25 epochs ended before it)
(cd "$tmp/cw2" && exec "$BIN" train --data "$D" --weights "$W" --epochs 400 -j 2 >"$tmp/int.log" 2>&1) &
pid=$!
for _ in $(seq 6000); do grep -q "^epoch 2/" "$tmp/int.log" 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ $rc = 1 ] || { cat "$tmp/int.log"; fail "interrupted run: exit $rc"; }
grep -Eq "^pneumo train: interrupted in epoch [0-9]+; the checkpoint of epoch [0-9]+ is kept \(runs/[0-9-]+/checkpoint.safetensors; continue with --resume\)$" "$tmp/int.log" \
    || { cat "$tmp/int.log"; fail "interrupt message"; }
cont=$(sed -n 's/^to continue: //p' "$tmp/int.log")
echo "$cont" | grep -Eq "^pneumo train --data .* --out runs/[0-9-]+ --resume$" || { cat "$tmp/int.log"; fail "no exact rerun command: $cont"; }
kept=$(sed -n 's/.*the checkpoint of epoch \([0-9]*\) is kept.*/\1/p' "$tmp/int.log")
(cd "$tmp/cw2" && eval "\"$BIN\" ${cont#pneumo }") >"$tmp/int2.log" 2>&1 || { cat "$tmp/int2.log"; fail "the rerun command"; }
grep -Eq "^resumed runs/[0-9-]+/checkpoint.safetensors after epoch $kept$" "$tmp/int2.log" || { cat "$tmp/int2.log"; fail "no 'resumed' line"; }
grep -q "^epoch 400/400" "$tmp/int2.log" || fail "the resumed run did not finish"
# 10. damaged and unusual images, made here, against Pillow 9.4: a palette
#     PNG with indices beyond its PLTE decodes to Pillow's pixels; JPEGs with
#     corrupt data: with --lenient-jpeg pneumo accepts and refuses exactly the
#     ones Pillow does (a bad marker after the last scanline: jpeg_finish_decompress),
#     with the same pixels; by default libjpeg's corrupt-data warnings are
#     errors naming the reason; 12-bit and lossless JPEGs are "unsupported"
J="$tmp/jpg"; mkdir -p "$J"
"$PY" - "$J" >"$J/pillow.txt" <<'PYEOF'
import io, struct, sys, zlib
import numpy as np
from PIL import Image
d = sys.argv[1]
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b) & 0xffffffff)
W, H = 40, 30
raw = b''.join(b'\x00' + bytes([(x + 3 * y) % 9 for x in range(W)]) for y in range(H))
open(d + '/pal.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', W, H, 8, 3, 0, 0, 0))
    + chunk(b'PLTE', bytes([10, 20, 30, 200, 100, 50, 0, 255, 0])) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
a = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype('uint8')
b = io.BytesIO(); Image.fromarray(a).save(b, 'JPEG', quality=90); j = bytes(b.getvalue())
sos = j.find(b'\xff\xda'); start = sos + 2 + j[sos + 2] * 256 + j[sos + 3]; end = len(j) - 2; mid = (start + end) // 2
s0 = j.find(b'\xff\xc0'); sof = j[s0:s0 + 2 + j[s0 + 2] * 256 + j[s0 + 3]]
files = {'ok': j,
         'cut': j[:mid] + b'\xff\xd9',                      # scan cut short: "premature end of data segment"
         'rst': j[:mid] + b'\xff\xd0' + j[mid:],           # a stray marker in the scan
         'sof2': j[:end] + sof + j[end:],                  # a second SOF after the scan
         'dqt': j[:end] + b'\xff\xdb\x00\x43\x07' + bytes(64) + j[end:],  # bad DQT index after the scan
         'cutsof': j[:mid] + sof + b'\xff\xd9',           # both: the issue's suite files
         'p12': j[:s0 + 4] + bytes([12]) + j[s0 + 5:],     # 12-bit samples
         'sof3': j[:s0 + 1] + b'\xc3' + j[s0 + 2:]}       # lossless
for k, v in files.items():
    open('%s/%s.jpg' % (d, k), 'wb').write(v)
for k in ['pal.png'] + [k + '.jpg' for k in files]:
    try:
        im = Image.open('%s/%s' % (d, k)); im.load()
        im.convert('RGB').save('%s/%s.pillow.png' % (d, k)); print(k, 'ok')
    except Exception as e:
        print(k, 'refused')
PYEOF
grep -q "^pal.png ok$" "$J/pillow.txt" && grep -q "^cut.jpg ok$" "$J/pillow.txt" && grep -q "^sof2.jpg refused$" "$J/pillow.txt" \
    || { cat "$J/pillow.txt"; fail "Pillow's outcomes are not the expected ones"; }
u8() { "$BIN" preprocess "$@" -f u8; }
while read -r f outcome; do
    rc=0; u8 --lenient-jpeg "$J/$f" -o "$J/$f.u8" 2>"$J/$f.err" || rc=$?
    if [ "$outcome" = ok ]; then
        [ $rc = 0 ] || { cat "$J/$f.err"; fail "$f: Pillow decodes it, pneumo --lenient-jpeg refuses it"; }
        u8 "$J/$f.pillow.png" -o "$J/$f.ref.u8" || fail "$f: reference"
        cmp -s "$J/$f.u8" "$J/$f.ref.u8" || fail "$f: pixels differ from Pillow's"
    else
        [ $rc = 1 ] || fail "$f: Pillow refuses it, pneumo --lenient-jpeg exits $rc"
    fi
done <"$J/pillow.txt"
for f in cut rst cutsof; do
    rc=0; u8 "$J/$f.jpg" -o "$J/x.u8" 2>"$J/e.txt" || rc=$?
    [ $rc = 1 ] || fail "$f.jpg accepted by default"
    grep -q "$f.jpg: corrupt JPEG (Corrupt JPEG data: premature end of data segment; --lenient-jpeg" "$J/e.txt" || { cat "$J/e.txt"; fail "$f.jpg: message"; }
done
u8 "$J/p12.jpg" -o "$J/x.u8" 2>&1 | grep -q "p12.jpg: unsupported JPEG (Unsupported JPEG data precision 12)" || fail "12-bit JPEG message"
u8 "$J/sof3.jpg" -o "$J/x.u8" 2>&1 | grep -q "sof3.jpg: unsupported JPEG (Unsupported JPEG process: SOF type 0xc3)" || fail "lossless JPEG message"
# 11. disk use: pneumo cache counts what is on disk and clears it (all, by
#     age, by size: least recently used first, stale temporary files always);
#     --keep-checkpoint no drops the checkpoint of a finished run
export XDG_CACHE_HOME="$tmp/cache11"
train --out "$tmp/k" --keep-checkpoint no >"$tmp/k.log" 2>&1 || { cat "$tmp/k.log"; fail "--keep-checkpoint no"; }
[ -e "$tmp/k/checkpoint.safetensors" ] && fail "--keep-checkpoint no kept the checkpoint"
grep -q "^checkpoint removed (--keep-checkpoint no)$" "$tmp/k.log" || fail "--keep-checkpoint no: no line"
F="$XDG_CACHE_HOME/pneumo/features"
n=$(ls "$F" | grep -Ec '^[0-9a-f]{64}\.bin$'); bytes=$(cat "$F"/*.bin | wc -c)
[ "$n" = 32 ] || fail "cache entries: $n"
touch "$F/x.bin.tmp.999999999.1"
"$BIN" cache --json >"$tmp/c.json" || fail "pneumo cache"
"$PY" -c "import json,sys; c=json.load(open(sys.argv[1]))['cache']; assert (c['entries'],c['bytes'],c['stale_temporary_files'])==($n,$bytes,1), c" "$tmp/c.json" \
    || { cat "$tmp/c.json"; fail "pneumo cache numbers"; }
old=($(ls "$F" | grep '\.bin$' | head -5))
for e in "${old[@]}"; do touch -d '10 days ago' "$F/$e"; done
"$BIN" cache clear --older-than 7d | grep -q "^removed 5 entries (.*) and 1 stale temporary file" || fail "clear --older-than"
for e in "${old[@]}"; do [ -e "$F/$e" ] && fail "an old entry stayed"; done
one=$(stat -c %s "$F/$(ls "$F" | head -1)")
"$BIN" cache clear --max-size $((one * 10)) >/dev/null || fail "clear --max-size"
[ "$(ls "$F" | wc -l)" = 10 ] || fail "clear --max-size left $(ls "$F" | wc -l) entries, want 10"
"$BIN" cache clear >/dev/null && [ -z "$(ls "$F")" ] || fail "clear"
"$BIN" cache clear --older-than 3x 2>/dev/null && fail "a bad age accepted"
# 12. messages that lead: swapped arguments, other networks and formats, a
#     checkpoint where a model belongs
"$PY" - "$tmp" <<'PYEOF'
import sys, torch, torchvision
d = sys.argv[1]
torch.save(torchvision.models.resnet50().state_dict(), d + "/r50.pth")
torch.save(torchvision.models.resnet34().state_dict(), d + "/r34.pth")
torch.jit.trace(torchvision.models.resnet18().eval(), torch.zeros(1, 3, 224, 224)).save(d + "/ts.pt")
PYEOF
"$BIN" export --model "$M" -o "$tmp/m.onnx" >/dev/null 2>&1 || fail "export onnx"
IMG=$(ls "$D"/test/NORMAL/* | head -1)
expect() { # model message
    rc=0; out=$("$BIN" predict --model "$1" "$IMG" 2>&1) || rc=$?
    [ $rc = 1 ] || fail "predict --model $1: exit $rc"
    echo "$out" | grep -qF "$2" || fail "predict --model $1: $out"
}
expect "$IMG" "is a JPEG image, not a model file (did you swap the model and an image?)"
expect "$D" "is a folder, not a model file (did you swap the model and the images?)"
expect "$tmp/r50.pth" "a torchvision ResNet-50 state_dict, not ResNet-18"
expect "$tmp/r34.pth" "a torchvision ResNet-34 state_dict, not ResNet-18"
expect "$tmp/ts.pt" "ts.pt is a TorchScript archive (torch.jit.save of '__torch__.torchvision.models.resnet.ResNet'), not a state_dict"
expect "$tmp/m.onnx" "m.onnx is an ONNX model: pneumo reads .pth and safetensors"
expect "$tmp/a/checkpoint.safetensors" "is a pneumo training checkpoint (for train --resume), not a model: give the model.safetensors"
# 13. a file with the wrong hash exactly where 'fetch weights' puts the weights
#     is named, not skipped silently
export XDG_CACHE_HOME="$tmp/fw" TORCH_HOME="$tmp/fw/torch"
mkdir -p "$XDG_CACHE_HOME/pneumo/weights" && echo junk >"$XDG_CACHE_HOME/pneumo/weights/resnet18-f37072fd.pth"
rc=0; "$BIN" fetch weights --url http://127.0.0.1:1/w.pth --retries 0 --connect-timeout 2 >/dev/null 2>"$tmp/fw.err" || rc=$?
[ $rc = 1 ] || fail "fetch weights without network: exit $rc"
grep -q "pneumo/weights/resnet18-f37072fd.pth exists but its SHA-256 is [0-9a-f]\{16\}..., not f37072fd... (damaged or another file" "$tmp/fw.err" \
    || { cat "$tmp/fw.err"; fail "the wrong-hash file is not named"; }
# 14. --resume with changed options names them
export XDG_CACHE_HOME="$tmp/cache"
train --out "$tmp/rs" >/dev/null 2>&1 || fail "train rs"
rc=0; train --out "$tmp/rs" --epochs 3 --resume --batch 16 --lr 0.01 >"$tmp/rs.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "--resume with other options: exit $rc"
grep -qF "belongs to another run (--batch 16 (the checkpoint's run: 32), --lr 0.01 (the checkpoint's run: 0.001))" "$tmp/rs.log" \
    || { cat "$tmp/rs.log"; fail "--resume: the differing options are not named"; }
# 15. fuzz findings: a JPEG DICOM whose embedded JPEG header makes libjpeg
#     warn aborted inside GDCM (an assert); now refused with the reason
ROOT=${PNEUMO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
rc=0; "$BIN" preprocess "$ROOT/fuzz/corpus/dicom/gdcm_jpeg_header_warning.dcm" -o "$tmp/g.u8" 2>"$tmp/g.err" || rc=$?
[ $rc = 1 ] || { cat "$tmp/g.err"; fail "the GDCM-assert DICOM: exit $rc"; }
grep -q "corrupt JPEG in the DICOM pixel data (Corrupt JPEG data: 183 extraneous bytes before marker 0xda)" "$tmp/g.err" \
    || { cat "$tmp/g.err"; fail "the GDCM-assert DICOM: message"; }
echo "test_robust: all passed"
