#!/usr/bin/env python3
"""Train a small PyTorch teacher on raw Fashion-MNIST pixels and save it every way users bring teachers to sskd.

Run (CPU, about a minute on one thread; the venv comes from scripts/fixtures-venv):
    .venv/bin/python scripts/make-interop-fixtures.py

A RepDistiller-style resnet8 (scripts/repdistiller_models.py: 1 input channel, 10 classes, global average pooling)
is trained with `transforms.ToTensor()` preprocessing only, i.e. pixels/255 and no normalisation, on the first
TRAIN_IMAGES Fashion-MNIST train images (Debian package dataset-fashion-mnist) for EPOCHS epochs, then evaluated
in eval mode on all 10,000 test images. Writes Tests/DistillationTests/Fixtures/interop/:

  resnet8-model.pth         torch.save({'model': state_dict})                     (RepDistiller's layout)
  resnet8-plain.pth         torch.save(state_dict)
  resnet8-dataparallel.pth  torch.save({'model': DataParallel(model).state_dict(), 'epoch', 'best_acc'})
                            (every key prefixed `module.`)
  resnet8.safetensors       safetensors.torch.save_file(state_dict)
  resnet8-legacy.pth        torch.save({'epoch': 240, 'model': state_dict, 'accuracy': tensor(top-1 %)},
                            _use_new_zipfile_serialization=False): the legacy (pre-1.6) format and the
                            layout of RepDistiller's published ckpt_epoch_240.pth teachers; not in resnet8.json's
                            `files` (PyTorchInteropTests compares it with resnet8-model.pth bit for bit).
                            `--legacy-only` rewrites just this file from resnet8-model.pth, without training.
  resnet8.json              PyTorch's count of correct test images with pixels/255 (`correct`), its arg-max per
                            test image, and its count with the per-channel mean/std of the full train split
                            (what sskd's default `normalize=computed` feeds it: `computed_correct`).

The Swift test PyTorchInteropTests loads each file with arch=resnet8, evaluates it on the test split with
normalize=none, and requires PyTorch's count within 2 images.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from repdistiller_models import fashion_mnist, make

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Tests', 'DistillationTests', 'Fixtures',
                   'interop')
TRAIN_IMAGES, EPOCHS, BATCH, LR, SEED = 20000, 2, 128, 0.1, 0


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    xtr_u8, ytr = fashion_mnist(True)
    xte_u8, yte = fashion_mnist(False)
    to_tensor = lambda x: torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)   # ToTensor(): pixels/255
    xtr, xte = to_tensor(xtr_u8[:TRAIN_IMAGES]), to_tensor(xte_u8)
    ytr, yte = torch.from_numpy(ytr[:TRAIN_IMAGES]), torch.from_numpy(yte)
    model = make('resnet8', 1, 10)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)
    steps = EPOCHS * ((len(xtr) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    start = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), BATCH):
            b = perm[i:i + BATCH]
            loss = F.cross_entropy(model(xtr[b]), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f'epoch {epoch + 1}: loss {loss.item():.4f} ({time.time() - start:.0f} s)', flush=True)
    model.eval()

    def predictions(x):
        with torch.no_grad():
            return torch.cat([model(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])

    preds = predictions(xte)
    correct = int((preds == yte).sum())
    # What sskd's default normalisation (mean/std over the full train split, per channel) would feed the teacher.
    full = xtr_u8.astype(np.float64) / 255.0
    mean, std = float(full.mean()), float(full.std())
    computed_correct = int((predictions((xte - mean) / std) == yte).sum())
    print(f'test: {correct} of {len(yte)} correct with pixels/255; {computed_correct} with mean {mean:.4f} '
          f'std {std:.4f}')

    os.makedirs(OUT, exist_ok=True)
    sd = model.state_dict()
    torch.save({'model': sd}, os.path.join(OUT, 'resnet8-model.pth'))
    torch.save(sd, os.path.join(OUT, 'resnet8-plain.pth'))
    torch.save({'model': nn.DataParallel(model).state_dict(), 'epoch': EPOCHS, 'best_acc': 100.0 * correct / len(yte)},
               os.path.join(OUT, 'resnet8-dataparallel.pth'))
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(OUT, 'resnet8.safetensors'))
    save_legacy(sd, 100.0 * correct / len(yte))
    with open(os.path.join(OUT, 'resnet8.json'), 'w') as f:
        json.dump({'arch': 'resnet8', 'torch': torch.__version__, 'seed': SEED, 'epochs': EPOCHS,
                   'train_images': TRAIN_IMAGES, 'preprocessing': 'pixels/255 (ToTensor only)',
                   'test_images': len(yte), 'correct': correct,
                   'computed_mean': mean, 'computed_std': std, 'computed_correct': computed_correct,
                   'files': ['resnet8-model.pth', 'resnet8-plain.pth', 'resnet8-dataparallel.pth',
                             'resnet8.safetensors'],
                   'predictions': preds.tolist()}, f)
    print(f'wrote {OUT}')


def save_legacy(sd, accuracy):
    """resnet8-legacy.pth: RepDistiller's ckpt_epoch layout in the legacy torch.save format."""
    torch.save({'epoch': 240, 'model': sd, 'accuracy': torch.tensor(accuracy)},
               os.path.join(OUT, 'resnet8-legacy.pth'), _use_new_zipfile_serialization=False)


if __name__ == '__main__':
    if sys.argv[1:] == ['--legacy-only']:
        with open(os.path.join(OUT, 'resnet8.json')) as f:
            info = json.load(f)
        save_legacy(torch.load(os.path.join(OUT, 'resnet8-model.pth'))['model'],
                    100.0 * info['correct'] / info['test_images'])
    else:
        main()
