#!/usr/bin/env python3
"""Makes the PyTorch reference fixtures for Tests/NetworksTests (run with the project's torch venv):

    .venv/bin/python scripts/make-model-fixtures.py

Writes to Tests/NetworksTests/Fixtures/:
  models.json        per architecture: state_dict keys with shapes (in order), parameter count, MACs and
                     stage output shapes for a given input (counts as bench_torch.py's count_macs).
  resnet8-1ch.json   index of resnet8-1ch.bin: a RepDistiller-style resnet8 (1 input channel, 10 classes) with
                     seeded weights and nontrivial BatchNorm running stats, a fixed input [2, 1, 28, 28], and its
                     eval-mode logits and stage features (layer1, layer2, layer3 after the stem).
  resnet8-1ch.bin    the tensors as little-endian float32 (num_batches_tracked converted to float).
  resnet8-1ch.safetensors, resnet8-1ch.pth
                     the same state dict saved with safetensors.torch.save_file and, RepDistiller-style, with
                     torch.save({'model': state_dict, 'epoch': 240, 'best_acc': 71.5}).

The model definitions below follow the layouts (and so the state_dict names) of RepDistiller models/resnet.py,
wrn.py and vgg.py and of torchvision models/resnet.py, written independently; heads use global average pooling
(nn.AdaptiveAvgPool2d(1)) so that 28x28 inputs work.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import repdistiller_models

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NetworksTests", "Fixtures")


def stage_outputs(x, stages):
    """The output of each of `stages` applied in turn to `x` (the feature maps sskd's stages end with)."""
    feats = []
    for stage in stages:
        x = stage(x)
        feats.append(x)
    return feats


class BasicBlock(repdistiller_models.BasicBlock):
    """RepDistiller's and torchvision's BasicBlock (the same layout and names); torchvision's ResNet reads `expansion`."""

    expansion = 1


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class CifarResNet(nn.Module):
    """RepDistiller-style CIFAR ResNet: conv1/bn1/relu stem, layer1..3, global pool, fc."""

    def __init__(self, depth, widths, in_channels=3, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(widths[1], n, 1)
        self.layer2 = self._make_layer(widths[2], n, 2)
        self.layer3 = self._make_layer(widths[3], n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)

    def _make_layer(self, planes, blocks, stride):
        layers = [BasicBlock(self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stages(self, x):
        return stage_outputs(self.relu(self.bn1(self.conv1(x))), (self.layer1, self.layer2, self.layer3))

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.stages(x)[-1]), 1))


class TorchvisionResNet(nn.Module):
    """torchvision-style ImageNet ResNet (7x7/2 stem + maxpool, layer1..4, global pool, fc)."""

    def __init__(self, block, layers, in_channels=3, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, count in enumerate(layers):
            planes = 64 << i
            blocks = [block(self.inplanes, planes, 1 if i == 0 else 2)]
            self.inplanes = planes * block.expansion
            blocks += [block(self.inplanes, planes) for _ in range(1, count)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def stages(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return stage_outputs(x, [getattr(self, f"layer{i}") for i in range(1, 5)])

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.stages(x)[-1]), 1))


WideBlock, NetworkBlock = repdistiller_models.WideBlock, repdistiller_models.NetworkBlock


class WideResNet(nn.Module):
    def __init__(self, depth, k, in_channels=3, num_classes=10):
        super().__init__()
        w = [16, 16 * k, 32 * k, 64 * k]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, w[0], w[1], 1)
        self.block2 = NetworkBlock(n, w[1], w[2], 2)
        self.block3 = NetworkBlock(n, w[2], w[3], 2)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(w[3], num_classes)

    def stages(self, x):
        return stage_outputs(self.conv1(x), (self.block1, self.block2, self.block3))

    def forward(self, x):
        x = self.relu(self.bn1(self.stages(x)[-1]))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class VGG(nn.Module):
    """RepDistiller-style VGG with BN; pool3 never applied (as RepDistiller for 32x32 inputs)."""

    def __init__(self, cfg, in_channels=3, num_classes=10):
        super().__init__()
        c = in_channels
        for b, widths in enumerate(cfg):
            layers = []
            for v in widths:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
            setattr(self, f"block{b}", nn.Sequential(*layers[:-1]))
        self.pool0, self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2), nn.MaxPool2d(2)
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)

    def stages(self, x):
        feats = []
        for b in range(5):
            if 1 <= b <= 3:
                x = getattr(self, f"pool{b - 1}")(x)
            x = F.relu(getattr(self, f"block{b}")(x))
            feats.append(x)
        return feats

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool4(self.stages(x)[-1]), 1))


class MLP(nn.Module):
    def __init__(self, features, widths, num_classes):
        super().__init__()
        self.flatten = nn.Flatten()
        for i, w in enumerate(widths):
            setattr(self, f"layer{i + 1}", nn.Sequential(nn.Linear(features, w), nn.ReLU()))
            features = w
        self.n = len(widths)
        self.fc = nn.Linear(features, num_classes)

    def stages(self, x):
        return stage_outputs(self.flatten(x), [getattr(self, f"layer{i + 1}") for i in range(self.n)])

    def forward(self, x):
        return self.fc(self.stages(x)[-1])


