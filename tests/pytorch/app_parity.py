#!/usr/bin/python3
"""PyTorch side of tests/test_app_parity.sh (rerunnable: /usr/bin/python3).

  app_parity.py make DIR          random-weights ResNet-18 -> DIR/r18.pth and a
                                  small dataset of symlinks -> DIR/data
  app_parity.py ref DIR SEED BAL  the seed notebook's recipe on features PyTorch
                                  computes itself: Resize((224,224)) + ToTensor +
                                  Normalize, frozen backbone in eval mode, head
                                  nn.Linear(512, 2) made right after
                                  torch.manual_seed(SEED), CrossEntropyLoss (class
                                  weights N/(C*n_c) when BAL=weight), Adam lr 1e-3,
                                  batch 32, 5 epochs, no shuffling ->
                                  DIR/ref_BAL.json
  app_parity.py cmp DIR OUT BAL   compare OUT/model.safetensors fc.* and
                                  OUT/metrics.json history with the reference
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision import transforms

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                    "data", "chest_xray")


def make(d):
    torch.manual_seed(0)
    m = torchvision.models.resnet18()
    torch.save(m.state_dict(), os.path.join(d, "r18.pth"))
    src = os.environ.get("PNEUMO_DATA")
    src = os.path.join(src, "chest_xray") if src else DATA
    take = {("train", "NORMAL"): 12, ("train", "PNEUMONIA"): 36, ("val", "NORMAL"): 4,
            ("val", "PNEUMONIA"): 4, ("test", "NORMAL"): 3, ("test", "PNEUMONIA"): 3}
    for (split, cls), k in take.items():
        os.makedirs(os.path.join(d, "data", split, cls), exist_ok=True)
        for f in sorted(os.listdir(os.path.join(src, split, cls)))[:k]:
            os.symlink(os.path.abspath(os.path.join(src, split, cls, f)),
                       os.path.join(d, "data", split, cls, f))


def ref(d, seed, bal, freeze="fc"):
    torch.set_num_threads(2)
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(os.path.join(d, "r18.pth")))
    if freeze == "layer4":
        return ref_layer4(d, seed, bal, model)
    model.fc = nn.Identity()
    model.eval()
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = torchvision.datasets.ImageFolder(os.path.join(d, "data", "train"),
                                          transform=lambda im: tf(im.convert("RGB")))
    with torch.no_grad():
        x = torch.cat([model(b) for b, _ in torch.utils.data.DataLoader(ds, batch_size=16)])
    y = torch.tensor(ds.targets)
    n = len(y)
    weight = None
    if bal == "weight":
        cnt = torch.bincount(y, minlength=2).double()
        weight = (n / (2 * cnt)).float()
    torch.manual_seed(seed)
    head = nn.Linear(512, 2)
    crit = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        run = 0.0
        for i in range(0, n, 32):
            opt.zero_grad()
            loss = crit(head(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            opt.step()
            run += loss.item() * len(y[i:i + 32])
        losses.append(run / n)
    json.dump({"losses": losses, "w": head.weight.detach().numpy().ravel().tolist(),
               "b": head.bias.detach().numpy().tolist()},
              open(os.path.join(d, f"ref_{bal}.json"), "w"))


def ref_layer4(d, seed, bal, model):
    """--freeze layer4: layer4 (BN in training mode) + a new fc train, the
    rest frozen in eval mode; one Adam over layer4 + fc; 2 epochs."""
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = torchvision.datasets.ImageFolder(os.path.join(d, "data", "train"),
                                          transform=lambda im: tf(im.convert("RGB")))
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = torch.tensor(ds.targets)
    n = len(y)
    weight = None
    if bal == "weight":
        cnt = torch.bincount(y, minlength=2).double()
        weight = (n / (2 * cnt)).float()
    for p in model.parameters():
        p.requires_grad = False
    torch.manual_seed(seed)
    model.fc = nn.Linear(512, 2)
    for p in model.layer4.parameters():
        p.requires_grad = True
    crit = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(2):
        model.eval()
        model.layer4.train()
        run = 0.0
        for i in range(0, n, 32):
            opt.zero_grad()
            loss = crit(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            opt.step()
            run += loss.item() * len(y[i:i + 32])
        losses.append(run / n)
    json.dump({"losses": losses, "w": model.fc.weight.detach().numpy().ravel().tolist(),
               "b": model.fc.bias.detach().numpy().tolist(),
               "l4": model.layer4[1].conv2.weight.detach().numpy().ravel().tolist()},
              open(os.path.join(d, f"ref_{bal}_layer4.json"), "w"))


def read_safetensors(path, names):
    with open(path, "rb") as f:
        (hl,) = struct.unpack("<Q", f.read(8))
        hdr = json.loads(f.read(hl))
        base = 8 + hl
        out = {}
        for k in names:
            b, e = hdr[k]["data_offsets"]
            f.seek(base + b)
            out[k] = np.frombuffer(f.read(e - b), dtype="<f4")
        return out


def rel(a, b, floor):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def cmp(d, out, bal, freeze="fc", limit=1e-5):
    suffix = "" if freeze == "fc" else "_" + freeze
    r = json.load(open(os.path.join(d, f"ref_{bal}{suffix}.json")))
    names = ["fc.weight", "fc.bias"] + (["layer4.1.conv2.weight"] if "l4" in r else [])
    t = read_safetensors(os.path.join(out, "model.safetensors"), names)
    hist = json.load(open(os.path.join(out, "metrics.json")))["history"]
    got = [h["train_loss"] for h in hist]
    ew = rel(t["fc.weight"], r["w"], 1e-3)
    eb = rel(t["fc.bias"], r["b"], 1e-3)
    el = rel(got, r["losses"], 1e-6)
    e4 = 0.0
    if "l4" in r:
        # Adam moves near-zero-gradient weights by about +-lr whatever their sign
        # noise, so compare the update as a whole: |d_pneumo - d_torch| / |d_torch|
        w0 = torch.load(os.path.join(d, "r18.pth"))["layer4.1.conv2.weight"].numpy().ravel()
        dt = np.asarray(r["l4"], np.float64) - w0
        dp = t["layer4.1.conv2.weight"].astype(np.float64) - w0
        e4 = float(np.linalg.norm(dp - dt) / np.linalg.norm(dt))
    print(f"freeze {freeze}, balance {bal}: losses pneumo {got}\n  pytorch {r['losses']}\n"
          f"  rel err: head weight {ew:.3g}, bias {eb:.3g}, losses {el:.3g}"
          + (f", layer4.1.conv2.weight update {e4:.3g} (limits {limit:g}, update {10 * limit:g})"
             if "l4" in r else f" (limit {limit:g})"))
    if not (ew <= limit and eb <= limit and el <= limit and e4 <= 10 * limit):
        print("FAIL: pneumo's head training differs from PyTorch's")
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "ref":
        ref(sys.argv[2], int(sys.argv[3]), sys.argv[4], *sys.argv[5:6])
    else:
        cmp(sys.argv[2], sys.argv[3], sys.argv[4], *sys.argv[5:6],
            *[float(v) for v in sys.argv[6:7]])
