#!/usr/bin/python3
"""torch.optim + torch.optim.lr_scheduler references for the optimisers and
schedules (tests/test_train_optim.c). Rerun: /usr/bin/python3 tests/pytorch/make_optim_fixtures.py

train_optim.safetensors
  sched_<name>_lr       20 epochs of the learning rate a scheduler gives when
                        stepped once per epoch (SequentialLR([LinearLR(1/(W+1), W),
                        main], [W]) with a warmup W; ReduceLROnPlateau stepped with
                        plateau_val after each post-warmup epoch), base lr 0.1
  head_<name>_*         the head recipe of make_train_fixtures.py (Linear(512, 2)
                        from torch.manual_seed(3), plain CrossEntropyLoss, batch 32,
                        no shuffling, 5 epochs) with another optimiser and
                        schedule: per-epoch lr and mean loss, final w and b
  model_<name>_*        3 steps of the layer4 ResNet-18 of make_model_fixtures.py
                        with another optimiser and a different lr per step
Float64 values (lr, losses) are stored bit for bit as int64 (the reader
keeps integers and converts floats to float32).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import lr_scheduler as L

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402
import make_model_fixtures as mm  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
EPOCHS = 20
PLATEAU_VAL = [1.0, 0.9, 0.95, 0.95, 0.8, 0.81, 0.82, 0.83, 0.7, 0.7,
               0.69995, 0.71, 0.6, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5]

# name -> (kind, warmup, args); the C test has the same table
SCHEDULES = {
    "constant_w0": ("constant", 0, None),
    "constant_w3": ("constant", 3, None),
    "step_w0": ("step", 0, ([5, 10, 10, 15], 0.5)),
    "step_w2": ("step", 2, ([5, 12], 0.1)),
    "cosine_w0": ("cosine", 0, None),
    "cosine_w4": ("cosine", 4, None),
    "plateau_w0": ("plateau", 0, (1, 0.5)),
    "plateau_w2": ("plateau", 2, (0, 0.1)),
}


def f64(v):
    return np.array(v, dtype=np.float64).view(np.int64)


def make_scheduler(opt, kind, warmup, args, epochs):
    """(scheduler, plateau) for one of the table's schedules"""
    if kind == "plateau":
        pat, fac = args
        lin = L.LinearLR(opt, start_factor=1.0 / (warmup + 1), total_iters=warmup) if warmup else None
        return lin, L.ReduceLROnPlateau(opt, mode="min", factor=fac, patience=pat)
    if kind == "constant":
        if not warmup:
            return None, None
        return L.LinearLR(opt, start_factor=1.0 / (warmup + 1), total_iters=warmup), None
    if kind == "step":
        ms, gamma = args
        main = L.MultiStepLR(opt, milestones=[m - warmup for m in ms], gamma=gamma)
    else:
        main = L.CosineAnnealingLR(opt, T_max=epochs - warmup)
    if not warmup:
        return main, None
    lin = L.LinearLR(opt, start_factor=1.0 / (warmup + 1), total_iters=warmup)
    return L.SequentialLR(opt, [lin, main], milestones=[warmup]), None


def sched_step(sched, plateau, warmup, epoch, val):
    """the scheduler's step after epoch index `epoch`"""
    if plateau is not None:
        if epoch < warmup:
            sched.step()
        else:
            plateau.step(val)
    elif sched is not None:
        sched.step()


def sched_fixture(t):
    for name, (kind, warmup, args) in SCHEDULES.items():
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched, plateau = make_scheduler(opt, kind, warmup, args, EPOCHS)
        lrs = []
        for e in range(EPOCHS):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched_step(sched, plateau, warmup, e, PLATEAU_VAL[e])
        t["sched_%s_lr" % name] = f64(lrs)
    t["plateau_val"] = f64(PLATEAU_VAL)


