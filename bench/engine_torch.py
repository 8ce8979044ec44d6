"""PyTorch side of bench/bench_train.sh: the same workloads as
bench/engine_train.c, printed in the same format.
usage: engine_torch.py <fc|layer4|layer3|none|eval> <batch> <threads> <iters> [size] [bf16]
bf16: the forward (and so the backward) under torch.autocast('cpu', dtype=torch.bfloat16),
PyTorch's CPU mixed precision (convs and fc in bf16; fp32 parameters and Adam).
BENCH_DNN_VERBOSE=1: oneDNN verbose lines (PyTorch's bundled oneDNN: convolutions,
reorders) for the timed iterations only."""
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

what, n, threads, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
size = int(sys.argv[5]) if len(sys.argv) > 5 else 224
bf16 = len(sys.argv) > 6 and sys.argv[6] == "bf16"
torch.set_num_threads(threads)
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=2)
x = torch.rand(n, 3, size, size) * 2 - 1
y = torch.arange(n) % 2
keep = {"fc": ["fc"], "layer4": ["layer4", "avgpool", "fc"],
        "layer3": ["layer3", "layer4", "avgpool", "fc"], "none": None, "eval": []}[what]
m.train()
if keep is not None:
    for name, child in m.named_children():
        if name not in keep:
            child.eval()
            for p in child.parameters():
                p.requires_grad_(False)
params = [p for p in m.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=1e-4) if params else None


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


best, cpu = 1e30, 0.0
verbose = int(os.environ.get("BENCH_DNN_VERBOSE", "0") or 0) > 0
for it in range(iters + 1):
    if verbose:
        torch._C._verbose.mkldnn_set_verbose(1 if it > 0 else 0)
    t0, c0 = time.perf_counter(), cpu_seconds()
    if what == "eval":
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            m(x)
    else:
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    if it > 0:
        best = min(best, dt)
        cpu += cpu_seconds() - c0
if verbose:
    torch._C._verbose.mkldnn_set_verbose(0)
sys.stdout.flush()
print("%s%s batch=%d threads=%d %.2f img/s %.4f cpu-s/img (best of %d, torch %s)"
      % ("forward-eval" if what == "eval" else what, " bf16-autocast" if bf16 else "", n, threads,
         n / best, cpu / (iters * n), iters, torch.__version__))
