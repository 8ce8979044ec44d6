#!/usr/bin/python3
"""PyTorch side of bench/bench_engine.sh: torchvision ResNet-18 (2 classes,
random init, eval mode) on Debian's PyTorch, the same workloads as
`pneumo bench`: forward images/s at batch 32, 224x224, 1 thread and all cores:
  eager fp32, jit (script + freeze) with channels_last fp32, bf16 autocast
  (where the CPU has avx512_bf16: elsewhere autocast runs but computes in
  fp32 kernels), int8 by FX post-training quantization on the onednn
  quantized engine (fbgemm where onednn is missing), calibrated on the input;
and the training-step images/s (CrossEntropyLoss + Adam) per freeze level
(fc, layer4, layer3, none) at all cores.

Run with /usr/bin/python3 (python3-torch, python3-torchvision).
Timing: one warm-up batch (two for jit), then the median of --iters batches;
also the process CPU seconds (user + sys, all threads) per image over them.
"""
import argparse
import copy
import json
import os
import time

import torch
import torchvision


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def timed(fn, iters, warm=1):
    """(median wall seconds per call, process CPU seconds per call)"""
    for _ in range(warm):
        fn()
    t = []
    c0 = time.process_time()
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return median(t), (time.process_time() - c0) / iters


def forward_workloads(batch, size, iters, threads):
    out = []
    x = torch.randn(batch, 3, size, size)
    for nt in threads:
        torch.set_num_threads(nt)
        m = torchvision.models.resnet18(num_classes=2).eval()
        with torch.no_grad():
            s, c = timed(lambda: m(x), iters)
            out.append(("forward", "fp32", "eager", nt, batch / s, c / batch))
            mcl = m.to(memory_format=torch.channels_last)
            xcl = x.contiguous(memory_format=torch.channels_last)
            jm = torch.jit.freeze(torch.jit.script(mcl))
            s, c = timed(lambda: jm(xcl), iters, warm=2)
            out.append(("forward", "fp32", "jit-freeze-channels_last", nt, batch / s, c / batch))
            m = torchvision.models.resnet18(num_classes=2).eval()
            if has_bf16() or os.environ.get("BENCH_TORCH_BF16") == "1":
                with torch.cpu.amp.autocast(dtype=torch.bfloat16):
                    s, c = timed(lambda: m(x), iters)
                out.append(("forward", "bf16", "autocast", nt, batch / s, c / batch))
            r = fx_int8(x, iters)
            if r:
                out.append(("forward", "int8", r[0], nt, batch / r[1], r[2] / batch))
    return out


def has_bf16():
    """avx512_bf16 in /proc/cpuinfo: without it autocast emulates bf16 at ~1 s
    per image on one core (measured on an AVX2 EPYC), minutes per workload,
    so it is skipped (BENCH_TORCH_BF16=1 runs it anyway)"""
    try:
        return "avx512_bf16" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def fx_int8(x, iters):
    """(variant, seconds, cpu seconds) of FX post-training int8, or None"""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    engines = torch.backends.quantized.supported_engines
    eng = "onednn" if "onednn" in engines else "fbgemm" if "fbgemm" in engines else None
    if eng is None:
        return None
    torch.backends.quantized.engine = eng
    m = torchvision.models.resnet18(num_classes=2).eval()
    mp = prepare_fx(copy.deepcopy(m), get_default_qconfig_mapping(eng), example_inputs=(x[:1],))
    mp(x)  # calibration
    mq = convert_fx(mp)
    try:  # the faster form when TorchScript takes it
        mq = torch.jit.freeze(torch.jit.script(mq))
        variant = "fx-%s-jit-freeze" % eng
    except Exception:  # noqa: BLE001 - eager FX module then
        variant = "fx-%s" % eng
    s, c = timed(lambda: mq(x), iters, warm=2)
    return variant, s, c


def train_workloads(batch, size, iters, nt):
    out = []
    torch.set_num_threads(nt)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 2, (batch,))
    for level in ["fc", "layer4", "layer3", "none"]:
        m = torchvision.models.resnet18(num_classes=2)
        train = {"fc": ["fc"], "layer4": ["layer4", "fc"], "layer3": ["layer3", "layer4", "fc"],
                 "none": None}[level]
        params = []
        for name, p in m.named_parameters():
            p.requires_grad = train is None or name.split(".")[0] in train
            if p.requires_grad:
                params.append(p)
        # frozen parts in eval mode (BN running stats fixed), trainable in train mode
        m.eval()
        for name, mod in m.named_children():
            if train is None or name in train:
                mod.train()
        opt = torch.optim.Adam(params, lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = lossf(m(x), y)
            loss.backward()
            opt.step()

        s, c = timed(step, iters)
        out.append(("train_step", "fp32", level, nt, batch / s, c / batch))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="only this thread count")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    ncpu = os.cpu_count() or 1
    threads = [a.threads] if a.threads else sorted({1, ncpu})
    res = forward_workloads(a.batch, a.size, a.iters, threads)
    if not a.no_train:
        res += train_workloads(a.batch, a.size, max(1, a.iters // 2), max(threads))
    if a.json:
        print(json.dumps({"torch": torch.__version__, "batch": a.batch, "size": a.size,
                          "results": [{"workload": w, "dtype": d, "variant": v, "threads": t,
                                       "img_per_s": round(r, 2), "cpu_s_per_img": round(c, 5)}
                                      for w, d, v, t, r, c in res]}))
    else:
        print("PyTorch %s ResNet-18, batch %d, %dx%d" % (torch.__version__, a.batch, a.size, a.size))
        for w, d, v, t, r, c in res:
            print("  %-10s %-5s %-26s threads %-2d %8.1f img/s %8.4f cpu-s/img" % (w, d, v, t, r, c))


if __name__ == "__main__":
    main()
