#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that Tests/TensorsTests/PyTorchFixtureTests.swift checks the
Swift tensor engine (Sources/Tensors) against.

Run from the repository root (needs torch; CI does not, so the output is committed):

    .venv/bin/python scripts/make-fixtures.py

It rewrites every Tests/TensorsTests/Fixtures/*.json. All randomness comes from torch.manual_seed, so the
output is reproducible for a given torch version (made with torch 2.13 CPU). Each group of cases is seeded
from its function name, so adding a group or a case leaves the other groups' files unchanged.

Format: one JSON object per case, `Fixtures/<case>.json`:

    {"case": "<case>",
     "params": {"<name>": [numbers...], ...},           # hyper-parameters (ints as numbers), always lists
     "tensors": {"<name>": {"shape": [...], "data": [...]}, ...}}   # float32, row-major (NCHW), 9 sig. digits

The `*_large` cases (big enough to take the engine's multi-threaded `Parallel.forEach` paths) keep the files
small in two ways: an input may be `{"shape": [...], "wave": [a, b, c, d]}`, meaning element i (flat, row-major)
is c*sin(a*i + b)*cos(d*i) computed in float64 and rounded to float32 (both sides compute it), and a large
expected tensor may be `{"shape": [...], "every": k, "data": [...]}`, holding only flat elements 0, k, 2k, ...

Conventions for forward/backward cases (helper `case` below): differentiable inputs are `x`, `w`, ...;
the forward output is `out`; when `out` is not a scalar, the loss is `(out * out_weight).sum()` with
`out_weight` random and exported; the gradient of that loss w.r.t. input `k` is `grad_k`.
"""
import json
import math
import os
import zlib

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "Tests", "TensorsTests", "Fixtures")


class Wave:
    """An input both sides generate instead of storing: x[i] = c*sin(a*i + b)*cos(d*i) in float64 -> float32."""

    def __init__(self, shape, a, b, c=1.0, d=0.0137):
        self.shape, self.coefficients = tuple(shape), (a, b, c, d)

    def tensor(self):
        a, b, c, d = self.coefficients
        i = torch.arange(math.prod(self.shape), dtype=torch.float64)
        return (c * torch.sin(a * i + b) * torch.cos(d * i)).float().reshape(self.shape)


class Every:
    """Only every k-th element (flat indices 0, k, 2k, ...) of a large expected tensor is stored."""

    def __init__(self, t, k):
        self.t, self.k = t, k


def encode(t):
    if isinstance(t, Wave):
        return '{"shape":%s,"wave":%s}' % (json.dumps(list(t.shape)), json.dumps(list(t.coefficients)))
    if isinstance(t, Every):
        flat = t.t.detach().flatten()[::t.k]
        return '{"shape":%s,"every":%d,"data":[%s]}' % (json.dumps(list(t.t.shape)), t.k,
                                                        ",".join("%.9g" % v for v in flat.tolist()))
    t = torch.as_tensor(t, dtype=torch.float32).detach()
    data = ",".join("%.9g" % v for v in t.flatten().tolist())
    return '{"shape":%s,"data":[%s]}' % (json.dumps(list(t.shape)), data)


def write(name, tensors, params=None):
    """Writes Fixtures/<name>.json with one tensor per line (readable diffs)."""
    lines = ['{"case":%s,' % json.dumps(name),
             '"params":%s,' % json.dumps({k: [float(x) for x in v] for k, v in (params or {}).items()}),
             '"tensors":{']
    items = list(tensors.items())
    for i, (k, v) in enumerate(items):
        lines.append("%s:%s%s" % (json.dumps(k), encode(v), "," if i + 1 < len(items) else ""))
    lines.append("}}")
    with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
        f.write("\n".join(lines) + "\n")


def case(name, inputs, fn, extra=None, params=None, every=1):
    """Runs `fn(**inputs)` (inputs require grad), backprops a fixed random weighting of the output
    (or the output itself when it is a scalar) and writes inputs, `out`, `out_weight` and `grad_<k>`.
    With `every` > 1 (large cases), inputs may be `Wave`s, the weighting is a `Wave`, and expected tensors of
    more than 1000 elements keep only every `every`-th element."""
    leaves = {k: (v.tensor() if isinstance(v, Wave) else v).detach().clone().requires_grad_(True)
              for k, v in inputs.items()}
    out = fn(**leaves)
    tensors = {k: inputs[k] if isinstance(inputs[k], Wave) else v.detach() for k, v in leaves.items()}
    tensors.update(extra or {})
    expected = {"out": out.detach()}
    tensors["out"] = None  # placeholder: keeps `out` before `out_weight` in the file
    if out.dim() == 0:
        loss = out
    else:
        weight = Wave(out.shape, 0.4142136, 0.5) if every > 1 else torch.randn_like(out)
        tensors["out_weight"] = weight
        loss = (out * (weight.tensor() if isinstance(weight, Wave) else weight)).sum()
    loss.backward()
    for k, v in leaves.items():
        expected["grad_" + k] = v.grad
    for k, v in expected.items():
        tensors[k] = Every(v, every) if every > 1 and v.numel() > 1000 else v
    write(name, tensors, params)


def conv_cases():
    specs = [  # name, input shape, weight shape, stride, padding, dilation, groups, bias
        ("conv2d_plain", (2, 3, 6, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ("conv2d_plain_nobias", (2, 3, 6, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, False),
        ("conv2d_stride2", (2, 3, 7, 7), (4, 3, 3, 3), (2, 2), (1, 1), (1, 1), 1, True),
        ("conv2d_pad2_dilation2", (2, 3, 7, 7), (4, 3, 3, 3), (1, 1), (2, 2), (2, 2), 1, False),
        ("conv2d_groups2", (2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2, True),
        ("conv2d_depthwise", (2, 4, 6, 6), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1), 4, True),
        ("conv2d_1x1_stride2", (2, 4, 6, 6), (8, 4, 1, 1), (2, 2), (0, 0), (1, 1), 1, False),
        ("conv2d_nonsquare", (2, 3, 5, 8), (4, 3, 3, 2), (2, 1), (1, 0), (1, 1), 1, True),
    ]
    for name, xs, ws, stride, pad, dil, groups, bias in specs:
        inputs = {"x": torch.randn(xs), "w": torch.randn(ws) * 0.3}
        if bias:
            inputs["b"] = torch.randn(ws[0]) * 0.1
        case(name, inputs,
             lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups),
             params={"stride": stride, "padding": pad, "dilation": dil, "groups": [groups]})


def batch_norm_cases():
    for dims, shape in (("2d", (4, 3, 5, 5)), ("1d", (8, 5))):
        c = shape[1]
        # Train mode: PyTorch's initial running stats 0 / 1, momentum 0.1, one step.
        rm, rv = torch.zeros(c), torch.ones(c)
        x = torch.randn(shape) * 2 + 0.5
        inputs = {"x": x, "w": 1 + 0.2 * torch.randn(c), "b": 0.1 * torch.randn(c)}
        case("batchnorm%s_train" % dims, inputs,
             lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5),
             extra={"running_mean_after": rm, "running_var_after": rv})
        # Eval mode with given running statistics.
        rm, rv = 0.3 * torch.randn(c), 0.5 + torch.rand(c)
        inputs = {"x": torch.randn(shape), "w": 1 + 0.2 * torch.randn(c), "b": 0.1 * torch.randn(c)}
        case("batchnorm%s_eval" % dims, inputs,
             lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5),
             extra={"running_mean": rm.clone(), "running_var": rv.clone()})


def batch_norm_extra_cases():
    # BatchNorm1d over [N, C, L] (statistics over N and L).
    rm, rv = torch.zeros(3), torch.ones(3)
    case("batchnorm1d_3d_train", {"x": torch.randn(4, 3, 6), "w": 1 + 0.2 * torch.randn(3), "b": 0.1 * torch.randn(3)},
         lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5),
         extra={"running_mean_after": rm, "running_var_after": rv})
    # affine=False: no weight or bias.
    rm2, rv2 = torch.zeros(3), torch.ones(3)
    case("batchnorm2d_train_noaffine", {"x": torch.randn(2, 3, 4, 4) * 3 - 1},
         lambda x: F.batch_norm(x, rm2, rv2, None, None, training=True, momentum=0.1, eps=1e-5),
         extra={"running_mean_after": rm2, "running_var_after": rv2})


def pool_cases():
    for name, shape, k, s, p in (("maxpool_k3s2p1", (2, 3, 7, 7), 3, 2, 1), ("maxpool_k2", (2, 3, 6, 6), 2, 2, 0),
                                 ("maxpool_k2_odd", (2, 3, 7, 5), 2, 2, 0)):
        case(name, {"x": torch.randn(shape)}, lambda x: F.max_pool2d(x, k, s, p),
             params={"kernel": [k, k], "stride": [s, s], "padding": [p, p]})
    # Ties (small integers, as after ReLU): PyTorch's CPU kernel sends the gradient to the first maximum in scan order.
    case("maxpool_ties_k3s2p1", {"x": torch.randint(-1, 2, (2, 3, 7, 7)).float()}, lambda x: F.max_pool2d(x, 3, 2, 1),
         params={"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]})
    for name, shape, k, s, p in (("avgpool_k3s2p1", (2, 3, 7, 7), 3, 2, 1), ("avgpool_k2", (2, 3, 6, 6), 2, 2, 0)):
        case(name, {"x": torch.randn(shape)}, lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=True),
             params={"kernel": [k, k], "stride": [s, s], "padding": [p, p]})
    for name, shape, size in (("adaptive_avgpool_1x1", (2, 3, 5, 5), (1, 1)),
                              ("adaptive_avgpool_5x7_to_3x2", (2, 3, 5, 7), (3, 2)),
                              ("adaptive_avgpool_7x5_to_4x3", (1, 2, 7, 5), (4, 3))):
        case(name, {"x": torch.randn(shape)}, lambda x: F.adaptive_avg_pool2d(x, size), params={"size": size})
    case("global_avgpool", {"x": torch.randn(2, 3, 4, 5)}, lambda x: x.mean(dim=(2, 3)))


def pointwise_cases():
    x = torch.randn(4, 6)
    case("relu", {"x": x}, lambda x: F.relu(x))
    case("leaky_relu_default", {"x": x}, lambda x: F.leaky_relu(x))
    case("leaky_relu_0.2", {"x": x}, lambda x: F.leaky_relu(x, 0.2), params={"slope": [0.2]})
    # Exact zeros: the ReLU / leaky-ReLU gradient at 0 is the negative side's (0 / slope), as PyTorch.
    zeros = torch.randint(-1, 2, (4, 6)).float()
    case("relu_at_zero", {"x": zeros}, lambda x: F.relu(x))
    case("leaky_relu_at_zero", {"x": zeros}, lambda x: F.leaky_relu(x, 0.2), params={"slope": [0.2]})
    case("sigmoid", {"x": x * 2}, lambda x: torch.sigmoid(x))
    case("tanh", {"x": x}, lambda x: torch.tanh(x))
    case("softmax", {"x": torch.randn(4, 7) * 2}, lambda x: F.softmax(x, dim=-1))
    case("log_softmax", {"x": torch.randn(4, 7) * 2}, lambda x: F.log_softmax(x, dim=-1))
    # Large logits (needs the max shift) and a 3-D input (softmax over the last axis).
    case("softmax_large", {"x": torch.randn(4, 7) * 40}, lambda x: F.softmax(x, dim=-1))
    case("log_softmax_large", {"x": torch.randn(4, 7) * 40}, lambda x: F.log_softmax(x, dim=-1))
    case("softmax_3d", {"x": torch.randn(2, 3, 5)}, lambda x: F.softmax(x, dim=-1))
    case("flatten", {"x": torch.randn(2, 3, 4, 4)}, lambda x: torch.flatten(x, 1))
    case("reshape", {"x": torch.randn(2, 3, 4, 4)}, lambda x: x.reshape(6, -1), params={"shape": [6, -1]})
    pos = torch.rand(3, 5) + 0.5
    case("scalar_ops", {"x": pos}, lambda x: torch.cat([(x + 2.5), (x - 1.25), (x * -1.5), (x / 4), x.pow(2),
                                                        x.exp(), x.log(), x.sqrt(), x.pow(-0.5)], dim=1))
    signed = torch.randn(3, 5)
    case("pow_signed", {"x": signed}, lambda x: torch.cat([x.pow(2), x.pow(3)], dim=1))
    # One tensor used twice by the same op, and on both sides of a division: gradients must accumulate.
    case("mul_self", {"x": signed}, lambda x: x * x)
    case("div_shared", {"x": signed}, lambda x: x / (x * x + 1))


def broadcast_cases():
    def away_from_zero(*shape):
        return (0.5 + torch.rand(shape)) * torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
    a = torch.randn(2, 3, 4, 4)
    for label, other in (("channel", torch.randn(1, 3, 1, 1)), ("sample", torch.randn(2, 1, 1, 1))):
        case("broadcast_add_" + label, {"x": a, "y": other}, lambda x, y: x + y)
        case("broadcast_sub_" + label, {"x": a, "y": other}, lambda x, y: x - y)
        case("broadcast_mul_" + label, {"x": a, "y": other}, lambda x, y: x * y)
    case("broadcast_div_channel", {"x": a, "y": away_from_zero(1, 3, 1, 1)}, lambda x, y: x / y)
    case("broadcast_div_sample", {"x": a, "y": away_from_zero(2, 1, 1, 1)}, lambda x, y: x / y)
    case("broadcast_add_both", {"x": torch.randn(2, 1, 4, 1), "y": torch.randn(1, 3, 1, 5)}, lambda x, y: x + y)
    case("broadcast_mul_rank", {"x": torch.randn(3, 4), "y": torch.randn(4)}, lambda x, y: x * y)
    case("broadcast_div_both", {"x": torch.randn(2, 1, 4), "y": away_from_zero(3, 1)}, lambda x, y: x / y)
    case("broadcast_div_lhs", {"x": torch.randn(1, 3, 1, 1), "y": away_from_zero(2, 3, 4, 4)}, lambda x, y: x / y)


def reduce_shape_cases():
    x = torch.randn(2, 3, 4, 5)
    case("sum_axis1", {"x": x}, lambda x: x.sum(dim=1), params={"axes": [1]})
    case("sum_axes23_keepdim", {"x": x}, lambda x: x.sum(dim=(2, 3), keepdim=True), params={"axes": [2, 3]})
    case("sum_all", {"x": x}, lambda x: x.sum())
    case("mean_axes02", {"x": x}, lambda x: x.mean(dim=(0, 2)), params={"axes": [0, 2]})
    case("mean_all", {"x": x}, lambda x: x.mean())
    case("sum_negative_axis", {"x": x}, lambda x: x.sum(dim=-1), params={"axes": [-1]})
    case("mean_axes13_keepdim", {"x": x}, lambda x: x.mean(dim=(1, 3), keepdim=True), params={"axes": [1, 3]})
    case("max_axis1", {"x": torch.randn(3, 5, 4)}, lambda x: x.max(dim=1).values, params={"axis": [1]})
    # Ties: PyTorch's CPU max(dim) and argmax return (and route the gradient to) the first maximum.
    ties = torch.randint(-1, 2, (4, 3, 6)).float()
    case("max_axis1_ties", {"x": ties}, lambda x: x.max(dim=1).values, extra={"argmax": ties.argmax(dim=1).float()},
         params={"axis": [1]})
    case("max_axis0", {"x": torch.randn(4, 3, 2)}, lambda x: x.max(dim=0).values, params={"axis": [0]})
    case("max_axis_last", {"x": torch.randn(4, 6)}, lambda x: x.max(dim=-1).values, params={"axis": [-1]})
    case("matmul", {"x": torch.randn(5, 7), "y": torch.randn(7, 4)}, lambda x, y: x @ y)
    case("linear", {"x": torch.randn(5, 7), "w": torch.randn(4, 7) * 0.4, "b": torch.randn(4) * 0.1}, lambda x, w, b: F.linear(x, w, b))
    case("linear_nobias", {"x": torch.randn(5, 7), "w": torch.randn(4, 7) * 0.4}, lambda x, w: F.linear(x, w))
    case("concat_axis0", {"x": torch.randn(2, 3, 4), "y": torch.randn(3, 3, 4)}, lambda x, y: torch.cat([x, y], 0))
    case("concat_axis1", {"x": torch.randn(2, 3, 4), "y": torch.randn(2, 5, 4), "z": torch.randn(2, 1, 4)},
         lambda x, y, z: torch.cat([x, y, z], 1))
    case("concat_axis2", {"x": torch.randn(2, 3, 4), "y": torch.randn(2, 3, 2)}, lambda x, y: torch.cat([x, y], 2))
    case("transpose", {"x": torch.randn(5, 3)}, lambda x: x.t())


def loss_cases():
    n, c = 6, 10
    targets = torch.randint(0, c, (n,))
    logits = torch.randn(n, c) * 2
    for eps in (0.0, 0.1):
        case("cross_entropy_smoothing%g" % eps, {"x": logits},
             lambda x: F.cross_entropy(x, targets, label_smoothing=eps),
             extra={"targets": targets.float()}, params={"label_smoothing": [eps]})
    case("cross_entropy_large_logits", {"x": torch.randn(n, c) * 30},
         lambda x: F.cross_entropy(x, targets, label_smoothing=0.1),
         extra={"targets": targets.float()}, params={"label_smoothing": [0.1]})
    case("mse", {"x": torch.randn(4, 5), "y": torch.randn(4, 5)}, lambda x, y: F.mse_loss(x, y))
    student, teacher, T, alpha = torch.randn(n, c) * 3, torch.randn(n, c) * 3, 4.0, 0.9
    case("kl_divergence_T4", {"x": student, "y": teacher},
         lambda x, y: F.kl_div(F.log_softmax(x / T, 1), F.softmax(y / T, 1), reduction="batchmean"),
         params={"temperature": [T]})
    def kd(x):
        kl = F.kl_div(F.log_softmax(x / T, 1), F.softmax(teacher / T, 1), reduction="batchmean")
        return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(x, targets)
    case("kd_loss", {"x": student}, kd, extra={"teacher": teacher, "targets": targets.float()},
         params={"temperature": [T], "alpha": [alpha]})


def small_cnn():
    """conv-bn-relu-maxpool-conv-bn-relu-global avg pool-linear; state-dict keys 0.weight, 1.weight, ... 9.bias."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, 2, 1),
        torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, 5))
    with torch.no_grad():  # non-trivial affine parameters
        for bn in (model[1], model[5]):
            bn.weight.add_(0.2 * torch.randn_like(bn.weight))
            bn.bias.add_(0.1 * torch.randn_like(bn.bias))
    return model


def cnn_case():
    """The small CNN, cross-entropy, batch-norm in train mode: one forward/backward, then eval logits."""
    model = small_cnn()
    x, targets = torch.randn(4, 3, 8, 8), torch.randint(0, 5, (4,))
    x.requires_grad_(True)
    tensors = {"x": x.detach().clone(), "targets": targets.float()}
    tensors.update({k: v.detach().clone() for k, v in model.state_dict().items() if "num_batches" not in k})
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    tensors["logits"], tensors["loss"] = logits.detach(), loss.detach()
    tensors["grad_x"] = x.grad
    for k, p in model.named_parameters():
        tensors["grad_" + k] = p.grad
    for k, v in model.state_dict().items():
        if "running" in k:
            tensors[k + "_after"] = v
    model.eval()  # eval mode normalises with the running statistics just updated
    with torch.no_grad():
        tensors["logits_eval"] = model(x)
    write("cnn", tensors)


def cnn_training_case():
    """Three SGD steps (momentum 0.9, weight decay 5e-4, lr 0.05) of the small CNN on one batch: the loss at each
    step, then every parameter and running statistic after the last step."""
    model = small_cnn()
    x, targets = torch.randn(6, 3, 8, 8), torch.randint(0, 5, (6,))
    tensors = {"x": x, "targets": targets.float()}
    tensors.update({k: v.detach().clone() for k, v in model.state_dict().items() if "num_batches" not in k})
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), targets)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    tensors["losses"] = torch.stack(losses)
    tensors.update({k + "_final": v for k, v in model.state_dict().items() if "num_batches" not in k})
    write("cnn_sgd_training", tensors, {"lr": [0.05], "momentum": [0.9], "weight_decay": [5e-4]})


class BasicBlock(torch.nn.Module):
    """torchvision's ResNet BasicBlock with a 1x1 stride-2 downsample (conv-bn) on the shortcut."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.downsample = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride=2, bias=False),
                                              torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.downsample(x))


def residual_block_case():
    """A ResNet basic block with downsample, global average pooled; loss = (pooled * out_weight).sum()."""
    block = BasicBlock(4, 8)
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.add_(0.2 * torch.randn_like(m.weight))
                m.bias.add_(0.1 * torch.randn_like(m.bias))
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    tensors = {"x": x.detach().clone()}
    tensors.update({k: v.detach().clone() for k, v in block.state_dict().items() if "num_batches" not in k})
    out = block(x).mean(dim=(2, 3))
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    tensors.update({"out": out.detach(), "out_weight": weight, "grad_x": x.grad})
    for k, p in block.named_parameters():
        tensors["grad_" + k] = p.grad
    write("residual_block", tensors)


def large_cases():
    """Shapes large enough for the multi-threaded paths (Parallel.forEach runs in parallel from ~32k
    element-operations): im2col/col2im/bias in conv2d, batch-norm statistics and normalisation, pooling."""
    x = Wave((4, 16, 16, 16), 0.7390851, 0.3, 2.0)
    case("conv2d_large", {"x": x, "w": Wave((32, 16, 3, 3), 0.5772157, 1.1, 0.15), "b": Wave((32,), 1.618034, 0.2, 0.1)},
         lambda x, w, b: F.conv2d(x, w, b, padding=1), params={"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1],
                                                                "groups": [1]}, every=7)
    case("conv2d_groups_stride2_large", {"x": x, "w": Wave((32, 4, 3, 3), 0.5772157, 1.1, 0.3)},
         lambda x, w: F.conv2d(x, w, None, stride=2, padding=1, groups=4),
         params={"stride": [2, 2], "padding": [1, 1], "dilation": [1, 1], "groups": [4]}, every=7)
    rm, rv = torch.zeros(16), torch.ones(16)
    case("batchnorm2d_train_large", {"x": Wave((8, 16, 16, 16), 0.3183099, 0.7, 3.0),
                                     "w": Wave((16,), 2.7182818, 0.1, 0.5), "b": Wave((16,), 1.4142136, 0.4, 0.2)},
         lambda x, w, b: F.batch_norm(x, rm, rv, w + 1, b, training=True, momentum=0.1, eps=1e-5),
         extra={"running_mean_after": rm, "running_var_after": rv}, every=7)
    for name, fn in (("maxpool_k3s2p1_large", lambda x: F.max_pool2d(x, 3, 2, 1)),
                     ("avgpool_k3s2p1_large", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True))):
        case(name, {"x": x}, fn, params={"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}, every=7)


def optimizer_cases():
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    w0, b0 = torch.randn(3, 4) * 0.5, torch.randn(3) * 0.1
    specs = (("sgd_momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4),
              {"lr": [0.1], "momentum": [0.9], "weight_decay": [5e-4]}),
             ("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True),
              {"lr": [0.1], "momentum": [0.9], "weight_decay": [5e-4]}),
             ("adam", lambda p: torch.optim.Adam(p, lr=0.01), {"lr": [0.01], "weight_decay": [0]}),
             ("adam_l2", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01),
              {"lr": [0.01], "weight_decay": [0.01]}),
             ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), {"lr": [0.01], "weight_decay": [0.1]}))
    for name, make, params in specs:
        w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        opt = make([w, b])
        ws, bs = [], []
        for _ in range(5):
            opt.zero_grad()
            F.mse_loss(F.linear(x, w, b), y).backward()
            opt.step()
            ws.append(w.detach().clone())
            bs.append(b.detach().clone())
        write("optim_" + name, {"x": x, "y": y, "w": w0, "b": b0, "w_steps": torch.stack(ws), "b_steps": torch.stack(bs)},
              params)


def schedule_cases():
    base, steps = 0.1, 21
    def record(make):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        sched = make(opt)
        lrs = []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return lrs
    S = torch.optim.lr_scheduler
    specs = (("step", lambda o: S.StepLR(o, step_size=5, gamma=0.1), {"every": [5], "gamma": [0.1]}),
             ("multistep", lambda o: S.MultiStepLR(o, milestones=[6, 12, 16], gamma=0.2),
              {"milestones": [6, 12, 16], "gamma": [0.2]}),
             ("cosine", lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=0.001), {"total": [20], "minimum": [0.001]}),
             ("warmup_cosine", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                                            S.CosineAnnealingLR(o, T_max=15)], milestones=[5]),
              {"warmup": [5], "start_factor": [0.1], "total": [15], "minimum": [0]}))
    for name, make, params in specs:
        params = dict(params, base=[base])
        # lr values are float64 in PyTorch; float32 here is far inside the 1e-4 tolerance.
        write("schedule_" + name, {"lr": torch.tensor(record(make), dtype=torch.float64)}, params)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".json"):
            os.remove(os.path.join(OUT_DIR, f))
    for make in (conv_cases, batch_norm_cases, batch_norm_extra_cases, pool_cases, pointwise_cases, broadcast_cases,
                 reduce_shape_cases, loss_cases, cnn_case, cnn_training_case, residual_block_case, large_cases, optimizer_cases, schedule_cases):
        torch.manual_seed(zlib.crc32(make.__name__.encode()))
        make()
    size = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print("wrote %d fixtures, %.1f KB, to %s" % (len(os.listdir(OUT_DIR)), size / 1024, OUT_DIR))


if __name__ == "__main__":
    main()
