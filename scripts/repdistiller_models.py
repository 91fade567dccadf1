#!/usr/bin/env python3
"""RepDistiller-style PyTorch models with sskd's zoo names, and the check that sskd's saved students load into them.

The definitions follow the layouts, and so the state_dict names, of RepDistiller (github.com/HobbitLong/RepDistiller)
models/resnet.py (CIFAR ResNets: conv1, bn1, layer1..3 of BasicBlocks with a `downsample` Sequential(conv, bn), fc),
models/wrn.py (wrn_16_2 ...: conv1, block1..3.layer.i with bn1/conv1/bn2/conv2/convShortcut, bn1, fc) and
models/vgg.py (vgg8 = vgg8_bn: block0..4 Sequential(conv, bn, relu, ...) without the last ReLU, classifier), written
independently. Two changes: the input channel count is a parameter (RepDistiller hard-codes 3), and every head pools
globally (nn.AdaptiveAvgPool2d(1)) instead of AvgPool2d(8), as sskd's zoo does (docs/models.md), so 28x28 inputs
work; on 32x32 inputs the two agree.

Used by scripts/make-interop-fixtures.py and, as a command, by the Swift test `PredictInteropTests`:

    .venv/bin/python scripts/repdistiller_models.py data OUT.npz
        writes a small Fashion-MNIST .npz (x_train [256, 28, 28] and x_test [96, 28, 28] uint8, y_* int64)
    .venv/bin/python scripts/repdistiller_models.py check ARCH WEIGHTS.safetensors DATA.npz LOGITS.npy
        builds ARCH with DATA's channels and the weights' classes, loads WEIGHTS with load_state_dict(strict=True),
        runs x_test/255 in eval mode and compares with LOGITS (sskd's `predict`); prints
        `ARCH: N x K logits, max abs diff D` and exits 1 when D > 1e-4 (or on any load error).
"""
import gzip
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


def read_idx(path):
    """An IDX file (gzip) of the MNIST family as a numpy uint8 array (LeCun's format: magic, dims big-endian)."""
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(train):
    """(images [N, 28, 28] uint8, labels [N] int64) of the Debian package dataset-fashion-mnist."""
    prefix = 'train' if train else 't10k'
    return (read_idx(f'{FASHION_MNIST}/{prefix}-images-idx3-ubyte.gz'),
            read_idx(f'{FASHION_MNIST}/{prefix}-labels-idx1-ubyte.gz').astype(np.int64))


