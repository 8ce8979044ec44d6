#!/usr/bin/python3
"""Expected outputs for DICOM files, from pydicom 2.3 (+ python3-gdcm) and
Pillow 9.4 + torchvision 0.14, independent of pneumo.

Run with Debian's python (from the repository root):
    /usr/bin/python3 tests/pytorch/make_dicom_fixtures.py [DATA]
DATA defaults to ../shared/data. For every .dcm of DATA/chest_xray_dicom and for
DATA/chest_xray_dicom_bad/no_preamble.dcm (the bad file that must decode), the
display rendering is computed with the
shared reference rule (chest_xray_dicom/reference_render.py, pydicom's pipeline)
and checked to equal the committed expected/ PNG byte for byte; then the 224x224
network input of that rendering is computed as torchvision does for a grayscale
PIL image. Writes tests/fixtures/dicom_expected.tsv, one line per file:
    path  width  height  sha256(render)  sha256(u8)  sha256(f32)
  path relative to DATA; render = the (h, w) uint8 rendering;
  u8  = np.asarray(Image.fromarray(render, 'L').convert('RGB').resize((224,224), BILINEAR));
  f32 = Normalize(ImageNet)(ToTensor()(Resize((224,224))(<the same RGB image>))), little endian.
"""
import hashlib
import os
import sys

import numpy as np
import torchvision.transforms as T
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "dicom_expected.tsv")
sys.path.insert(0, os.path.join(DATA, "chest_xray_dicom"))
import reference_render  # noqa: E402  (the shared rule, pydicom + gdcm)

TF = T.Compose([
    T.Resize((224, 224)),
    T.ToTensor(),
    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])


def sha(b):
    return hashlib.sha256(b).hexdigest()


def main():
    files = []
    base = os.path.join(DATA, "chest_xray_dicom")
    for dp, dn, fn in os.walk(base):
        dn.sort()
        if os.path.relpath(dp, base).split(os.sep)[0] == "expected":
            continue
        files += [os.path.join(dp, f) for f in sorted(fn) if f.endswith(".dcm")]
    files.sort()
    assert len(files) == 67, len(files)
    files.append(os.path.join(DATA, "chest_xray_dicom_bad", "no_preamble.dcm"))
    rows = []
    for p in files:
        img, _ = reference_render.render(p)
        d = os.path.dirname(p)
        rel = os.path.relpath(p, DATA)
        if rel.startswith("chest_xray_dicom_bad"):
            png = os.path.join(d, "expected", os.path.basename(p)[:-4] + ".png")
        else:
            png = os.path.join(base, "expected", os.path.relpath(p, base)[:-4] + ".png")
        want = np.asarray(Image.open(png))
        if want.shape != img.shape or not np.array_equal(want, img):
            sys.exit("%s: pydicom rendering differs from %s" % (rel, png))
        rgb = Image.fromarray(img, "L").convert("RGB")
        u8 = np.asarray(rgb.resize((224, 224), Image.BILINEAR))
        f32 = TF(rgb).numpy().astype("<f4")
        rows.append("\t".join([rel, str(img.shape[1]), str(img.shape[0]), sha(img.tobytes()),
                               sha(u8.tobytes()), sha(f32.tobytes())]))
        print(rel, flush=True)
    with open(OUT, "w") as f:
        f.write("# path\twidth\theight\tsha256(render)\tsha256(u8)\tsha256(f32)\n")
        f.write("\n".join(rows) + "\n")
    print("%d files -> %s" % (len(rows), OUT))


if __name__ == "__main__":
    main()
