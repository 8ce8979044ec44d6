#!/usr/bin/python3
"""CSV-labelled dataset fixtures in the three public layouts, over the shared
images, and the counts pandas gives on them (tests/test_csv.c compares).

    /usr/bin/python3 tests/pytorch/make_csv_fixtures.py [DATA]
Needs Debian's python3-pandas. Writes tests/fixtures/csv/:
  rsna/stage_2_train_labels.csv  RSNA: patientId,x,y,width,height,Target over the 40
      chest_xray_dicom/train files (<patientId>.dcm); PNEUMONIA patients get 1 to 3 box rows
  nih/Data_Entry_2017.csv + train_val_list.txt + test_list.txt  NIH ChestX-ray14 columns over
      the 67 chest_xray_dicom/expected PNGs ("Pneumonia", "Pneumonia|Infiltration", "No Finding"),
      plus rows of other findings (dropped); the lists split train+val / test
  chexpert/train.csv, valid.csv  CheXpert: Path (CheXpert-v1.0-small/...), Pneumonia 1.0/0.0/-1.0/blank
      over 40 chest_xray/train and the 16 chest_xray/val JPEGs
  expected.tsv  preset csv policy split NORMAL PNEUMONIA dropped, as pandas counts them
The choice of files and values is deterministic.
"""
import hashlib
import os
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "csv")


def h(s):
    return int(hashlib.sha256(s.encode()).hexdigest(), 16)


def manifest(rel):
    return pd.read_csv(os.path.join(DATA, rel), sep="\t", dtype=str, keep_default_na=False)


rows = []  # expected.tsv
dic = manifest("chest_xray_dicom/MANIFEST.tsv")

# RSNA
os.makedirs(os.path.join(OUT, "rsna"), exist_ok=True)
lines = []
for _, r in dic[dic.split == "train"].iterrows():
    stem = os.path.basename(r.file)[:-4]
    if r.label == "PNEUMONIA":
        for k in range(1 + h(stem) % 3):
            lines.append(dict(patientId=stem, x=100 + 10 * k, y=200, width=50, height=60, Target=1))
    else:
        lines.append(dict(patientId=stem, x="", y="", width="", height="", Target=0))
lines.sort(key=lambda d: h(d["patientId"] + str(d["x"])))
pd.DataFrame(lines).to_csv(os.path.join(OUT, "rsna", "stage_2_train_labels.csv"), index=False)
df = pd.read_csv(os.path.join(OUT, "rsna", "stage_2_train_labels.csv"))
per = df.groupby("patientId")["Target"].max()
rows.append(("rsna", "rsna/stage_2_train_labels.csv", "-", "train", int((per == 0).sum()),
             int((per == 1).sum()), 0))

# NIH
os.makedirs(os.path.join(OUT, "nih"), exist_ok=True)
lines, tv, te = [], [], []
for _, r in dic.iterrows():
    name = os.path.basename(r.file)[:-4] + ".png"
    if r.label == "PNEUMONIA":
        lab = "Pneumonia" if h(name) % 2 else "Infiltration|Pneumonia"
    else:
        lab = "No Finding"
    lines.append({"Image Index": name, "Finding Labels": lab, "Follow-up #": 0, "Patient ID": r.patient_id,
                  "Patient Age": 5, "Patient Gender": "M", "View Position": "PA",
                  "OriginalImage[Width": r.columns, "Height]": r.rows,
                  "OriginalImagePixelSpacing[x": 0.143, "y]": 0.143})
    (te if r.split == "test" else tv).append(name)
for k, lab in enumerate(["Effusion", "Atelectasis|Effusion", "Hernia"]):
    name = "0000000%d_000.png" % k
    lines.append({"Image Index": name, "Finding Labels": lab, "Follow-up #": 0, "Patient ID": k + 1,
                  "Patient Age": 60, "Patient Gender": "F", "View Position": "AP",
                  "OriginalImage[Width": 1024, "Height]": 1024,
                  "OriginalImagePixelSpacing[x": 0.143, "y]": 0.143})
    tv.append(name)
lines.sort(key=lambda d: d["Image Index"])
pd.DataFrame(lines).to_csv(os.path.join(OUT, "nih", "Data_Entry_2017.csv"), index=False)
open(os.path.join(OUT, "nih", "train_val_list.txt"), "w").write("\n".join(sorted(tv)) + "\n")
open(os.path.join(OUT, "nih", "test_list.txt"), "w").write("\n".join(sorted(te)) + "\n")
df = pd.read_csv(os.path.join(OUT, "nih", "Data_Entry_2017.csv"))
labs = df["Finding Labels"].str.split("|")
pos = labs.apply(lambda l: "Pneumonia" in l)
neg = df["Finding Labels"] == "No Finding"
test = df["Image Index"].isin(set(te))
trainval = df["Image Index"].isin(set(tv))
dropped = int((~(pos | neg)).sum() + ((pos | neg) & ~test & ~trainval).sum())
for sp, m in (("train", trainval), ("test", test)):
    rows.append(("nih", "nih/Data_Entry_2017.csv", "-", sp, int((neg & m).sum()), int((pos & m).sum()),
                 dropped))

# CheXpert
os.makedirs(os.path.join(OUT, "chexpert"), exist_ok=True)
jp = manifest("MANIFEST.tsv")
for split, fname, take in (("train", "train.csv", 20), ("val", "valid.csv", 8)):
    lines = []
    for label in ("NORMAL", "PNEUMONIA"):
        sel = jp[(jp.split == split) & (jp.label == label)].sort_values("sha256").head(take)
        for i, (_, r) in enumerate(sel.iterrows()):
            if label == "PNEUMONIA":
                v = "1.0" if i % 3 else "-1.0"
            else:
                v = "0.0" if i % 2 else ""
            lines.append({"Path": "CheXpert-v1.0-small/%s/%s/%s" % (split, label, r.filename),
                          "Sex": "Male", "Age": 6, "Frontal/Lateral": "Frontal", "AP/PA": "PA",
                          "No Finding": "1.0" if label == "NORMAL" else "", "Pneumonia": v})
    lines.sort(key=lambda d: h(d["Path"]))
    pd.DataFrame(lines).to_csv(os.path.join(OUT, "chexpert", fname), index=False)
    df = pd.read_csv(os.path.join(OUT, "chexpert", fname))
    p = df["Pneumonia"].fillna(0)
    for pol in ("ignore", "zeros", "ones"):
        q = p.replace(-1, {"ignore": float("nan"), "zeros": 0, "ones": 1}[pol])
        rows.append(("chexpert", "chexpert/" + fname, pol, split, int((q == 0).sum()), int((q == 1).sum()),
                     int(q.isna().sum())))

with open(os.path.join(OUT, "expected.tsv"), "w") as f:
    f.write("# preset\tcsv\tpolicy\tsplit\tNORMAL\tPNEUMONIA\tdropped\n")
    for r in rows:
        f.write("\t".join(str(x) for x in r) + "\n")
print(open(os.path.join(OUT, "expected.tsv")).read())