# name -> (optimizer, kwargs, lr, schedule name); the C test has the same table
HEADS = {
    "adam_l2_step": ("adam", {"weight_decay": 1e-2}, 1e-3, ("step", 0, ([2, 4], 0.5))),
    "adamw_cosine": ("adamw", {"weight_decay": 0.05}, 2e-3, ("cosine", 1, None)),
    "sgd_nesterov": ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}, 0.01,
                     ("step", 2, ([3], 0.1))),
    "sgd_plain": ("sgd", {}, 0.1, ("constant", 2, None)),
    "sgd_momentum_plateau": ("sgd", {"momentum": 0.5}, 0.2, ("plateau", 1, (0, 0.5))),
}


def make_opt(kind, params, lr, kw):
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, **kw)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, **kw)
    return torch.optim.SGD(params, lr=lr, **kw)


def head_fixture(t):
    n, d = 100, 512
    g = torch.Generator()
    g.manual_seed(2024)
    x = torch.rand(n, d, generator=g) * 2.0  # as make_train_fixtures.py
    y = (torch.rand(n, generator=g) < 0.7).to(torch.int64)
    x[:, :16] += y[:, None].float() * 0.5
    ntr = 80  # the last 20 items validate (the plateau steps on their loss)
    t["head_x"], t["head_y"] = x, y
    for name, (kind, kw, lr, (sk, warmup, sargs)) in HEADS.items():
        torch.manual_seed(3)
        head = nn.Linear(d, 2)
        crit = nn.CrossEntropyLoss()
        opt = make_opt(kind, head.parameters(), lr, kw)
        sched, plateau = make_scheduler(opt, sk, warmup, sargs, 5)
        losses, lrs, vals = [], [], []
        for e in range(5):
            lrs.append(opt.param_groups[0]["lr"])
            run = 0.0
            for i in range(0, ntr, 32):
                xb, yb = x[i:min(i + 32, ntr)], y[i:min(i + 32, ntr)]
                opt.zero_grad()
                loss = crit(head(xb), yb)
                loss.backward()
                opt.step()
                run += loss.item() * xb.shape[0]
            losses.append(run / ntr)
            with torch.no_grad():
                v = crit(head(x[ntr:]), y[ntr:]).item()
            vals.append(v)
            sched_step(sched, plateau, warmup, e, v)
        t["head_%s_losses" % name] = f64(losses)
        t["head_%s_val" % name] = f64(vals)
        t["head_%s_lr" % name] = f64(lrs)
        t["head_%s_w" % name] = head.weight.detach().clone()
        t["head_%s_b" % name] = head.bias.detach().clone()


MODELS = {  # name -> (optimizer, kwargs, lr of each step)
    "sgd_nesterov": ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
                     [1e-2, 5e-3, 2.5e-3]),
    "adamw": ("adamw", {"weight_decay": 0.1}, [1e-3, 5e-4, 2.5e-4]),
}


def model_fixture(t):
    labels = torch.tensor(mm.LABELS, dtype=torch.int64)
    cw = torch.tensor(mm.CLASS_W, dtype=torch.float32)
    for name, (kind, kw, lrs) in MODELS.items():
        m = mm.make_model()
        mm.set_freeze(m, "layer4")
        opt = make_opt(kind, [p for p in m.parameters() if p.requires_grad], lrs[0], kw)
        for s in range(3):
            for gr in opt.param_groups:
                gr["lr"] = lrs[s]
            opt.zero_grad()
            loss = F.cross_entropy(m(mm.make_input(2000 + s, mm.N, mm.HW)), labels, weight=cw)
            loss.backward()
            opt.step()
            t["model_%s_loss%d" % (name, s)] = loss.detach().reshape(1)
        for pn, p in m.named_parameters():
            if p.requires_grad:
                t["model_%s_param.%s" % (name, pn)] = mm.sample(p)
                t["model_%s_param.%s.norm" % (name, pn)] = mm.norm(p)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    t = {}
    sched_fixture(t)
    head_fixture(t)
    model_fixture(t)
    fixture_io.save(os.path.join(OUT, "train_optim.safetensors"), t,
                    {"generator": "tests/pytorch/make_optim_fixtures.py", "torch": torch.__version__})
    print("wrote", os.path.normpath(os.path.join(OUT, "train_optim.safetensors")))


if __name__ == "__main__":
    main()