class BasicBlock(nn.Module):
    """RepDistiller resnet.py BasicBlock: conv1 bn1 relu conv2 bn2 (+ downsample) relu."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNet(nn.Module):
    """RepDistiller resnet.py ResNet (depth 6n+2, BasicBlocks), global average pooling."""

    def __init__(self, depth, widths, channels=3, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        inplanes = widths[0]
        for s in range(1, 4):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(inplanes, widths[s], 2 if i == 0 and s > 1 else 1))
                inplanes = widths[s]
            setattr(self, f'layer{s}', nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class WideBlock(nn.Module):
    """RepDistiller wrn.py BasicBlock (pre-activation; convShortcut when the width changes)."""

    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.equal = in_planes == out_planes
        self.convShortcut = None if self.equal else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)

    def forward(self, x):
        act = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        return out + (x if self.equal else self.convShortcut(act))


class NetworkBlock(nn.Module):
    """RepDistiller wrn.py NetworkBlock: `layer`, a Sequential of WideBlocks."""

    def __init__(self, n, in_planes, out_planes, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WideBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
                                     for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    """RepDistiller wrn.py WideResNet (depth 6n+4, widen factor k), global average pooling."""

    def __init__(self, depth, k, channels=3, classes=10):
        super().__init__()
        n, w = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Conv2d(channels, w[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, w[0], w[1], 1)
        self.block2 = NetworkBlock(n, w[1], w[2], 2)
        self.block3 = NetworkBlock(n, w[2], w[3], 2)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(w[3], classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.relu(self.bn1(x)), 1), 1))


class VGG(nn.Module):
    """RepDistiller vgg.py VGG with BatchNorm (vgg8 = cfg 'S' with batch_norm=True); pool3 is used only for 64x64
    inputs, as there; pool4 is global average pooling, as there."""

    def __init__(self, cfg, channels=3, classes=10):
        super().__init__()
        cin = channels
        for b, widths in enumerate(cfg):
            layers = []
            for v in widths:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                cin = v
            setattr(self, f'block{b}', nn.Sequential(*layers[:-1]))
        for b in range(4):
            setattr(self, f'pool{b}', nn.MaxPool2d(2, 2))
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        h = x.shape[2]
        x = F.relu(self.block0(x))
        x = F.relu(self.block1(self.pool0(x)))
        x = F.relu(self.block2(self.pool1(x)))
        x = F.relu(self.block3(self.pool2(x)))
        if h == 64:
            x = self.pool3(x)
        x = F.relu(self.block4(x))
        return self.classifier(torch.flatten(self.pool4(x), 1))


RESNET_DEPTHS = {f'resnet{d}': d for d in (8, 14, 20, 32, 44, 56, 110)}


def make(arch, channels, classes):
    """The model `arch` (sskd's zoo name: resnet8 ... resnet110, resnet8x4, resnet32x4, wrn-16-2 / wrn_16_2,
    wrn-40-2, vgg8, vgg11, vgg13) with `channels` inputs and `classes` outputs."""
    name = arch.replace('_', '-')
    if name in RESNET_DEPTHS:
        return CifarResNet(RESNET_DEPTHS[name], [16, 16, 32, 64], channels, classes)
    if name in ('resnet8x4', 'resnet32x4'):
        return CifarResNet(int(name[6:-2]), [32, 64, 128, 256], channels, classes)
    if name.startswith('wrn-'):
        depth, k = map(int, name[4:].split('-'))
        return WideResNet(depth, k, channels, classes)
    cfgs = {'vgg8': [[64], [128], [256], [512], [512]],
            'vgg11': [[64], [128], [256, 256], [512, 512], [512, 512]],
            'vgg13': [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]]}
    if name in cfgs:
        return VGG(cfgs[name], channels, classes)
    raise SystemExit(f'unknown architecture {arch}')


def write_data(path):
    """A small fixed Fashion-MNIST .npz for the round trip: the first 256 train and 96 test images."""
    xtr, ytr = fashion_mnist(True)
    xte, yte = fashion_mnist(False)
    np.savez(path, x_train=xtr[:256], y_train=ytr[:256], x_test=xte[:96], y_test=yte[:96])


def check(arch, weights, data, logits_path, tolerance=1e-4):
    """Strict-loads `weights` into `arch` and compares its eval-mode logits on x_test/255 with sskd's .npy."""
    from safetensors.torch import load_file
    torch.set_num_threads(1)
    state = load_file(weights)
    x = np.load(data)['x_test']
    x = x[:, None] if x.ndim == 3 else x
    classes = next(v.shape[0] for k, v in reversed(list(state.items())) if k.endswith('weight') and v.dim() == 2)
    model = make(arch, x.shape[1], classes)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x.astype(np.float32) / 255.0)).numpy()
    sskd_logits = np.load(logits_path)
    if sskd_logits.dtype != np.float32 or sskd_logits.shape != torch_logits.shape:
        print(f'{arch}: sskd wrote {sskd_logits.dtype} {sskd_logits.shape}, PyTorch gives float32 {torch_logits.shape}')
        return 1
    diff = float(np.abs(sskd_logits - torch_logits).max())
    agree = int((sskd_logits.argmax(1) == torch_logits.argmax(1)).sum())
    print(f'{arch}: {torch_logits.shape[0]} x {torch_logits.shape[1]} logits, max abs diff {diff:.3g}, '
          f'{agree} of {torch_logits.shape[0]} arg-max agree')
    return 0 if diff <= tolerance else 1


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'data':
        write_data(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == 'check':
        sys.exit(check(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
