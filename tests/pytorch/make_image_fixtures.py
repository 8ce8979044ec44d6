#!/usr/bin/python3
"""Expected outputs of the image pipeline, from Pillow 9.4 + torchvision 0.14.

Run with Debian's python (from the repository root):
    /usr/bin/python3 tests/pytorch/make_image_fixtures.py [DATA]
DATA defaults to ../shared/data. Writes
  tests/fixtures/image_synth/*       small synthetic inputs (edge cases, modes)
  tests/fixtures/image_expected.tsv  one line per image:
      source  path  width  height  mode  sha256(u8)  sha256(f32)
    source "data" = path relative to DATA, "fixture" = relative to tests/fixtures;
    width/height/mode = Image.open(path) before conversion;
    u8  = np.asarray(Image.open(p).convert('RGB').resize((224,224), BILINEAR)), (224,224,3)
    f32 = Normalize(ImageNet)(ToTensor()(Resize((224,224))(Image.open(p).convert('RGB')))),
          (3,224,224) little-endian float32
  tests/fixtures/image_full_<n>.u8   the full u8 output of a few images, for readable diffs
  tests/fixtures/image_npz.tsv       numpy's view of pneumoniamnist.npz: per split the count,
      label counts and the sha256 of a few images' raw bytes
The sample of dataset files is deterministic (sorted by sha256 from the manifests).
"""
import hashlib
import io
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
import PIL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
FIX = os.path.join(ROOT, "tests", "fixtures")
SYN = os.path.join(FIX, "image_synth")

TF = T.Compose([
    T.Resize((224, 224)),
    T.ToTensor(),
    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])


def manifest(name):
    rows = []
    with open(os.path.join(DATA, name)) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    return rows


def pick_dataset_files():
    """>= 30 files: grayscale and RGB, smallest and largest, and resized224 copies."""
    rows = manifest("MANIFEST.tsv")
    for r in rows:
        r["path"] = f"chest_xray/{r['split']}/{r['label']}/{r['filename']}"
        with Image.open(os.path.join(DATA, r["path"])) as im:
            r["mode"] = im.mode
    rows.sort(key=lambda r: r["sha256"])
    gray = [r for r in rows if r["mode"] == "L"]
    rgb = [r for r in rows if r["mode"] == "RGB"]
    by_px = sorted(gray, key=lambda r: int(r["width"]) * int(r["height"]))
    chosen = gray[:14] + rgb[:10] + by_px[:3] + by_px[-3:]
    chosen += sorted(rgb, key=lambda r: int(r["width"]) * int(r["height"]))[-2:]
    small = manifest("MANIFEST_resized224.tsv")
    small.sort(key=lambda r: r["sha256"])
    for r in small[:6]:
        r["path"] = f"chest_xray_resized224/{r['split']}/{r['label']}/{r['filename']}"
    out, seen = [], set()
    for r in chosen + small[:6]:
        if r["path"] not in seen:
            seen.add(r["path"])
            out.append(r["path"])
    return out


