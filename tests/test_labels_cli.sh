#!/usr/bin/env bash
# train / eval / predict on CSV-labelled data and on class folders named
# otherwise (issue #10): --labels end to end (splits from a column, the
# patient-grouped --val-split by the CSV's patient, predictions.csv ids), the
# class-name check and --classes, --positive, a plain class folder for eval,
# --png16 for train/eval/predict, and bad CSV rows (named with their line,
# --skip-bad lists them). CSVs are written here over ../shared/data; a
# random-weights ResNet-18 with a 2-output head is made by PyTorch.
set -u
BIN=${PNEUMO_BIN:-build/pneumo}
DATA=${PNEUMO_DATA:-../shared/data}
PY=${PYTHON:-/usr/bin/python3}
DCM=$DATA/chest_xray_dicom
[ -d "$DCM" ] || { echo "FAIL: test data $DATA is missing (needs ../shared/data)"; exit 1; }
T=$(mktemp -d /tmp/pneumo-labels-XXXXXX)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME="$T/cache"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tr1() { "$BIN" train --weights "$T/r18.pth" --epochs 1 --seed 1 -j 2 "$@"; }

(cd "$T" && "$PY" - "$T" <<'PYEOF') || fail "making the model"
import sys, torch, torchvision
torch.manual_seed(5)
torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), sys.argv[1] + "/r18.pth")
PYEOF

# ---- 1. train --labels end to end: the DICOM train split by a CSV whose
# patient column groups 4 images each across file names (by the file-name
# rule they are 40 different patients); the val set keeps patients whole;
# predictions.csv carries the CSV patient and the DICOM SOPInstanceUID.
(cd "$T" && "$PY" - "$DCM" "$T/pat.csv" <<'PYEOF') || fail "writing pat.csv"
import os, sys
dcm, out = sys.argv[1], sys.argv[2]
rows = []
for lab, cls in ((0, "NORMAL"), (1, "PNEUMONIA")):
    for f in sorted(os.listdir(f"{dcm}/train/{cls}")):
        rows.append((f, lab))
with open(out, "w") as fh:
    fh.write("image,finding,subject\n")
    for i, (f, lab) in enumerate(rows):
        fh.write(f"{f},{lab},S{i // 4:02d}\n")  # 4 consecutive images of one class each
PYEOF
tr1 --data "$DCM" --labels "$T/pat.csv" --columns image,finding --patient-column subject \
    --val-split 0.3 --out "$T/p" >"$T/p.log" 2>&1 || { tail -5 "$T/p.log"; fail "train --labels"; }
grep -q "data $DCM (csv): 40 train, 0 val, 0 test" "$T/p.log" || fail "train --labels counts: $(head -3 "$T/p.log")"
"$PY" - "$T/pat.csv" "$T/p/predictions.csv" <<'PYEOF' || fail "val split by the CSV patient / predictions.csv ids"
import csv, sys, collections
want = collections.Counter(r["subject"] for r in csv.DictReader(open(sys.argv[1])))
rows = list(csv.DictReader(open(sys.argv[2])))
assert rows and list(rows[0])[-2:] == ["patient_id", "sop_uid"], list(rows[0])
got = collections.Counter(r["patient_id"] for r in rows if r["split"] == "val")
assert got and all(got[p] == want[p] == 4 for p in got), (got, want)
assert all(r["sop_uid"].startswith("2.25.") for r in rows), rows[0]
PYEOF

# ---- 2. eval --labels with the split from a column equals eval of the folder
(cd "$T" && "$PY" - "$DCM" "$T/folds.csv" <<'PYEOF') || fail "writing folds.csv"
import os, sys
dcm, out = sys.argv[1], sys.argv[2]
with open(out, "w") as fh:
    fh.write("file,label,fold\n")
    for split in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            for f in sorted(os.listdir(f"{dcm}/{split}/{cls}")):
                fh.write(f"{f},{cls},{split}\n")
PYEOF
M=$T/p/model.safetensors
"$BIN" eval --model "$M" --data "$DCM" --json >"$T/e_dir.json" 2>"$T/e.err" || fail "eval folder: $(cat "$T/e.err")"
"$BIN" eval --model "$M" --data "$DCM" --labels "$T/folds.csv" --columns file,label --split-column fold \
    --json >"$T/e_csv.json" 2>"$T/e.err" || fail "eval --labels: $(cat "$T/e.err")"
