#!/usr/bin/env python3
"""Train a RepDistiller-style CIFAR resnet (1 input channel, 10 classes) on Fashion-MNIST in PyTorch
and save it as RepDistiller publishes teachers: torch.save({'model': state_dict, 'epoch': E, 'best_acc': A}).

This is the PyTorch side of the check that sskd loads real PyTorch teachers: the test
`PyTorchTeacherTests` loads the saved .pth and must reproduce every test-set prediction written
to <out>.predictions.json.

Run (CPU, ~2 min per epoch for resnet20 on 2 cores):
    .venv/bin/python scripts/train-torch-teacher.py --arch resnet20 --epochs 3 \
        --out Tests/DistillationTests/Fixtures/teachers/torch-fashion-resnet20.pth
Data: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
"""
import argparse, json, time
import numpy as np
import torch, torch.nn.functional as F

from repdistiller_models import CifarResNet, fashion_mnist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='resnet20'); ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--lr', type=float, default=0.1); ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    torch.manual_seed(a.seed); torch.set_num_threads(a.threads)
    mean, std = 0.2860, 0.3530
    def prep(x): return (torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1) - mean) / std
    (xtr, ytr), (xte, yte) = fashion_mnist(True), fashion_mnist(False)
    xtr, ytr, xte, yte = prep(xtr), torch.from_numpy(ytr), prep(xte), torch.from_numpy(yte)
    # RepDistiller's CIFAR resnet (BasicBlocks, widths 16-16-32-64), global average pooling so 28x28 inputs work
    model = CifarResNet(int(a.arch.replace('resnet', '')), (16, 16, 32, 64), channels=1, classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    steps = a.epochs * ((len(xtr) + a.batch - 1) // a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
    t0 = time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), a.batch):
            b = perm[i:i + a.batch]
            x = xtr[b]
            # random crop with 2-pixel zero padding (in normalised space the pad is the value of black)
            x = F.pad(x, (2, 2, 2, 2), value=-mean / std)
            dx, dy = np.random.randint(0, 5, 2)
            x = x[:, :, dy:dy + 28, dx:dx + 28]
            loss = F.cross_entropy(model(x), ytr[b])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        model.eval()
        with torch.no_grad():
            preds = torch.cat([model(xte[i:i + 500]).argmax(1) for i in range(0, len(xte), 500)])
        acc = (preds == yte).float().mean().item() * 100
        print(f'epoch {epoch + 1}: loss {loss.item():.4f} test top-1 {acc:.2f}% ({time.time() - t0:.0f} s)', flush=True)
    torch.save({'model': model.state_dict(), 'epoch': a.epochs, 'best_acc': acc}, a.out)
    with open(a.out + '.predictions.json', 'w') as f:
        json.dump({'arch': a.arch, 'top1': acc, 'mean': mean, 'std': std, 'seed': a.seed, 'epochs': a.epochs,
                   'predictions': preds.tolist()}, f)
    print(f'saved {a.out}: test top-1 {acc:.2f}%')

if __name__ == '__main__':
    main()
