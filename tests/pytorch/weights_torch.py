"""PyTorch side of tests/test_weights_torch.c (run with /usr/bin/python3).

  weights_torch.py make DIR
      torch.save()s full-size torchvision ResNet-18 state_dicts into DIR:
        r18_1000.pth     resnet18() (1000 classes)
        r18_2.pth        resnet18(num_classes=2)
        r18_seed.pth     the seed notebook's head: fc = Sequential(Linear(512, 2), LogSoftmax)
        r18_f16.pth, r18_bf16.pth   fp16 / bf16 copies of r18_2
        r18_legacy.pth   r18_2 in the pre-1.6 format (_use_new_zipfile_serialization=False)
        r18_dp.pth       r18_2 as saved from nn.DataParallel ("module." prefix)
      and for each NAME.pth a NAME.sums listing, per tensor in state_dict
      order, "name dtype shape sha256" of the tensor as pneumo must hold it
      (floats converted with .float(), integers with .long(), little-endian).
      Weights are random (seeded), not the ImageNet ones: no download here.

  weights_torch.py check-export REF.pth OUT.pth MODEL.safetensors
      OUT.pth (written by pneumo's .pth writer) must load with torch.load,
      also weights_only=True, load strictly into resnet18(num_classes=2),
      hold tensors equal to REF.pth's and give the same logits; MODEL
      (a pneumo model file) must hold the same tensors and its metadata.
"""
import collections
import hashlib
import json
import struct
import sys

import torch
import torchvision


def sums(sd, path):
    with open(path, "w") as f:
        for k, v in sd.items():
            v = v.float() if v.is_floating_point() else v.long()
            h = hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()
            f.write("%s %s %s %s\n" % (k, "int64" if v.dtype == torch.int64 else "float32",
                                       "x".join(str(s) for s in v.shape) or "scalar", h))


def make(d):
    torch.manual_seed(18)
    m1000 = torchvision.models.resnet18()
    m2 = torchvision.models.resnet18(num_classes=2)
    for i, mod in enumerate(m2.modules()):
        if isinstance(mod, torch.nn.BatchNorm2d):  # non-trivial running stats
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.num_batches_tracked.fill_(1000 + i)
    seed = torchvision.models.resnet18()
    seed.fc = torch.nn.Sequential(torch.nn.Linear(512, 2), torch.nn.LogSoftmax(dim=1))
    files = collections.OrderedDict()
    files["r18_1000"] = (m1000.state_dict(), {})
    files["r18_2"] = (m2.state_dict(), {})
    files["r18_seed"] = (seed.state_dict(), {})
    sd2 = m2.state_dict()
    for name, dt in (("r18_f16", torch.float16), ("r18_bf16", torch.bfloat16)):
        c = collections.OrderedDict(
            (k, v.to(dt) if v.is_floating_point() else v) for k, v in sd2.items())
        c._metadata = sd2._metadata
        files[name] = (c, {})
    files["r18_legacy"] = (sd2, {"_use_new_zipfile_serialization": False})
    files["r18_dp"] = (torch.nn.DataParallel(m2).state_dict(), {})
    for name, (sd, kw) in files.items():
        torch.save(sd, "%s/%s.pth" % (d, name), **kw)
        sums(sd, "%s/%s.sums" % (d, name))


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = collections.OrderedDict()
    for k, v in hdr.items():
        dt = {"F32": torch.float32, "I64": torch.int64}[v["dtype"]]
        s, e = v["data_offsets"]
        raw = bytearray(b[8 + n + s:8 + n + e])
        t = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0, dtype=dt)
        out[k] = t.reshape(v["shape"])
    return out, meta


def check_export(ref_path, out_path, model_path):
    ref = torch.load(ref_path)
    got = torch.load(out_path, weights_only=True)
    got2 = torch.load(out_path)
    assert list(got.keys()) == list(ref.keys()), "key order differs"
    for k in ref:
        for g in (got[k], got2[k]):
            assert g.dtype == ref[k].dtype, (k, g.dtype, ref[k].dtype)
            assert torch.equal(g, ref[k]), k
    a = torchvision.models.resnet18(num_classes=2)
    a.load_state_dict(got, strict=True)
    b = torchvision.models.resnet18(num_classes=2)
    b.load_state_dict(ref, strict=True)
    a.eval()
    b.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        la, lb = a(x), b(x)
    assert torch.equal(la, lb), "logits differ"
    st, meta = read_safetensors(model_path)
    c = torchvision.models.resnet18(num_classes=2)
    c.load_state_dict(st, strict=True)
    for k in ref:
        assert torch.equal(st[k], ref[k]), k
    assert meta["pneumo.arch"] == "resnet18", meta
    assert json.loads(meta["pneumo.classes"]) == ["NORMAL", "PNEUMONIA"], meta
    assert json.loads(meta["pneumo.mean"]) == [0.485, 0.456, 0.406], meta
    print("export ok: strict load, %d tensors equal, logits equal %s" % (len(ref), la[0].tolist()))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "check-export":
        check_export(*sys.argv[2:5])
    else:
        sys.exit("usage: weights_torch.py make DIR | check-export REF OUT MODEL")
