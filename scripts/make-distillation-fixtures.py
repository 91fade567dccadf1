#!/usr/bin/env python3
"""Reference values for Tests/DistillationTests/KDLossTests.swift, printed as Swift literals.

The KD loss of Hinton et al. (2015) as RepDistiller/mdistiller compute it:
    alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) [batchmean] + (1 - alpha) * CE(s, y)
Run: .venv/bin/python scripts/make-distillation-fixtures.py   (torch 2.13 CPU) and paste the output.
"""
import torch, torch.nn.functional as F

torch.manual_seed(3)
s = (torch.randn(4, 5) * 2).requires_grad_(True)
t = torch.randn(4, 5) * 3
y = torch.tensor([0, 3, 1, 4])
for T, alpha in [(4.0, 0.9), (1.0, 0.5)]:
    s.grad = None
    kl = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction='batchmean')
    loss = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(s, y)
    loss.backward()
    print(f'// T={T} alpha={alpha}')
    print('let loss = Float(%.9g)' % loss.item())
    print('let grad: [Float] = [' + ', '.join('%.9g' % v for v in s.grad.flatten().tolist()) + ']')
print('let student: [Float] = [' + ', '.join('%.9g' % v for v in s.detach().flatten().tolist()) + ']')
print('let teacher: [Float] = [' + ', '.join('%.9g' % v for v in t.flatten().tolist()) + ']')
