"""Reference fixtures for the model-files tests (tests/test_weights*.c).

Rerun with Debian's python:  /usr/bin/python3 tests/pytorch/make_weight_fixtures.py
It writes small files under tests/fixtures/weights_*:

  weights_st_dtypes.safetensors   tensors in F32/F16/BF16/F64/I64/I32/U8/I8/BOOL
                                  + __metadata__ (written here by hand, in
                                  header order, so the reader's dtype handling
                                  is checked against torch's own conversion)
  weights_st_dtypes_want.safetensors  the same tensors as torch converts them:
                                  floats .float() -> F32, integers .long() -> I64
  weights_small_{zip,legacy,f16,bf16,f64,ckpt,param}.pth
                                  torch.save of a small state_dict (reduced
                                  shapes: the format, not the size, is tested)
                                  in the zip format, the legacy format, as
                                  fp16/bf16/f64 copies, inside a training
                                  checkpoint dict, and with nn.Parameter values
  weights_small_want.safetensors  the expected float32/int64 tensors

The full-size resnet18 .pth files are made DURING the tests (tests/test_weights_py.sh).
"""
import collections
import json
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")

_ST = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
       torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8",
       torch.bool: "BOOL"}


def st_save(path, tensors, metadata=None):
    """safetensors writer in header (insertion) order; bf16 via raw bytes."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bfloat16:
            b = t.view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().tobytes()
        header[name] = {"dtype": _ST[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def dtypes_fixture():
    g = torch.Generator().manual_seed(4)
    base = torch.randn(3, 5, generator=g) * 100
    special = torch.tensor([0.0, -0.0, 1e-7, -3e-8, 65504.0, 1e30, float("inf"), float("-inf"),
                            6.1e-5, 5.96e-8, 1.0 / 3.0])
    t = collections.OrderedDict()
    t["f32"] = base
    t["f16"] = torch.cat([base.flatten(), special]).half()
    t["bf16"] = torch.cat([base.flatten(), special]).bfloat16()
    t["f64"] = torch.cat([base.flatten().double() / 7, special.double()])
    t["i64"] = torch.tensor([0, -1, 2**40, -(2**62), 7], dtype=torch.int64)
    t["i32"] = torch.tensor([[0, -1], [2**31 - 1, -(2**31)]], dtype=torch.int32)
    t["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    t["i8"] = torch.tensor([0, -128, 127, -5], dtype=torch.int8)
    t["bool"] = torch.tensor([True, False, True])
    t["scalar"] = torch.tensor(2.5)
    t["empty"] = torch.zeros(0, 4)
    st_save(os.path.join(OUT, "weights_st_dtypes.safetensors"), t,
            {"format": "pt", "note": "quote \" backslash \\ tab \t é"})
    want = collections.OrderedDict(
        (k, v.float() if v.is_floating_point() else v.long()) for k, v in t.items())
    st_save(os.path.join(OUT, "weights_st_dtypes_want.safetensors"), want)


def small_state_dict():
    """A tiny conv+bn+fc network: same tensor kinds as a ResNet state_dict."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(collections.OrderedDict([
        ("conv1", torch.nn.Conv2d(3, 4, 3, bias=False)),
        ("bn1", torch.nn.BatchNorm2d(4)),
        ("fc", torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.LogSoftmax(dim=1))),
    ]))
    net.bn1.running_mean.uniform_(-1, 1)
    net.bn1.running_var.uniform_(0.5, 2)
    net.bn1.num_batches_tracked.fill_(123456789012)
    return net.state_dict()


def pth_fixtures():
    sd = small_state_dict()
    p = lambda n: os.path.join(OUT, n)
    torch.save(sd, p("weights_small_zip.pth"))
    torch.save(sd, p("weights_small_legacy.pth"), _use_new_zipfile_serialization=False)
    for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)):
        conv = collections.OrderedDict(
            (k, v.to(dt) if v.is_floating_point() else v) for k, v in sd.items())
        conv._metadata = sd._metadata
        torch.save(conv, p("weights_small_%s.pth" % name))
        want = collections.OrderedDict(
            (k, v.float() if v.is_floating_point() else v) for k, v in conv.items())
        st_save(p("weights_small_%s_want.safetensors" % name), want)
    torch.save({"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": {"lr": 0.001},
                "loss": 0.25}, p("weights_small_ckpt.pth"))
    params = collections.OrderedDict(
        (k, torch.nn.Parameter(v) if v.is_floating_point() else v) for k, v in sd.items())
    torch.save(params, p("weights_small_param.pth"))
    st_save(p("weights_small_want.safetensors"), sd)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    dtypes_fixture()
    pth_fixtures()
    print("fixtures written to", os.path.normpath(OUT), file=sys.stderr)


def bad_fixtures():
    """Malformed .pth files for the bad-input tests (never loaded by torch here)."""
    import io
    import pickle
    import zipfile
    p = lambda n: os.path.join(OUT, n)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo this must never run",))

    od = collections.OrderedDict([("w", Evil())])
    with zipfile.ZipFile(p("weights_bad_global.pth"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", pickle.dumps(od, protocol=2))
        z.writestr("evil/version", "3\n")
    torch.save({"w": torch.arange(6.0).reshape(2, 3).t()}, p("weights_bad_noncontig.pth"))
    # a whole pickled module instead of its state_dict
    torch.manual_seed(0)
    torch.save(torch.nn.Linear(2, 2), p("weights_bad_module.pth"))
    # a storage record 4 bytes shorter than its tensor needs
    src = zipfile.ZipFile(p("weights_small_zip.pth"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("/data/0"):
                data = data[:-4]
            z.writestr(info.filename.replace("weights_small_zip", "short"), data)
    open(p("weights_bad_short.pth"), "wb").write(buf.getvalue())
    # another archive name and deflate-compressed records are fine (libzip)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename.replace("weights_small_zip", "other name"),
                       src.read(info.filename))
    open(p("weights_small_deflate.pth"), "wb").write(buf.getvalue())
    # ZIP64 extra fields in every local header (torch itself writes a ZIP64 end record)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            with z.open(info.filename.replace("weights_small_zip", "z64"), "w",
                        force_zip64=True) as f:
                f.write(src.read(info.filename))
    open(p("weights_small_zip64.pth"), "wb").write(buf.getvalue())


if __name__ == "__main__":
    bad_fixtures()
