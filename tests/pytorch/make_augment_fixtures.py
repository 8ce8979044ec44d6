#!/usr/bin/python3
"""torchvision 0.14 / Pillow 9.4 references for pneumo's augmentation
(tests/test_augment.c). Rerun: /usr/bin/python3 tests/pytorch/make_augment_fixtures.py

augment.safetensors (uint8 HWC images):
  base0, base1     Resize((96, 96)) of two shared X-rays after convert("RGB")
  <op>             one transform of base0 with fixed parameters (see OPS)
  seq_<k>          Compose([RandomResizedCrop(96, (0.3, 1)), RandomRotation(15, BILINEAR),
                   RandomAffine(0, translate=(0.1, 0.1)), ColorJitter(0.4, 0.4),
                   RandomHorizontalFlip(0.5)]) after torch.manual_seed(11), applied to
                   base0, base1, base0, ... (k = 0..7) in turn
"""
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
DATA = os.environ.get("PNEUMO_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data"))
IMAGES = ["chest_xray/train/NORMAL/IM-0117-0001.jpeg",
          "chest_xray/train/PNEUMONIA/person1004_bacteria_2935.jpeg"]
BL = T.InterpolationMode.BILINEAR
# name -> function of the base image; tests/test_augment.c has the same table
OPS = {
    "rot_7.3": lambda im: F.rotate(im, 7.3, BL),
    "rot_-12.9": lambda im: F.rotate(im, -12.9, BL),
    "rot_33.3": lambda im: F.rotate(im, 33.3, BL),
    "rot_90": lambda im: F.rotate(im, 90.0, BL),
    "rot_180": lambda im: F.rotate(im, 180.0, BL),
    "rot_-90": lambda im: F.rotate(im, -90.0, BL),
    "tr_5_-3": lambda im: F.affine(im, 0.0, [5, -3], 1.0, [0.0, 0.0]),
    "tr_-7_11": lambda im: F.affine(im, 0.0, [-7, 11], 1.0, [0.0, 0.0]),
    "bright_0.7": lambda im: F.adjust_brightness(im, 0.7),
    "bright_1.4": lambda im: F.adjust_brightness(im, 1.4),
    "contrast_0.6": lambda im: F.adjust_contrast(im, 0.6),
    "contrast_1.5": lambda im: F.adjust_contrast(im, 1.5),
    "hflip": lambda im: F.hflip(im),
    "crop_5_9_60_71": lambda im: F.resized_crop(im, 5, 9, 60, 71, [96, 96], BL),
}


def u8(im):
    return np.asarray(im, dtype=np.uint8).copy()


def main():
    bases = []
    for p in IMAGES:
        im = Image.open(os.path.join(DATA, p)).convert("RGB")
        bases.append(F.resize(im, [96, 96], BL))
    t = {"base0": u8(bases[0]), "base1": u8(bases[1])}
    for name, fn in OPS.items():
        t[name] = u8(fn(bases[0]))
    pipe = T.Compose([T.RandomResizedCrop(96, scale=(0.3, 1.0), interpolation=BL),
                      T.RandomRotation(15, interpolation=BL),
                      T.RandomAffine(0, translate=(0.1, 0.1)),
                      T.ColorJitter(brightness=0.4, contrast=0.4),
                      T.RandomHorizontalFlip(0.5)])
    torch.manual_seed(11)
    for k in range(8):
        t["seq_%d" % k] = u8(pipe(bases[k % 2]))
    fixture_io.save(os.path.join(OUT, "augment.safetensors"), t,
                    {"generator": "tests/pytorch/make_augment_fixtures.py",
                     "torchvision": torchvision.__version__, "torch": torch.__version__})


if __name__ == "__main__":
    main()
