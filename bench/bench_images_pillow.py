#!/usr/bin/python3
"""Pillow + torchvision reference speed for bench_images.sh.

    bench_images_pillow.py DATA_FOLDER WORKERS
Opens every .jpeg under DATA_FOLDER and runs the seed's transform:
Image.open(f).convert('RGB') -> Resize((224,224)) -> ToTensor -> Normalize(ImageNet),
with WORKERS processes (torch DataLoader style, one torch thread each).
Prints "img/s N" (wall clock) and "img/cpu_s N" (images per CPU second of the workers).
"""
import glob
import multiprocessing as mp
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

TF = T.Compose([T.Resize((224, 224)), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def work(paths):
    """Returns the CPU seconds this worker spent."""
    torch.set_num_threads(1)
    c0 = time.process_time()
    s = 0.0
    for p in paths:
        with open(p, "rb") as f:
            x = TF(Image.open(f).convert("RGB"))
        s += float(x[0, 0, 0])
    return time.process_time() - c0


def main():
    root, workers = sys.argv[1], int(sys.argv[2])
    paths = sorted(glob.glob(os.path.join(root, "**", "*.jpeg"), recursive=True))
    torch.set_num_threads(1)
    chunks = [paths[i::workers] for i in range(workers)]
    t0 = time.perf_counter()
    if workers == 1:
        cpu = work(paths)
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            cpu = sum(pool.map(work, chunks))
    dt = time.perf_counter() - t0
    print(f"{len(paths)} images {dt:.3f} s img/s {len(paths) / dt:.1f} "
          f"cpu_s {cpu:.3f} img/cpu_s {len(paths) / cpu:.1f}")


if __name__ == "__main__":
    main()
