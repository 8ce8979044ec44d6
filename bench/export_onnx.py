#!/usr/bin/python3
"""bench/bench_engine.sh: torchvision ResNet-18 (2 classes, random init, eval)
as ONNX (opset 13, dynamic batch) with torch.onnx.export, for ONNX Runtime.
usage: export_onnx.py OUT.onnx"""
import sys

import torch
import torchvision

torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=2).eval()
torch.onnx.export(m, torch.randn(1, 3, 224, 224), sys.argv[1], input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                  opset_version=13)
