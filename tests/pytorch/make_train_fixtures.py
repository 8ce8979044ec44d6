#!/usr/bin/python3
"""Reference fixtures for the training area (rerun: /usr/bin/python3 tests/pytorch/make_train_fixtures.py).

train_rng.safetensors
    nn.Linear(512, 2) init after torch.manual_seed(S) for a few seeds,
    torch.randperm(n, generator) and DataLoader(shuffle=True) epoch orders.
train_head.safetensors
    The seed's head recipe on fixed 512-d features: Linear(512, 2) from
    torch.manual_seed(S), CrossEntropyLoss (plain and class-weighted), Adam
    lr 1e-3, batch 32, 5 epochs, no shuffling; per-epoch mean losses
    (sum of loss.item() * batch size / N) and the final head weights.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def rng_fixture():
    t = {}
    for s in (0, 42, 12345, 2**32 + 7):
        torch.manual_seed(s)
        lin = nn.Linear(512, 2)
        t[f"linear_w_{s}"] = lin.weight.detach().clone()
        t[f"linear_b_{s}"] = lin.bias.detach().clone()
    for n, s in ((10, 7), (800, 1), (1000, 99)):
        g = torch.Generator()
        g.manual_seed(s)
        t[f"randperm_{n}_{s}"] = torch.randperm(n, generator=g)
    # seed 5: head init, then 3 DataLoader epochs over 800 items
    torch.manual_seed(5)
    nn.Linear(512, 2)
    dl = torch.utils.data.DataLoader(list(range(800)), batch_size=800, shuffle=True)
    for e in range(3):
        t[f"epoch_5_{e}"] = next(iter(dl)).to(torch.int64)
    fixture_io.save(os.path.join(OUT, "train_rng.safetensors"), t)


def head_fixture():
    n, d = 100, 512
    g = torch.Generator()
    g.manual_seed(2024)
    # ReLU-pooled-like features: nonnegative, a class signal in a few dims
    x = torch.rand(n, d, generator=g) * 2.0
    y = (torch.rand(n, generator=g) < 0.7).to(torch.int64)
    x[:, :16] += y[:, None].float() * 0.5
    t = {"x": x, "y": y}
    counts = torch.bincount(y, minlength=2).double()
    cw = (n / (2 * counts)).float()  # inverse frequency: N / (C * n_c)
    t["class_weight"] = cw
    for name, weight in (("plain", None), ("weighted", cw)):
        torch.manual_seed(3)
        head = nn.Linear(d, 2)
        t[f"{name}_w0"] = head.weight.detach().clone()
        t[f"{name}_b0"] = head.bias.detach().clone()
        crit = nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.Adam(head.parameters(), lr=1e-3)
        losses = []
        for _ in range(5):
            run = 0.0
            for i in range(0, n, 32):
                xb, yb = x[i:i + 32], y[i:i + 32]
                opt.zero_grad()
                loss = crit(head(xb), yb)
                loss.backward()
                opt.step()
                run += loss.item() * xb.shape[0]
            losses.append(run / n)
        t[f"{name}_losses"] = torch.tensor(losses, dtype=torch.float64).float()
        t[f"{name}_w"] = head.weight.detach().clone()
        t[f"{name}_b"] = head.bias.detach().clone()
    fixture_io.save(os.path.join(OUT, "train_head.safetensors"), t,
                    {"torch": torch.__version__})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    rng_fixture()
    head_fixture()
