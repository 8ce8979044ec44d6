#!/usr/bin/python3
"""The seed notebook's recipe in PyTorch, timed (the baseline of
bench/bench_recipe.sh): torchvision ResNet-18 from a .pth, backbone frozen
(requires_grad False) and in eval mode, a new Linear(512, 2) head, Resize((224,
224)) + ToTensor + Normalize, DataLoader(batch 32, shuffle=True), Adam lr 1e-3,
CrossEntropyLoss, N epochs: every epoch forwards all train images through the
whole network, then val; finally test. Prints one JSON line:
{"seconds", "images", "img_per_s", "test_acc"}.
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torchvision
from torchvision import transforms

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--weights", required=True)
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
t0 = time.time()
tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
def folder(s):
    return torchvision.datasets.ImageFolder(os.path.join(a.data, s),
                                            transform=lambda im: tf(im.convert("RGB")))
train, val, test = folder("train"), folder("val"), folder("test")
model = torchvision.models.resnet18()
model.load_state_dict(torch.load(a.weights))
for p in model.parameters():
    p.requires_grad = False
model.fc = nn.Linear(512, 2)
crit = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
images = 0
for epoch in range(a.epochs):
    model.eval()  # BatchNorm in eval mode: the backbone is frozen
    for x, y in torch.utils.data.DataLoader(train, batch_size=32, shuffle=True):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        images += len(y)
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val, batch_size=32):
            model(x)
            images += len(y)
correct = n = 0
with torch.no_grad():
    for x, y in torch.utils.data.DataLoader(test, batch_size=32):
        correct += (model(x).argmax(1) == y).sum().item()
        n += len(y)
        images += len(y)
dt = time.time() - t0
print(json.dumps({"seconds": dt, "images": images, "img_per_s": images / dt,
                  "test_acc": correct / max(n, 1)}))
