#!/usr/bin/env bash
# DICOM from the command line (../shared/data/chest_xray_dicom): stats counts
# the DICOM tree like its expected/ PNG tree, DICOM files without a .dcm name
# are found by content, formats pneumo does not read are reported by name and
# format, preprocess gives the bytes of the expected PNG's, and predict on
# the DICOM tree prints the probabilities it prints for the expected PNGs, and
# train + eval on the DICOM tree give the model and metrics of the expected PNGs
# (a random-weights ResNet-18 with a 2-output head, made by PyTorch here);
# 16-bit PNGs: --png16 scale (default) and clip, counted by stats.
set -u
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}
PY=${PYTHON:-/usr/bin/python3}
DCM=$DATA/chest_xray_dicom
[ -d "$DCM/expected" ] || { echo "FAIL: test data $DCM is missing (needs ../shared/data)"; exit 1; }
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/image_lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
T=$(mktemp -d /tmp/pneumo-dicom-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# stats: the same counts as the PNG renderings, nothing unreadable
"$BIN" stats "$DCM" --json --no-chart >"$T/d.json" || fail "stats on the DICOM tree"
"$BIN" stats "$DCM/expected" --json --no-chart >"$T/p.json" || fail "stats on expected/"
"$PY" - "$T/d.json" "$T/p.json" <<'PYEOF' || fail "stats DICOM vs PNG"
import json, sys
d, p = (json.load(open(f)) for f in sys.argv[1:3])
def counts(j):
    return json.dumps({k: v for k, v in j.items() if k not in ("dataset", "path", "bad", "unreadable")}, sort_keys=True)
assert counts(d) == counts(p), (counts(d), counts(p))
s = json.dumps(d)
assert '"train"' in s and "40" in s and "16" in s and "11" in s, s
PYEOF

# names: extension-less and UID-named DICOM files are found by content; a
# .bmp / .tif is reported with its format, a .txt is not an image
mkdir -p "$T/ds/NORMAL" "$T/ds/PNEUMONIA"
cp "$DCM/train/NORMAL/IM-0482-0001.dcm" "$T/ds/NORMAL/IM000001"
cp "$DCM/train/PNEUMONIA/person1497_bacteria_3912.dcm" "$T/ds/PNEUMONIA/1.2.840.113619.2.55.3.4"
cp "$DATA/chest_xray_dicom_bad/no_preamble.dcm" "$T/ds/PNEUMONIA/no_preamble"
printf 'BM%0100d' 0 >"$T/ds/NORMAL/scan.bmp"
printf 'II*\0%0100d' 0 >"$T/ds/NORMAL/scan.tif"
echo "notes" >"$T/ds/NORMAL/readme.txt"
echo "not dicom" >"$T/ds/NORMAL/IM000002"
"$BIN" stats "$T/ds" --no-chart >"$T/s.txt" 2>&1 || fail "stats on the named folder"
grep -Eq "^train +3 +2 +5" "$T/s.txt" || { cat "$T/s.txt"; fail "counts (3 NORMAL incl. bmp+tif, 2 PNEUMONIA... )"; }
grep -q "scan.bmp: a BMP image, a format pneumo does not read" "$T/s.txt" || { cat "$T/s.txt"; fail "bmp not reported"; }
grep -q "scan.tif: a TIFF image" "$T/s.txt" || fail "tif not reported"
grep -q "readme.txt\|IM000002" "$T/s.txt" && fail "a non-image was taken"

# preprocess: the network input of a DICOM file is that of its expected PNG
for f in val/NORMAL/IM-0199-0001 train/PNEUMONIA/person30_bacteria_148 test/PNEUMONIA/person38_virus_84; do
    "$BIN" preprocess "$DCM/$f.dcm" -o "$T/a.f32" || fail "preprocess $f.dcm"
    "$BIN" preprocess "$DCM/expected/$f.png" -o "$T/b.f32" || fail "preprocess $f.png"
    cmp -s "$T/a.f32" "$T/b.f32" || fail "$f: DICOM input differs from the expected PNG's"
done
"$BIN" preprocess "$DATA/chest_xray_dicom_bad/multiframe.dcm" -o "$T/m.f32" 2>"$T/m.err" && fail "multiframe accepted"
grep -q "multiframe.dcm: DICOM multi-frame" "$T/m.err" || fail "multiframe message: $(cat "$T/m.err")"
[ -e "$T/m.f32" ] && fail "a refused DICOM left an output file"

# predict on the DICOM tree == predict on the expected PNGs
"$PY" - "$T" <<'PYEOF' || fail "making the model"
import sys, torch, torchvision
torch.manual_seed(3)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18.pth")
PYEOF
"$BIN" predict --model "$T/r18.pth" "$DCM/test" >"$T/pd.txt" 2>"$T/pd.err" || { cat "$T/pd.err"; fail "predict DICOM"; }
"$BIN" predict --model "$T/r18.pth" "$DCM/expected/test" >"$T/pp.txt" 2>"$T/pp.err" || fail "predict PNG"
[ "$(wc -l <"$T/pd.txt")" -eq 13 ] || fail "predict lines: $(wc -l <"$T/pd.txt")"
cut -f2- <"$T/pd.txt" | sed 's/[^ \t]*\/expected\///' >"$T/pd.cut"
cut -f2- <"$T/pp.txt" >"$T/pp.cut"
awk '{ $1 = ""; print }' "$T/pd.txt" >"$T/pd.v"
awk '{ $1 = ""; print }' "$T/pp.txt" >"$T/pp.v"
cmp -s "$T/pd.v" "$T/pp.v" || { paste "$T/pd.txt" "$T/pp.txt" | head; fail "predictions differ"; }
# predict --json carries each DICOM's PatientID and SOPInstanceUID, as pydicom reads them
"$BIN" predict --json --model "$T/r18.pth" "$DCM/test" >"$T/pd.json" 2>"$T/pd.err" || fail "predict --json DICOM"
"$PY" - "$T/pd.json" <<'PYEOF' || fail "predict --json DICOM ids"
import json, sys, pydicom
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 11
for r in rows:
    ds = pydicom.dcmread(r["file"], stop_before_pixels=True)
    assert r.get("patient_id") == str(ds.PatientID), (r, ds.PatientID)
    assert r.get("sop_instance_uid") == str(ds.SOPInstanceUID), (r, ds.SOPInstanceUID)
print("predict --json: PatientID and SOPInstanceUID of 11 DICOMs == pydicom: OK")
PYEOF

# train (head only, 1 epoch) on the DICOM tree == on the expected PNGs: the
# same model bytes; eval of it on both trees: the same metrics
for t in d p; do
    src=$DCM; [ $t = p ] && src=$DCM/expected
    "$BIN" train --data "$src" --weights "$T/r18.pth" --out "$T/tr_$t" --seed 1 --epochs 1 --no-cache \
        >"$T/tr_$t.log" 2>&1 || { tail -5 "$T/tr_$t.log"; fail "train on $src"; }
    "$BIN" eval --model "$T/tr_d/model.safetensors" --data "$src" --json >"$T/ev_$t.json" 2>/dev/null ||
        fail "eval on $src"
done
cmp -s "$T/tr_d/model.safetensors" "$T/tr_p/model.safetensors" || fail "train: DICOM and PNG models differ"
cmp -s "$T/ev_d.json" "$T/ev_p.json" || fail "eval: DICOM and PNG metrics differ"
grep -q '"n":11' "$T/ev_d.json" || fail "eval n: $(cat "$T/ev_d.json")"

# 16-bit grayscale PNGs: scaled by default and counted; --png16 clip warns
mkdir -p "$T/p16/A"
cp tests/fixtures/image_synth/gray16_sbit12.png tests/fixtures/image_synth/gray16_full.png "$T/p16/A/"
"$BIN" stats "$T/p16" --no-chart --min-side 1 >"$T/p16.txt" 2>"$T/p16.err" || fail "stats png16"
grep -q "16-bit grayscale PNGs: 2, scaled" "$T/p16.txt" || { cat "$T/p16.txt"; fail "png16 count"; }
"$BIN" stats "$T/p16" --no-chart --min-side 1 --png16 clip --json >"$T/p16.json" 2>"$T/p16c.err" || fail "stats --png16 clip"
grep -q "warning: 2 16-bit PNGs clipped" "$T/p16c.err" || fail "no clip warning: $(cat "$T/p16c.err")"
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1]))["png16"]; assert j=={"files":2,"policy":"clip","clipped":2}, j' "$T/p16.json" || fail "png16 json"
"$BIN" preprocess "$T/p16/A/gray16_sbit12.png" --min-side 1 -o "$T/s.u8" -f u8 2>"$T/pre.err" || fail "preprocess png16"
[ -s "$T/pre.err" ] && fail "a warning with the default policy: $(cat "$T/pre.err")"
"$BIN" preprocess "$T/p16/A/gray16_sbit12.png" --min-side 1 --png16 clip -o "$T/c.u8" -f u8 2>"$T/pre.err" || fail "preprocess --png16 clip"
grep -q "gray16_sbit12.png: 16-bit PNG clipped" "$T/pre.err" || fail "preprocess clip warning"
cmp -s "$T/s.u8" "$T/c.u8" && fail "scale and clip gave the same bytes"
"$BIN" preprocess "$T/p16/A/gray16_sbit12.png" --png16 high -o "$T/x.u8" 2>/dev/null; [ $? = 2 ] || fail "bad --png16 is not a usage error"

[ "$fails" = 0 ] && echo "test_dicom_cli: all passed"
exit $((fails > 0))
