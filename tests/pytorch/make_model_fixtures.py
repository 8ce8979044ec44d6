#!/usr/bin/python3
"""PyTorch reference fixtures for the ResNet-18 engine (tests/test_model.c,
tests/test_ops.c). Rerun with Debian's python: /usr/bin/python3 tests/pytorch/make_model_fixtures.py

Weights and inputs are NOT stored: they come from a counter-based generator
(splitmix64) that tests/test_model.c reimplements bit for bit:
    z = seed*0x9E3779B97F4A7C15 + (i+1)*0xBF58476D1CE4E5B9   (mod 2^64)
    z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB; z ^= z>>31
    u = float32(z >> 40) * 2^-24            (exact)
    value = float32(offset) + (u - 0.5f) * float32(scale)   (float32 ops)
with seed = the tensor's index in state_dict order (inputs: seeds >= 1000).
Tensors with more than 4096 elements are stored as 4096 strided samples
(element j*numel//4096) plus the full L2 norm ("<key>.norm", float64 sum in
float32) so the fixtures stay small.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
K = 3            # classes (not 2, to test "any number of classes")
N, HW = 2, 64    # small batch and size for the gradient fixtures
LABELS = [0, 2]
CLASS_W = [0.5, 2.0, 1.5]
LR = 1e-3
SAMPLES = 4096
M64 = (1 << 64) - 1


def gen(seed, n, offset, scale):
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64((seed * 0x9E3779B97F4A7C15) & M64) + i * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return np.float32(offset) + (u - np.float32(0.5)) * np.float32(scale)


def init_params(name, shape):
    """(offset, scale) for a state_dict entry; test_model.c has the same table."""
    numel = int(np.prod(shape)) if shape else 1
    if name.endswith("num_batches_tracked"):
        return None
    if name.endswith("running_mean"):
        return 0.0, 0.2
    if name.endswith("running_var"):
        return 1.0, 1.0
    if name.startswith("fc."):
        return 0.0, 2.0 / math.sqrt(512.0)
    if len(shape) == 4:  # conv: U(-sqrt(6/fan_in), +sqrt(6/fan_in))
        fan_in = numel // shape[0]
        return 0.0, 2.0 * math.sqrt(6.0 / fan_in)
    if name.endswith("weight"):  # bn gamma
        return 1.0, 1.0
    return 0.0, 0.4  # bn beta


def make_model():
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=K)
    sd = m.state_dict()
    new = {}
    for idx, (name, t) in enumerate(sd.items()):
        p = init_params(name, list(t.shape))
        if p is None:
            new[name] = t.clone()
        else:
            new[name] = torch.from_numpy(gen(idx, t.numel(), *p).reshape(t.shape))
    m.load_state_dict(new)
    return m


def make_input(seed, n, hw):
    return torch.from_numpy(gen(seed, n * 3 * hw * hw, 0.0, 4.0).reshape(n, 3, hw, hw))


def sample(a):
    a = a.detach().reshape(-1).numpy().astype(np.float32)
    if a.size <= SAMPLES:
        return a
    idx = (np.arange(SAMPLES, dtype=np.int64) * a.size) // SAMPLES
    return a[idx]


def norm(a):
    a = a.detach().reshape(-1).numpy().astype(np.float64)
    return np.array([math.sqrt(float((a * a).sum()))], dtype=np.float32)


TRAINABLE = {  # top-level children that train, per freeze level
    "fc": ["fc"],
    "layer4": ["layer4", "avgpool", "fc"],
    "layer3": ["layer3", "layer4", "avgpool", "fc"],
    "none": None,
}


def set_freeze(m, level):
    m.train()
    keep = TRAINABLE[level]
    if keep is None:
        return
    for cname, child in m.named_children():
        if cname not in keep:
            child.eval()
            for p in child.parameters():
                p.requires_grad_(False)


def taps(m, x):
    out = {}
    y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    out["tap.stem"] = y
    for l in ["layer1", "layer2", "layer3", "layer4"]:
        y = getattr(m, l)(y)
        out["tap." + l] = y
    f = torch.flatten(m.avgpool(y), 1)
    out["tap.pool"] = f
    out["logits"] = m.fc(f)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    meta = {"generator": "tests/pytorch/make_model_fixtures.py", "torch": torch.__version__,
            "torchvision": torchvision.__version__, "num_classes": K}

    # ---- eval forward: 64x64 batch 2 with taps, and one full 224x224 image
    m = make_model().eval()
    with torch.no_grad():
        t = {k: v for k, v in taps(m, make_input(1000, N, HW)).items()
             if k in ("tap.layer2", "tap.layer3", "tap.pool", "logits")}
        t224 = taps(m, make_input(1001, 1, 224))
    t["logits224"] = t224["logits"]
    t["pool224"] = t224["tap.pool"]
    fixture_io.save(os.path.join(OUT, "model_eval.safetensors"), t, meta)

    # ---- one training forward/backward per freeze level
    labels = torch.tensor(LABELS, dtype=torch.int64)
    cw = torch.tensor(CLASS_W, dtype=torch.float32)
    for level in ["fc", "layer4", "layer3", "none"]:
        m = make_model()
        set_freeze(m, level)
        x = make_input(1000, N, HW)
        logits = m(x)
        loss = F.cross_entropy(logits, labels, weight=cw)
        loss.backward()
        out = {"logits": logits, "loss": loss.detach().reshape(1), "labels": labels,
               "class_weights": cw}
        for name, p in m.named_parameters():
            if p.requires_grad:
                out["grad." + name] = sample(p.grad)
                out["grad." + name + ".norm"] = norm(p.grad)
        for name, b in m.named_buffers():
            if name.endswith("num_batches_tracked"):
                out["buf." + name] = b.reshape(1)
            elif any(name.startswith(c) for c in (TRAINABLE[level] or [""])):
                out["buf." + name] = b
        fixture_io.save(os.path.join(OUT, "model_train_%s.safetensors" % level), out, meta)

    # ---- 3 Adam steps (fc only, and layer4+fc) on three batches
    for level in ["fc", "layer4"]:
        m = make_model()
        set_freeze(m, level)
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=LR)
        out = {}
        for s in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(m(make_input(2000 + s, N, HW)), labels, weight=cw)
            loss.backward()
            opt.step()
            out["loss%d" % s] = loss.detach().reshape(1)
        for name, p in m.named_parameters():
            if p.requires_grad:
                out["param." + name] = sample(p)
                out["param." + name + ".norm"] = norm(p)
        for name, b in m.named_buffers():
            if name.startswith("layer4") and not name.endswith("num_batches_tracked"):
                out["buf." + name] = b
        fixture_io.save(os.path.join(OUT, "model_adam3_%s.safetensors" % level), out, meta)

    # ---- op-level Adam: 1003 elements (not a multiple of the vector width)
    n = 1003
    p = torch.from_numpy(gen(3000, n, 0.0, 2.0)).clone().requires_grad_(True)
    p0 = p.detach().clone()
    opt = torch.optim.Adam([p], lr=LR)
    out = {"p0": p0}
    for s in range(3):
        g = torch.from_numpy(gen(3001 + s, n, 0.0, 0.02 * (s + 1)))
        g[::7] *= 1e-4  # some small gradients, where eps matters
        out["g%d" % s] = g.clone()
        p.grad = g.clone()
        opt.step()
    st = opt.state[p]
    out["p3"] = p.detach()
    out["m3"] = st["exp_avg"]
    out["v3"] = st["exp_avg_sq"]
    fixture_io.save(os.path.join(OUT, "model_adam_op.safetensors"), out, meta)
    print("fixtures written to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