class CNN(nn.Module):
    def __init__(self, widths, in_channels, num_classes):
        super().__init__()
        c = in_channels
        for i, w in enumerate(widths):
            setattr(self, f"layer{i + 1}", nn.Sequential(nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                                                        nn.ReLU(), nn.MaxPool2d(2)))
            c = w
        self.n = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def stages(self, x):
        return stage_outputs(x, [getattr(self, f"layer{i + 1}") for i in range(self.n)])

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.stages(x)[-1]), 1))


def count_macs(model, x):
    """Forward multiply-accumulates of Conv2d/Linear layers (as bench/bench_torch.py)."""
    macs = [0]
    def conv_hook(m, i, o): macs[0] += o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    def lin_hook(m, i, o): macs[0] += o.numel() * m.in_features
    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d): hooks.append(m.register_forward_hook(conv_hook))
        if isinstance(m, nn.Linear): hooks.append(m.register_forward_hook(lin_hook))
    with torch.no_grad():
        model(x)
    for h in hooks: h.remove()
    return macs[0]


VGG_CFG = {"vgg8": [[64], [128], [256], [512], [512]],
           "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]]}

# name -> (constructor, channels, classes, input shape for MACs / stage shapes)
MODELS = {
    "resnet8": (lambda: CifarResNet(8, [16, 16, 32, 64], 3, 10), [1, 3, 32, 32]),
    "resnet20": (lambda: CifarResNet(20, [16, 16, 32, 64], 3, 10), [1, 3, 32, 32]),
    "resnet20-1ch": (lambda: CifarResNet(20, [16, 16, 32, 64], 1, 10), [2, 1, 28, 28]),
    "resnet32x4": (lambda: CifarResNet(32, [32, 64, 128, 256], 3, 100), [1, 3, 32, 32]),
    "wrn-16-2": (lambda: WideResNet(16, 2, 3, 10), [1, 3, 32, 32]),
    "wrn-40-1": (lambda: WideResNet(40, 1, 3, 100), [1, 3, 32, 32]),
    "vgg8": (lambda: VGG(VGG_CFG["vgg8"], 3, 10), [1, 3, 32, 32]),
    "vgg13": (lambda: VGG(VGG_CFG["vgg13"], 3, 100), [1, 3, 32, 32]),
    "resnet18": (lambda: TorchvisionResNet(BasicBlock, [2, 2, 2, 2], 3, 1000), [1, 3, 32, 32]),
    "resnet50": (lambda: TorchvisionResNet(Bottleneck, [3, 4, 6, 3], 3, 1000), [1, 3, 32, 32]),
    "mlp": (lambda: MLP(784, [256, 128], 10), [1, 1, 28, 28]),
    "cnn": (lambda: CNN([32, 64, 128], 1, 10), [1, 1, 28, 28]),
}


def describe(name, make, shape):
    model = make().eval()
    x = torch.zeros(shape)
    with torch.no_grad():
        stage_shapes = [list(f.shape) for f in model.stages(x)]
    return {
        "keys": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        "parameters": sum(p.numel() for p in model.parameters()),
        "input": shape,
        "macs": count_macs(model, x),
        "stages": stage_shapes,
    }


def export_resnet8():
    torch.manual_seed(2024)
    model = CifarResNet(8, [16, 16, 32, 64], 1, 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    model.eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        feats = model.stages(x)
        logits = model(x)
    entries = [(k, v.float()) for k, v in model.state_dict().items()]
    outputs = [("input", x), ("logits", logits)] + [(f"features.layer{i + 1}", f) for i, f in enumerate(feats)]
    index, blobs, offset = {"state_dict": [], "outputs": []}, [], 0
    for section, items in (("state_dict", entries), ("outputs", outputs)):
        for k, v in items:
            a = v.detach().contiguous().numpy().astype("<f4")
            index[section].append({"name": k, "shape": list(v.shape), "offset": offset})
            blobs.append(a.tobytes())
            offset += a.size
    with open(os.path.join(OUT, "resnet8-1ch.bin"), "wb") as f:
        f.write(b"".join(blobs))
    with open(os.path.join(OUT, "resnet8-1ch.json"), "w") as f:
        json.dump(index, f, indent=1)
    # The same weights as the checkpoints users bring: safetensors from safetensors.torch.save_file, and a
    # RepDistiller-style torch.save({'model': state_dict, 'epoch': ..., 'best_acc': ...}).
    from safetensors.torch import save_file
    sd = model.state_dict()
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(OUT, "resnet8-1ch.safetensors"))
    torch.save({"model": sd, "epoch": 240, "best_acc": 71.5}, os.path.join(OUT, "resnet8-1ch.pth"))


def main():
    os.makedirs(OUT, exist_ok=True)
    info = {name: describe(name, make, shape) for name, (make, shape) in MODELS.items()}
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump(info, f, separators=(",", ":"))
    for name, d in info.items():
        print(f"{name:14s} params {d['parameters']:>11,d}  MACs {d['macs']:>13,d}  keys {len(d['keys'])}")
    export_resnet8()


if __name__ == "__main__":
    main()
