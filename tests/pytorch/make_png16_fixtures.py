#!/usr/bin/python3
"""16-bit grayscale PNG fixtures (tests/test_png16.c), written byte by byte
(zlib + struct: Pillow cannot write sBIT), and what Pillow 9.4 makes of them.

    /usr/bin/python3 tests/pytorch/make_png16_fixtures.py
Writes tests/fixtures/image_synth/gray16_sbit12.png (64x32, 12-bit data in
16-bit samples, sBIT 12: v = (x * 4095) // 63 + 0 * y) and gray16_full.png
(64x32, no sBIT: v = x * 1040), and prints Pillow's clipped values of the
first row (convert('RGB')), which tests/test_png16.c checks for --png16 clip.
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYN = os.path.join(ROOT, "tests", "fixtures", "image_synth")


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png16(path, vals, sbit=None):
    h, w = vals.shape
    raw = b"".join(b"\0" + vals[y].astype(">u2").tobytes() for y in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0))
    if sbit:
        out += chunk(b"sBIT", bytes([sbit]))
    out += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(out)


x = np.arange(64)
png16(os.path.join(SYN, "gray16_sbit12.png"), np.tile((x * 4095) // 63, (32, 1)), sbit=12)
png16(os.path.join(SYN, "gray16_full.png"), np.tile(x * 1040, (32, 1)))
for f in ("gray16_sbit12.png", "gray16_full.png"):
    im = Image.open(os.path.join(SYN, f))
    print(f, im.mode, list(np.asarray(im.convert("RGB"))[0, :8, 0]))
