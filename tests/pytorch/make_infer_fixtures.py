#!/usr/bin/python3
"""Reference outputs of torchvision's ResNet-18 for the inference engine tests.

Run with Debian's python:  /usr/bin/python3 tests/pytorch/make_infer_fixtures.py
Writes tests/fixtures/infer_resnet18.safetensors.

The 11.7M weights (47 MB) are far too big to commit, so they and the inputs
come from a small counter-based generator that tests/test_infer.c reproduces
bit for bit (gen_tensor() here, gen() in tests/test_infer.c):

    base  = fnv1a64(name) ^ SEED
    h[i]  = splitmix64(base + i)                (uint64, wrapping)
    u[i]  = float32(h[i] >> 40) * 2^-24         (exact, in [0, 1))
    t[i]  = u[i] * 2 - 1                        (exact, in [-1, 1))

conv weights  t * float32(sqrt(6 / fan_in))     (kaiming-uniform scale)
fc.weight/bias t * float32(1 / sqrt(512))
bn weight     0.5 + u      bn running_var 0.5 + u
bn bias       0.2 * t      bn running_mean 0.2 * t
inputs        2 * t

All float32 products of exact values, rounded once: identical in numpy and C.
The tensors are loaded into torchvision.models.resnet18(num_classes=2) in
eval mode, which is then run in float64 (the reference), and the taps
are stored as float32:
  s64.*   input "input64"  (4,3,64,64):  stem (after maxpool), layer1..4, pool, logits
  s224.*  input "input224" (2,3,224,224): layer2, layer3, layer4, pool, logits
  s224f32.logits  the same in PyTorch float32 (for information)
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 0x5EED2026
M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def gen_u_t(name, n):
    base = np.uint64(fnv1a64(name) ^ SEED)
    with np.errstate(over="ignore"):
        z = base + np.arange(n, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    t = u * np.float32(2) - np.float32(1)
    return u, t


def gen_tensor(name, shape):
    n = int(np.prod(shape))
    u, t = gen_u_t(name, n)
    if name.endswith("num_batches_tracked"):
        return None
    if name.startswith("input"):
        v = t * np.float32(2)
    elif name.startswith("fc."):
        v = t * np.float32(1.0 / np.sqrt(512.0))
    elif len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        v = t * np.float32(np.sqrt(6.0 / fan_in))
    elif name.endswith(".weight") or name.endswith(".running_var"):
        v = np.float32(0.5) + u
    else:  # bn bias, running_mean
        v = np.float32(0.2) * t
    return v.reshape(shape)


def taps(model, x):
    out = {}
    m = model
    y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    out["stem"] = y
    for i in range(1, 5):
        y = getattr(m, "layer%d" % i)(y)
        out["layer%d" % i] = y
    y = torch.flatten(m.avgpool(y), 1)
    out["pool"] = y
    out["logits"] = m.fc(y)
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2)
    sd = model.state_dict()
    new = {}
    for k, v in sd.items():
        g = gen_tensor(k, tuple(v.shape))
        new[k] = v if g is None else torch.from_numpy(np.ascontiguousarray(g))
    model.load_state_dict(new)
    model.eval()

    x64 = torch.from_numpy(gen_tensor("input64", (4, 3, 64, 64)))
    x224 = torch.from_numpy(gen_tensor("input224", (2, 3, 224, 224)))
    fix = {}
    with torch.no_grad():
        f32 = taps(model, x224)
        md = model.double()
        t64 = taps(md, x64.double())
        t224 = taps(md, x224.double())
    for k in ["stem", "layer1", "layer2", "layer3", "layer4", "pool", "logits"]:
        fix["s64." + k] = t64[k].float()
    for k in ["layer2", "layer3", "layer4", "pool", "logits"]:
        fix["s224." + k] = t224[k].float()
    fix["s224f32.logits"] = f32["logits"]
    # spot values of the generator, so the C side can check it first
    fix["gen.conv1.weight"] = new["conv1.weight"].reshape(-1)[:16].clone()
    fix["gen.input64"] = x64.reshape(-1)[:16].clone()
    out = os.path.join(root, "tests", "fixtures", "infer_resnet18.safetensors")
    fixture_io.save(out, fix, {"seed": hex(SEED), "torch": torch.__version__,
                               "torchvision": torchvision.__version__})
    print("wrote", out, os.path.getsize(out), "bytes")
    # PyTorch's own float32 against the float64 reference, with the metric of
    # tests/test_infer.c: max |got - want| / max(|want|, rms(want))
    for k, v in t224.items():
        rms = v.pow(2).mean().sqrt()
        e = ((f32[k].double() - v).abs() / v.abs().clamp(min=rms)).max()
        print("s224.%-7s %-18s rms %9.4g  pytorch fp32 rel err %.3g" % (k, tuple(v.shape), rms, e))


if __name__ == "__main__":
    main()