cmp -s "$T/e_dir.json" "$T/e_csv.json" || fail "eval --labels differs from the folder: $(cat "$T/e_csv.json")"
grep -q '"n":11' "$T/e_csv.json" || fail "eval --labels n: $(cat "$T/e_csv.json")"
# eval --out: predictions.csv carries each DICOM's PatientID and SOPInstanceUID (MANIFEST.tsv's patient)
"$BIN" eval --model "$M" --data "$DCM" --out "$T/eo" >/dev/null 2>"$T/e.err" || fail "eval --out: $(cat "$T/e.err")"
"$PY" - "$DCM" "$T/eo/predictions.csv" <<'PYEOF' || fail "eval --out predictions.csv ids"
import csv, sys
man = {r["file"]: r["patient_id"] for r in csv.DictReader(open(sys.argv[1] + "/MANIFEST.tsv"), delimiter="\t")}
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 11 and list(rows[0])[-2:] == ["patient_id", "sop_uid"], list(rows[0])
for r in rows:
    rel = r["file"][len(sys.argv[1]) + 1:]
    assert r["patient_id"] == man[rel] and r["sop_uid"].startswith("2.25."), r
PYEOF

# ---- 2b. a test split carved by patient (--test-split): whole patients, by
# SHA-256 of the id (computed here with hashlib), the same split in stats and eval
"$BIN" stats "$DCM" --labels "$T/pat.csv" --columns image,finding --patient-column subject --test-split 0.4 \
    --json --no-chart --no-check >"$T/ts.json" || fail "stats --test-split"
"$BIN" eval --model "$M" --data "$DCM" --labels "$T/pat.csv" --columns image,finding --patient-column subject \
    --test-split 0.4 --json >"$T/ts_e.json" 2>"$T/e.err" || fail "eval --test-split: $(cat "$T/e.err")"
"$PY" - "$T/pat.csv" "$T/ts.json" "$T/ts_e.json" <<'PYEOF' || fail "--test-split counts"
import csv, hashlib, json, sys
test = [0, 0]
for r in csv.DictReader(open(sys.argv[1])):
    h = int.from_bytes(hashlib.sha256(r["subject"].encode()).digest()[:8], "big") >> 11
    if h / 2**53 < 0.4:
        test[int(r["finding"])] += 1
s = json.load(open(sys.argv[2]))["splits"]
assert (s["test"]["NORMAL"], s["test"]["PNEUMONIA"]) == tuple(test), (s["test"], test)
assert s["train"]["total"] + s["test"]["total"] == 40 and 0 < sum(test) < 40, s
e = json.load(open(sys.argv[3]))
assert e["n"] == sum(test) and e["confusion"]["tp"] + e["confusion"]["fn"] == test[1], (e, test)
PYEOF