def pattern(w, h, seed):
    """A smooth gradient with some deterministic noise (compresses well, but
    exercises rounding)."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 255.0 / max(w - 1, 1) * 0.6 + y * 255.0 / max(h - 1, 1) * 0.4)
    return np.clip(base + rng.randint(-12, 13, size=(h, w)), 0, 255).astype(np.uint8)


def make_synthetic():
    os.makedirs(SYN, exist_ok=True)
    files = {}
    g = pattern(97, 61, 1)
    rgb = np.stack([pattern(97, 61, 2), pattern(97, 61, 3)[::-1], pattern(97, 61, 4)[:, ::-1]], 2)
    files["one_by_one.png"] = lambda p: Image.fromarray(np.array([[137]], np.uint8)).save(p)
    files["one_by_one_rgb.jpg"] = lambda p: Image.fromarray(
        np.array([[[200, 30, 90]]], np.uint8)).save(p, quality=95)
    files["exact224.jpg"] = lambda p: Image.fromarray(pattern(224, 224, 5)).save(p, quality=90)
    files["wide3000x20.jpg"] = lambda p: Image.fromarray(pattern(3000, 20, 6)).save(p, quality=85)
    tall = (np.stack([pattern(20, 3000, 7)] * 3, 2) // np.array([1, 2, 3])).astype(np.uint8)
    files["tall20x3000.jpg"] = lambda p: Image.fromarray(tall).save(p, quality=85)
    files["upscale50x37.png"] = lambda p: Image.fromarray(pattern(50, 37, 8)).save(p)
    files["mode_L.png"] = lambda p: Image.fromarray(g).save(p)
    files["mode_LA.png"] = lambda p: Image.fromarray(np.stack([g, g[::-1]], 2), "LA").save(p)
    files["mode_RGB.png"] = lambda p: Image.fromarray(rgb).save(p)
    files["mode_RGBA.png"] = lambda p: Image.fromarray(
        np.concatenate([rgb, g[:, :, None]], 2), "RGBA").save(p)
    files["mode_P.png"] = lambda p: Image.fromarray(rgb).quantize(37).save(p)
    files["mode_P_trns.png"] = lambda p: Image.fromarray(rgb).quantize(16).save(p, transparency=3)
    g16 = (pattern(97, 61, 9).astype(np.uint16) * 3 + 100).astype(np.uint16)  # 100..865
    files["mode_I16.png"] = lambda p: Image.fromarray(g16, "I;16").save(p)
    files["mode_1.png"] = lambda p: Image.fromarray(g > 128).save(p)
    files["mode_L_interlaced.png"] = lambda p: _interlaced_png(p, g)
    rgb16 = (rgb.astype(np.uint16) * 257 + np.arange(97, dtype=np.uint16)[None, :, None] * 3)
    files["mode_RGB16.png"] = lambda p: _raw_png(p, rgb16, 16, 2)
    la16 = np.stack([g16 * 70, g16[::-1] * 13], 2).astype(np.uint16)
    files["mode_LA16.png"] = lambda p: _raw_png(p, la16, 16, 4)
    files["mode_L2.png"] = lambda p: _raw_png(p, g[:, :, None] >> 6, 2, 0)
    files["mode_L4.png"] = lambda p: _raw_png(p, g[:, :, None] >> 4, 4, 0)
    files["cmyk.jpg"] = lambda p: Image.fromarray(rgb).convert("CMYK").save(p, quality=90)
    files["progressive.jpg"] = lambda p: Image.fromarray(rgb).save(p, quality=90, progressive=True)
    files["progressive_gray.jpg"] = lambda p: Image.fromarray(g).save(p, quality=80,
                                                                       progressive=True)
    files["rgb_420.jpg"] = lambda p: Image.fromarray(rgb).save(p, quality=75, subsampling=2)
    files["rgb_444.jpg"] = lambda p: Image.fromarray(rgb).save(p, quality=75, subsampling=0)
    files["rgb_422.jpg"] = lambda p: Image.fromarray(rgb).save(p, quality=75, subsampling=1)
    for name, fn in files.items():
        fn(os.path.join(SYN, name))
    return ["image_synth/" + n for n in files]


def _interlaced_png(path, g):
    """Pillow cannot write Adam7; write a small interlaced gray PNG by hand."""
    import struct
    import zlib
    h, w = g.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = g[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\0" + row.tobytes()

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def _chunk(t, d):
    import struct
    import zlib
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


def _raw_png(path, a, depth, ctype):
    """A non-interlaced PNG of array a (H, W, channels) written by hand, for
    layouts Pillow cannot save (16-bit RGB / LA, 2- and 4-bit gray)."""
    import struct
    import zlib
    h, w = a.shape[:2]
    rows = b""
    for row in a:
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:
            vals, per, data = row.reshape(-1), 8 // depth, bytearray()
            for i in range(0, len(vals), per):
                byte = 0
                for j, v in enumerate(vals[i:i + per]):
                    byte |= int(v) << (8 - depth * (j + 1))
                data.append(byte)
            data = bytes(data)
        rows += b"\0" + data
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    png += _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def main():
    data_files = pick_dataset_files()
    synth = make_synthetic()
    lines = ["# source\tpath\twidth\theight\tmode\tsha256_u8\tsha256_f32  "
             f"(Pillow {PIL.__version__}, torchvision {torchvision.__version__}, "
             f"torch {torch.__version__})"]
    full = []
    for src, rel in [("data", p) for p in data_files] + [("fixture", p) for p in synth]:
        path = os.path.join(DATA if src == "data" else FIX, rel)
        with Image.open(path) as im:
            w, h, mode = im.width, im.height, im.mode
            rgb = im.convert("RGB")
        u8 = np.asarray(rgb.resize((224, 224), Image.BILINEAR))
        f32 = TF(rgb).numpy().astype("<f4")
        assert u8.shape == (224, 224, 3) and f32.shape == (3, 224, 224)
        lines.append(f"{src}\t{rel}\t{w}\t{h}\t{mode}\t{sha(u8.tobytes())}\t{sha(f32.tobytes())}")
        if rel.endswith(("exact224.jpg", "cmyk.jpg")) or (src == "data" and len(full) < 1):
            full.append((rel, u8))
    with open(os.path.join(FIX, "image_expected.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(FIX, "image_full.tsv"), "w") as f:
        for i, (rel, u8) in enumerate(full):
            name = f"image_full_{i}.u8"
            u8.tofile(os.path.join(FIX, name))
            f.write(f"{rel}\t{name}\n")
    with open(os.path.join(FIX, "image_npz.tsv"), "w") as f:
        z = np.load(os.path.join(DATA, "pneumoniamnist.npz"))
        f.write("# split\tcount\tlabel0\tlabel1\tindex\tsha256(image bytes)\tlabel\n")
        for sp in ("train", "val", "test"):
            im, lb = z[sp + "_images"], z[sp + "_labels"].reshape(-1)
            for i in (0, 1, len(im) // 2, len(im) - 1):
                f.write(f"{sp}\t{len(im)}\t{(lb == 0).sum()}\t{(lb == 1).sum()}\t{i}\t"
                        f"{sha(np.ascontiguousarray(im[i]).tobytes())}\t{lb[i]}\n")
    print(f"{len(data_files)} dataset files + {len(synth)} synthetic -> {FIX}")


if __name__ == "__main__":
    main()
