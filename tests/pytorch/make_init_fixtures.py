#!/usr/bin/python3
"""torchvision's ResNet-18 initialisation (pneumo train --weights none) for
tests/test_model.c. Rerun: /usr/bin/python3 tests/pytorch/make_init_fixtures.py

model_init.safetensors: torch.manual_seed(7); torchvision.models.resnet18(num_classes=2):
  <name>            conv1.weight, layer4.1.conv2.weight (first 4096), fc.weight, fc.bias
  stat.<name>       [mean, std] (float64 sums) of every conv weight
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def main():
    torch.manual_seed(7)
    m = torchvision.models.resnet18(num_classes=2)
    sd = m.state_dict()
    t = {"conv1.weight": sd["conv1.weight"], "layer4.1.conv2.weight": sd["layer4.1.conv2.weight"].reshape(-1)[:4096],
         "fc.weight": sd["fc.weight"], "fc.bias": sd["fc.bias"]}
    for name, v in sd.items():
        if v.ndim == 4:
            a = v.double().reshape(-1).numpy()
            t["stat." + name] = np.array([a.mean(), a.std()], dtype=np.float32)
    fixture_io.save(os.path.join(OUT, "model_init.safetensors"), t,
                    {"generator": "tests/pytorch/make_init_fixtures.py", "torch": torch.__version__,
                     "torchvision": torchvision.__version__})


if __name__ == "__main__":
    main()