# ---- 3. class names: abnormal/normal folders are refused (never mapped by
# position), --classes maps them, the same metrics as the NORMAL/PNEUMONIA
# split; a plain class folder is evaluated whole; --positive NORMAL swaps
# sensitivity and specificity.
mkdir -p "$T/ab/abnormal" "$T/ab/normal" "$T/flat"
ln -s "$(realpath "$DCM/test/NORMAL")" "$T/flat/NORMAL"
ln -s "$(realpath "$DCM/test/PNEUMONIA")" "$T/flat/PNEUMONIA"
for f in "$DCM"/test/NORMAL/*.dcm; do ln -s "$(realpath "$f")" "$T/ab/normal/"; done
for f in "$DCM"/test/PNEUMONIA/*.dcm; do ln -s "$(realpath "$f")" "$T/ab/abnormal/"; done
"$BIN" eval --model "$M" --data "$T/ab" --json >/dev/null 2>"$T/ab.err"
[ $? = 1 ] || fail "abnormal/normal: exit status"
grep -q "data class 'abnormal' is not a class of the model: the data's classes are (abnormal, normal), the model's (NORMAL, PNEUMONIA)" "$T/ab.err" ||
    fail "mismatch message: $(cat "$T/ab.err")"
"$BIN" eval --model "$M" --data "$T/ab" --classes NORMAL=normal,PNEUMONIA=abnormal --json >"$T/e_ab.json" 2>"$T/e.err" ||
    fail "--classes: $(cat "$T/e.err")"
cmp -s "$T/e_dir.json" "$T/e_ab.json" || fail "--classes metrics differ: $(cat "$T/e_ab.json")"
"$BIN" eval --model "$M" --data "$T/flat" --json >"$T/e_flat.json" 2>"$T/e.err" || fail "eval plain folder: $(cat "$T/e.err")"
cmp -s "$T/e_dir.json" "$T/e_flat.json" || fail "plain folder metrics differ: $(cat "$T/e_flat.json")"
"$BIN" eval --model "$M" --data "$T/flat" --positive normal --json >"$T/e_pos.json" 2>"$T/e.err" || fail "--positive: $(cat "$T/e.err")"
"$PY" - "$T/e_dir.json" "$T/e_pos.json" <<'PYEOF' || fail "--positive NORMAL"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert b["confusion"]["positive"] == "NORMAL" and b["confusion"]["negative"] == "PNEUMONIA", b
assert (b["sensitivity"], b["specificity"]) == (a["specificity"], a["sensitivity"]), (a, b)
assert b["confusion"]["tp"] == a["confusion"]["tn"] and b["confusion"]["fn"] == a["confusion"]["fp"], (a, b)
assert abs(b["roc_auc"] - a["roc_auc"]) < 1e-12 and b["threshold"] == 0.5, (a, b)
PYEOF
"$BIN" eval --model "$M" --data "$T/flat" --positive covid 2>"$T/e.err" >/dev/null && fail "--positive covid accepted"
grep -q "positive covid: not one of the classes (NORMAL, PNEUMONIA)" "$T/e.err" || fail "--positive message: $(cat "$T/e.err")"
# train on abnormal/normal: the positive class must be named; with it, it is the model's class 1
tr1 --data "$T/ab" --out "$T/ab_run" >"$T/abt.log" 2>&1 && fail "training without PNEUMONIA nor --positive"
grep -q "no class is named PNEUMONIA (the classes are abnormal, normal): name the positive class" "$T/abt.log" ||
    fail "train --positive message: $(tail -2 "$T/abt.log")"
tr1 --data "$T/ab" --out "$T/ab_run" --positive abnormal >"$T/abt.log" 2>&1 || { tail -3 "$T/abt.log"; fail "train --positive"; }
grep -q "classes normal, abnormal" "$T/abt.log" || fail "train --positive classes: $(head -3 "$T/abt.log")"
grep -q "threshold 0.5000 on P(abnormal)" "$T/abt.log" || fail "train --positive threshold line"
"$BIN" eval --model "$T/ab_run/model.safetensors" --data "$T/ab" --json >"$T/e_abm.json" 2>"$T/e.err" ||
    fail "eval of the abnormal model: $(cat "$T/e.err")"
grep -q '"negative":"normal","positive":"abnormal"' "$T/e_abm.json" || fail "abnormal model positive: $(cat "$T/e_abm.json")"
grep -q '"tp":[0-9]*,' "$T/e_abm.json" && grep -q '"n":11' "$T/e_abm.json" || fail "abnormal model n"

# ---- 4. --png16 for train, eval, predict: 16-bit copies (v * 257) of three
# expected PNGs per class scale back to the 8-bit originals (the default),
# and clip as Pillow to min(v * 257, 255).
(cd "$T" && "$PY" - "$DCM/expected/test" "$T" <<'PYEOF') || fail "writing the 16-bit PNGs"
import os, sys
import numpy as np
from PIL import Image
src, t = sys.argv[1], sys.argv[2]
for cls in ("NORMAL", "PNEUMONIA"):
    for d in ("p8", "p16", "pclip"):
        os.makedirs(f"{t}/{d}/train/{cls}", exist_ok=True)
    for f in sorted(os.listdir(f"{src}/{cls}"))[:3]:
        a = np.asarray(Image.open(f"{src}/{cls}/{f}").convert("L")).astype(np.uint16)
        h, w = a.shape
        a = a[: h // 3, : w // 3]  # smaller: faster
        Image.fromarray(a.astype(np.uint8)).save(f"{t}/p8/train/{cls}/{f}")
        Image.fromarray((a * 257).astype(np.uint16)).save(f"{t}/p16/train/{cls}/{f}")
        Image.fromarray(np.minimum(a * 257, 255).astype(np.uint8)).save(f"{t}/pclip/train/{cls}/{f}")
        im = Image.open(f"{t}/p16/train/{cls}/{f}")
        assert im.mode in ("I;16", "I"), im.mode
PYEOF
pv() { "$BIN" predict --model "$T/r18.pth" -j 2 "$@" | awk -F'\t' '$1 !~ /^#/ && $1 != "file" {print $2, $3}'; }
pv "$T/p16" >"$T/pr16" && pv "$T/p8" >"$T/pr8" && pv --png16 clip "$T/p16" >"$T/prc16" && pv "$T/pclip" >"$T/prc8" ||
    fail "predict --png16"
[ "$(wc -l <"$T/pr16")" = 6 ] || fail "predict --png16 lines"
cmp -s "$T/pr16" "$T/pr8" || fail "predict: 16-bit (scale) differs from the 8-bit original"
cmp -s "$T/prc16" "$T/prc8" || fail "predict --png16 clip differs from the clipped PNG"
cmp -s "$T/pr16" "$T/prc16" && fail "predict: scale and clip agree (the test cannot tell them apart)"
"$BIN" predict --model "$T/r18.pth" --png16 half "$T/p16" >/dev/null 2>&1; [ $? = 2 ] || fail "predict --png16 half"
ev() { "$BIN" eval --model "$M" --split train --json -j 2 "$@" 2>/dev/null; }
[ "$(ev --data "$T/p16" --png16 clip)" = "$(ev --data "$T/pclip")" ] || fail "eval --png16 clip"
[ "$(ev --data "$T/p16")" = "$(ev --data "$T/p8")" ] || fail "eval --png16 scale (default)"
for d in p16 pclip; do
    tr1 --data "$T/$d" --out "$T/t_$d" --no-cache $([ $d = p16 ] && echo --png16 clip) >"$T/t_$d.log" 2>&1 ||
        { tail -3 "$T/t_$d.log"; fail "train on $d"; }
done
cmp -s "$T/t_p16/model.safetensors" "$T/t_pclip/model.safetensors" || fail "train --png16 clip: model differs from the clipped PNGs'"

# ---- 5. bad CSV rows in train: named with the line; --skip-bad goes on and lists them
{ echo "image,finding"; head -12 "$T/pat.csv" | tail -11 | cut -d, -f1,2; echo "nope.dcm,1";
  sed -n 30,41p "$T/pat.csv" | cut -d, -f1,2; } >"$T/bad.csv"
tr1 --data "$DCM" --labels "$T/bad.csv" --columns image,finding --preset rsna --out "$T/b" >"$T/b.log" 2>&1; [ $? = 1 ] ||
    fail "train on a bad CSV: exit status"
tr1 --data "$DCM" --labels "$T/bad.csv" --preset rsna --out "$T/b" >"$T/b.log" 2>&1 && fail "a CSV without patientId accepted"
grep -q "bad.csv: no column 'patientId' (the header has: image, finding)" "$T/b.log" || fail "missing column: $(tail -1 "$T/b.log")"
tr1 --data "$DCM" --labels "$T/bad.csv" --columns image,finding --out "$T/b" >"$T/b.log" 2>&1 && fail "a missing image accepted"
grep -q "bad.csv:13: image 'nope.dcm' not found under $DCM" "$T/b.log" || fail "missing image: $(tail -1 "$T/b.log")"
{ cat "$T/bad.csv"; sed -n 2p "$T/bad.csv"; } >"$T/bad2.csv"
tr1 --data "$DCM" --labels "$T/bad2.csv" --columns image,finding --out "$T/b" --skip-bad >"$T/b.log" 2>&1 ||
    { tail -3 "$T/b.log"; fail "train --skip-bad on a bad CSV"; }
grep -q "skipped: .*bad2.csv:13: image 'nope.dcm' not found" "$T/b.log" || fail "--skip-bad: missing image not listed"
grep -q "skipped: .*bad2.csv:26: duplicate row for '$(sed -n 2p "$T/bad.csv" | cut -d, -f1)' (first at line 2)" "$T/b.log" ||
    fail "--skip-bad: duplicate not listed: $(grep skipped "$T/b.log")"
grep -q "data $DCM (csv): 23 train" "$T/b.log" || fail "--skip-bad counts: $(grep 'data ' "$T/b.log")"
"$BIN" eval --model "$M" --data "$DCM" --preset rsna 2>/dev/null; [ $? = 2 ] || fail "--preset without --labels"

[ "$fails" = 0 ] && echo "test_labels_cli: all passed"
exit $((fails > 0))
