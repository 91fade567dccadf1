// The Python text of `export session to="FILE.py"`.
// Python source kept as one template: edit it here, as Python; `PythonTemplate.filled` puts the values in.

extension PythonTemplate {
    /// `pythonSessionScript` as a template.
    static let sessionScript = PythonTemplate(text: pythonSessionScript)
}

/// An exported session script (python or torchrun). Placeholders: `VERSION`, `FILE`, `RECIPE` (a Python dict
/// literal) and `LIBRARY` (`modelLibrary`).
let pythonSessionScript = #"""
    #!/usr/bin/env python3
    """The SSKD recipe of an sskd session, exported by sskd {{VERSION}}: stage-by-stage knowledge distillation
    (Gao et al., arXiv 1812.01819) in PyTorch, on one process or many (DistributedDataParallel).

        python {{FILE}}                            # the session's data, teacher and hyper-parameters, on this machine
        torchrun --nproc_per_node=N {{FILE}}       # the same on N processes (gloo on CPU, nccl on GPUs)
        python {{FILE}} --data cifar10 --root DIR  # another data set: fashion-mnist, mnist, kmnist (IDX files),
                                                   # cifar10, cifar100, cifar100-coarse (pickles), an ImageFolder
                                                   # directory or an .npz file

    The recipe (RECIPE below) lists the runs of the session's student in order: each `mimic` trains the student's
    stages up to k (earlier stages that already mimicked are frozen: no gradients, BatchNorm in eval mode) to
    reproduce the teacher's stage map (MSE, with a 1x1 conv + BN adapter when the channel counts differ); `head` trains
    the pooling and classifier on the frozen backbone with cross-entropy; `finetune` (optional) and `kd` train the
    whole student with Hinton's KD. Baselines of the session (scratch, kd) are trained after it with --baselines.
    `--batch` is the global batch: each of N processes takes batch / N images per step, so the optimizer steps, the
    learning rates and the schedules are the session's. Rank 0 logs and writes the student (safetensors, sskd's names
    and metadata) after every run to --out; `load "OUT"` in sskd reads it back.
    """
    import argparse
    import gzip
    import json
    import math
    import os
    import pickle
    import sys
    import time
    from collections import OrderedDict

    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    import torch.nn.functional as F

    RECIPE = {{RECIPE}}

    {{LIBRARY}}

    # ----------------------------------------------------------------------------------------------------------------
    # Data: the readers of sskd's data sets, into uint8 arrays [N, C, H, W] and int64 labels.


    def find_file(folder, names):
        """The first of `names` (also with .gz, and under torchvision's `CLASS/raw` layout) that exists in `folder`."""
        for root, _, _ in os.walk(folder):
            for name in names:
                for candidate in (name, name + '.gz'):
                    path = os.path.join(root, candidate)
                    if os.path.isfile(path):
                        return path
        raise SystemExit(f'error: no {names[0]} (or .gz) under {folder}')


    def read_idx(path):
        """An IDX file of the MNIST family (LeCun's format: magic, big-endian dimensions, then the bytes)."""
        with (gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')) as f:
            data = f.read()
        ndim = data[3]
        dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


    def read_mnist(folder):
        """Fashion-MNIST, MNIST or KMNIST IDX files in `folder` (or torchvision's root)."""
        def split(prefix):
            x = read_idx(find_file(folder, [f'{prefix}-images-idx3-ubyte']))
            y = read_idx(find_file(folder, [f'{prefix}-labels-idx1-ubyte'])).astype(np.int64)
            return x[:, None], y
        return split('train') + split('t10k') + ([str(i) for i in range(10)],)


    def read_cifar(folder, kind):
        """CIFAR-10 / CIFAR-100 python pickles (torchvision's `cifar-10-batches-py`, `cifar-100-python`)."""
        def unpickle(name):
            with open(find_file(folder, [name]), 'rb') as f:
                return pickle.load(f, encoding='latin1')
        if kind == 'cifar10':
            batches = [unpickle(f'data_batch_{i}') for i in range(1, 6)]
            train = (np.concatenate([b['data'] for b in batches]), sum((b['labels'] for b in batches), []))
            test = unpickle('test_batch')
            test = (test['data'], test['labels'])
            names = unpickle('batches.meta')['label_names']
        else:
            key = 'coarse_labels' if kind == 'cifar100-coarse' else 'fine_labels'
            train, test = unpickle('train'), unpickle('test')
            train, test = (train['data'], train[key]), (test['data'], test[key])
            meta = unpickle('meta')
            names = meta['coarse_label_names' if kind == 'cifar100-coarse' else 'fine_label_names']
        def arrays(pair):
            return np.asarray(pair[0], dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(pair[1], dtype=np.int64)
        return arrays(train) + arrays(test) + (list(names),)


    def read_npz(path):
        """An .npz with x_train, y_train, x_test, y_test (images [N, H, W] or [N, H, W, C] or [N, C, H, W])."""
        z = np.load(path)
        def images(x):
            x = np.asarray(x, dtype=np.uint8)
            if x.ndim == 3:
                return x[:, None]
            return x.transpose(0, 3, 1, 2) if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3) else x
        y = z['y_train'].astype(np.int64)
        return (images(z['x_train']), y, images(z['x_test']), z['y_test'].astype(np.int64),
                [str(i) for i in range(int(max(y.max(), z['y_test'].max())) + 1)])


    def read_image_folder(folder, size):
        """An ImageFolder: `folder/train/CLASS/*` and `folder/test/CLASS/*` (or `val/`), or `folder/CLASS/*` (a fifth
        of each class becomes the test split), resized to `size` [H, W] with PIL."""
        try:
            from PIL import Image
        except ImportError:
            raise SystemExit('error: reading an ImageFolder needs Pillow: pip install pillow')
        def read(root, classes):
            xs, ys = [], []
            for label, name in enumerate(classes):
                directory = os.path.join(root, name)
                for file in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
                    image = Image.open(os.path.join(directory, file)).convert('RGB').resize((size[1], size[0]))
                    xs.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
                    ys.append(label)
            return np.stack(xs), np.asarray(ys, dtype=np.int64)
        test_dir = next((d for d in ('test', 'val') if os.path.isdir(os.path.join(folder, d))), None)
        if os.path.isdir(os.path.join(folder, 'train')) and test_dir:
            classes = sorted(d for d in os.listdir(os.path.join(folder, 'train')) if not d.startswith('.'))
            train = read(os.path.join(folder, 'train'), classes)
            return train + read(os.path.join(folder, test_dir), classes) + (classes,)
        classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
        x, y = read(folder, classes)
        test = np.arange(len(y)) % 5 == 4
        return x[~test], y[~test], x[test], y[test], classes


    def balanced(labels, count, rng):
        """A seeded class-balanced choice of `count` indices of `labels` (round robin over the classes in a shuffled
        order), sorted."""
        by_class = [list(rng.permutation(np.flatnonzero(labels == c))) for c in np.unique(labels)]
        chosen = []
        while len(chosen) < count and any(by_class):
            for members in by_class:
                if members and len(chosen) < count:
                    chosen.append(members.pop())
        return np.sort(np.asarray(chosen, dtype=np.int64))


    def load_data(args):
        """(train, val, test) as (normalised float images, labels) tensors, the normalisation, and the class names."""
        spec = RECIPE['data']
        session = args.data is None
        name = spec['name'] if session else args.data
        root = (spec['path'] if session else None) if args.root is None else args.root
        kind = spec['kind'] if session else guess_kind(name)
        if kind in ('fashion-mnist', 'mnist', 'kmnist'):
            if root is None:
                raise SystemExit(f'error: {name}: give --root DIR, the folder of its IDX files')
            xtr, ytr, xte, yte, classes = read_mnist(root)
        elif kind.startswith('cifar'):
            if root is None:
                raise SystemExit(f'error: {name}: give --root DIR, the folder of its python pickles')
            xtr, ytr, xte, yte, classes = read_cifar(root, kind)
        elif kind == 'npz':
            xtr, ytr, xte, yte, classes = read_npz(name)
        else:
            xtr, ytr, xte, yte, classes = read_image_folder(name, spec['input_shape'][1:])
        if session:
            classes = spec['class_names']
        rng = np.random.RandomState(args.seed)
        val_count = spec['val'] if session and args.val is None else (args.val or 0)
        held = balanced(ytr, val_count, rng) if val_count else np.zeros(0, dtype=np.int64)
        keep = np.setdiff1d(np.arange(len(ytr)), held)
        xva, yva = xtr[held], ytr[held]
        xtr, ytr = xtr[keep], ytr[keep]
        train_count = spec['train'] if session and args.limit is None else args.limit
        test_count = spec['test'] if session and args.limit is None else args.limit
        if train_count and train_count < len(ytr):
            pick = balanced(ytr, train_count, rng)
            xtr, ytr = xtr[pick], ytr[pick]
        if test_count and test_count < len(yte):
            pick = balanced(yte, test_count, rng)
            xte, yte = xte[pick], yte[pick]
        normalize = args.normalize or ('session' if session else 'computed')
        if normalize == 'session':
            mean, std = spec['mean'], spec['std']
        elif normalize == 'computed':
            pixels = xtr.reshape(len(xtr), xtr.shape[1], -1).astype(np.float64) / 255.0
            mean = pixels.mean(axis=(0, 2)).tolist()
            std = np.maximum(pixels.std(axis=(0, 2)), 1e-6).tolist()
        else:
            mean, std = [0.0] * xtr.shape[1], [1.0] * xtr.shape[1]
        def tensors(x, y):
            x = torch.from_numpy(x.astype(np.float32) / 255.0)
            m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
            return (x - m) / s, torch.from_numpy(y)
        facts = {'dataset': name, 'normalize': normalize if normalize != 'session' else spec['normalize'],
                 'mean': mean, 'std': std, 'input_shape': list(xtr.shape[1:]), 'class_names': classes}
        return tensors(xtr, ytr), tensors(xva, yva), tensors(xte, yte), facts


    def guess_kind(name):
        """The reader of a --data value."""
        if name in ('fashion-mnist', 'mnist', 'kmnist', 'cifar10', 'cifar100', 'cifar100-coarse'):
            return name
        if name.endswith('.npz'):
            return 'npz'
        if os.path.isdir(name):
            return 'imagefolder'
        raise SystemExit(f'error: --data {name}: not a known data set, an .npz file or an ImageFolder directory')


    def augment(x, crop, flip, generator):
        """Random crop with `crop` zero pixels of padding and (when `flip`) a horizontal flip with probability 1/2, per
        image of the batch x [N, C, H, W] (sskd's and torchvision's RandomCrop + RandomHorizontalFlip). Zero is the
        padding before normalisation in sskd; here it pads the normalised tensor with the normalised black."""
        if crop:
            n, _, h, w = x.shape
            padded = F.pad(x, (crop, crop, crop, crop), value=0.0)
            dy = torch.randint(0, 2 * crop + 1, (n,), generator=generator).tolist()
            dx = torch.randint(0, 2 * crop + 1, (n,), generator=generator).tolist()
            x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
        if flip:
            mask = torch.rand(x.shape[0], generator=generator) < 0.5
            x = torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
        return x

    # ----------------------------------------------------------------------------------------------------------------
    # Training: one loop for every run; the run's objective says what trains and what the loss is.


    class Context:
        """Process group, device, data and logging of one process."""

        def __init__(self, args):
            self.args = args
            self.distributed = 'WORLD_SIZE' in os.environ and int(os.environ['WORLD_SIZE']) > 1
            if self.distributed:
                backend = 'nccl' if torch.cuda.is_available() and args.device != 'cpu' else 'gloo'
                dist.init_process_group(backend)
                self.rank, self.world = dist.get_rank(), dist.get_world_size()
                local = int(os.environ.get('LOCAL_RANK', 0))
            else:
                self.rank, self.world, local = 0, 1, 0
            use_cuda = torch.cuda.is_available() and args.device != 'cpu'
            self.device = torch.device(f'cuda:{local}' if use_cuda else 'cpu')
            if use_cuda:
                torch.cuda.set_device(self.device)
            if args.threads:
                torch.set_num_threads(args.threads)

        def log(self, text):
            if self.rank == 0:
                print(text, flush=True)

        def barrier(self):
            if self.distributed:
                dist.barrier()

        def mean(self, value):
            """The mean of a number over the processes."""
            if not self.distributed:
                return value
            t = torch.tensor([value], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            return t.item() / self.world


    def make_optimizer(run, parameters):
        """The run's optimizer as sskd's: SGD (momentum, L2 weight decay; Nesterov), Adam (L2) or AdamW (decoupled)."""
        lr, wd = run['lr'], run.get('wd', 0.0)
        kind = run.get('optimizer', 'sgd')
        if kind in ('sgd', 'nesterov'):
            momentum = run.get('momentum', 0.9)
            return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=wd,
                                   nesterov=kind == 'nesterov' and momentum > 0)
        if kind == 'adamw':
            return torch.optim.AdamW(parameters, lr=lr, weight_decay=wd)
        return torch.optim.Adam(parameters, lr=lr, weight_decay=wd)


    def schedule_factor(kind, step, total):
        """The learning-rate factor at optimizer step `step` (0-based) of `total`: constant, cosine to 0, or x0.1 at
        50% and 75% (sskd's `constant`, `cosine`, `step`)."""
        if kind == 'cosine':
            return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        if kind == 'step':
            return 0.1 ** sum(step >= m for m in (total // 2, total * 3 // 4))
        return 1.0


    class Objective(nn.Module):
        """What one run trains, as one module for DistributedDataParallel: forward(images, labels) → loss."""

        def __init__(self, kind, student, ranges, head, teacher=None, teacher_ranges=None, stage=0, teacher_stage=0,
                     adapter=None, pool=False, temperature=4.0, alpha=0.9, smoothing=0.0):
            super().__init__()
            self.kind, self.student, self.adapter = kind, student, adapter
            self.ranges, self.head, self.stage, self.pool = ranges, head, stage, pool
            self.teacher = [teacher]  # not a submodule: DDP neither syncs nor trains it
            self.teacher_end = teacher_ranges[teacher_stage][1] if teacher_ranges else None
            self.temperature, self.alpha, self.smoothing = temperature, alpha, smoothing

        def features(self, x):
            """The student's stage map brought to the teacher's (adapter, then adaptive pooling), and the teacher's."""
            with torch.no_grad():
                t = self.teacher[0].run_units(x, 0, self.teacher_end)
            s = self.student.run_units(x, 0, self.ranges[self.stage][1])
            if self.adapter is not None:
                s = self.adapter(s)
            if self.pool and s.shape[2:] != t.shape[2:]:
                size = (min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3]))
                s, t = F.adaptive_avg_pool2d(s, size), F.adaptive_avg_pool2d(t, size)
            return s, t

        def forward(self, x, y):
            if self.kind == 'mimic':
                s, t = self.features(x)
                return F.mse_loss(s, t)
            if self.kind == 'head':
                with torch.no_grad():
                    f = self.student.run_units(x, 0, self.head[0])
                return F.cross_entropy(self.student.run_units(f, *self.head), y, label_smoothing=self.smoothing)
            logits = self.student(x)
            ce = F.cross_entropy(logits, y, label_smoothing=self.smoothing)
            if self.kind != 'kd':
                return ce
            with torch.no_grad():
                t = self.teacher[0](x)
            T = self.temperature
            kl = F.kl_div(F.log_softmax(logits / T, 1), F.softmax(t / T, 1), reduction='batchmean')
            return self.alpha * T * T * kl + (1 - self.alpha) * ce


    def set_modes(model, ranges, frozen, trainable_units):
        """requires_grad on the units in `trainable_units` only; train mode except frozen stages (eval: BatchNorm
        keeps its running statistics)."""
        units = list(model.units())
        model.train()
        for p in model.parameters():
            p.requires_grad_(False)
        for i in trainable_units:
            for p in units[i][1].parameters():
                p.requires_grad_(True)
        for k in frozen:
            for i in range(*ranges[k]):
                units[i][1].eval()


    @torch.no_grad()
    def evaluate(ctx, model, data, batch=256):
        """Top-1 (%) and mean cross-entropy of `model` on (images, labels)."""
        model.eval()
        x, y = data
        correct, loss = 0, 0.0
        for i in range(0, len(y), batch):
            logits = model(x[i:i + batch].to(ctx.device))
            target = y[i:i + batch].to(ctx.device)
            correct += (logits.argmax(1) == target).sum().item()
            loss += F.cross_entropy(logits, target, reduction='sum').item()
        return 100.0 * correct / max(len(y), 1), loss / max(len(y), 1)


    @torch.no_grad()
    def feature_distance(ctx, objective, data, images=1000, batch=256):
        """sskd's normalised feature distance MSE / Var(teacher) on the first `images` images of `data`."""
        x = data[0][:images]
        mse, sq, total, count = 0.0, 0.0, 0.0, 0
        for i in range(0, len(x), batch):
            s, t = objective.features(x[i:i + batch].to(ctx.device))
            mse += F.mse_loss(s, t, reduction='sum').item()
            sq += (t.double() ** 2).sum().item()
            total += t.double().sum().item()
            count += t.numel()
        variance = sq / max(count, 1) - (total / max(count, 1)) ** 2
        return (mse / max(count, 1)) / max(variance, 1e-12)


    def train_run(ctx, run, objective, model, ranges, frozen, trainable_units, splits, extra=()):
        """One run of the recipe: the loop over epochs and steps, logged by rank 0."""
        args = ctx.args
        train, val, test = splits
        set_modes(model, ranges, frozen, trainable_units)
        for module in extra:
            module.train()
            for p in module.parameters():
                p.requires_grad_(True)
        if objective.teacher[0] is not None:
            objective.teacher[0].eval()
        trainable = [p for p in objective.parameters() if p.requires_grad]
        if not trainable:
            raise SystemExit(f'error: {run["name"]}: nothing to train (every parameter is frozen)')
        wrapped = objective
        if ctx.distributed:
            ids = [ctx.device.index] if ctx.device.type == 'cuda' else None
            wrapped = nn.parallel.DistributedDataParallel(objective, device_ids=ids)
        optimizer = make_optimizer(run, trainable)
        batch = max(1, (args.batch or run['batch']) // ctx.world)
        dataset = torch.utils.data.TensorDataset(*train)
        sampler = torch.utils.data.distributed.DistributedSampler(
            dataset, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=run['seed']) if ctx.distributed else None
        generator = torch.Generator().manual_seed(run['seed'] + ctx.rank)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=sampler is None, sampler=sampler,
                                             generator=generator if sampler is None else None)
        per_epoch = len(loader)
        epochs = run.get('epochs')
        if args.epochs is not None:
            epochs, total = args.epochs, args.epochs * per_epoch
        elif run.get('steps') is not None:
            total = run['steps']
            epochs = math.ceil(total / per_epoch)
        else:
            total = epochs * per_epoch
        log_every = args.log_every or max(1, total // 10)
        crop, flip = RECIPE['data']['augment'] if args.augment is None else (args.augment, args.augment > 0)
        label = run['name']
        ctx.log(f'[{label}] {total} steps ({epochs} epochs of {per_epoch} batches of {batch} x {ctx.world} processes), '
                f'{run.get("optimizer")} lr {run["lr"]} {run.get("schedule")}')
        started, step, window = time.time(), 0, []
        for epoch in range(1, epochs + 1):
            if sampler is not None:
                sampler.set_epoch(epoch)
            epoch_losses = []
            for x, y in loader:
                if step >= total:
                    break
                x, y = x.to(ctx.device), y.to(ctx.device)
                if crop or flip:
                    x = augment(x, crop, flip, generator)
                for group in optimizer.param_groups:
                    group['lr'] = run['lr'] * schedule_factor(run.get('schedule', 'constant'), step, total)
                loss = wrapped(x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                window.append(loss.item())
                epoch_losses.append(loss.item())
                if step % log_every == 0 or step == total:
                    mean = ctx.mean(sum(window) / len(window))
                    window = []
                    ctx.log(f'[{label}] step {step}/{total} epoch {epoch} loss {mean:.6f} '
                            f'lr {optimizer.param_groups[0]["lr"]:.6g}')
            mean = ctx.mean(sum(epoch_losses) / max(len(epoch_losses), 1))
            if ctx.rank == 0:
                held = val if len(val[1]) else test
                split = 'val' if len(val[1]) else 'test'
                if objective.kind == 'mimic':
                    d = feature_distance(ctx, objective, held)
                    metric = f'{split} feature distance {d:.4f}'
                else:
                    top1, _ = evaluate(ctx, model, held)
                    metric = f'{split} top-1 {top1:.2f}%'
                set_modes(model, ranges, frozen, trainable_units)
                for module in extra:
                    module.train()
                ctx.log(f'[{label}] epoch {epoch}: train loss {mean:.6f}, {metric}, {time.time() - started:.1f}s')
            ctx.barrier()
            if step >= total:
                break
        for p in objective.parameters():
            p.requires_grad_(True)


    def save_student(ctx, model, spec, frozen, facts, path, top1=None):
        """Rank 0 writes the student's weights to `path` as safetensors with sskd's metadata (architecture, split,
        frozen stages, normalisation, input shape, class names), atomically."""
        if ctx.rank != 0:
            return
        from safetensors.torch import save_file
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        config = spec['config']
        meta = {'arch': spec['architecture'], 'channels': str(config['channels']), 'classes': str(config['classes']),
                'split': ','.join(spec['stages']), 'frozen': json.dumps(sorted(k + 1 for k in frozen)),
                'frozen_head': 'false', 'dataset': str(facts['dataset']), 'normalize': str(facts['normalize']),
                'normalize_mean': json.dumps(facts['mean']), 'normalize_std': json.dumps(facts['std']),
                'input_shape': json.dumps(facts['input_shape']), 'class_names': json.dumps(facts['class_names']),
                'command': ' '.join(['python'] + sys.argv), 'seed': str(ctx.args.seed)}
        if config['family'] in ('mlp', 'cnn'):
            meta['widths'] = ','.join(str(w) for w in config['widths'])
        if 'input_size' in config:
            meta['input_size'] = ','.join(str(s) for s in config['input_size'])
        if top1 is not None:
            meta['top1'] = f'{top1:.2f}'
        save_file(state, path + '.tmp', metadata=meta)
        os.replace(path + '.tmp', path)


    def load_weights(model, path, device):
        """Loads a checkpoint into `model` strict: safetensors (sskd's or PyTorch's) or a .pth state dict (its
        'model' or 'state_dict' entry when it is a dict of them)."""
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            state = load_file(path, device=str(device))
        else:
            state = torch.load(path, map_location=device, weights_only=True)
            for key in ('model', 'state_dict'):
                if isinstance(state, dict) and isinstance(state.get(key), dict):
                    state = state[key]
        model.load_state_dict(state, strict=True)


    def train_student(ctx, name, spec, runs, teacher, teacher_ranges, splits, facts, out):
        """The runs of one student, in order; returns the trained model."""
        torch.manual_seed(ctx.args.seed)
        model = build_model(spec['config']).to(ctx.device)
        if ctx.args.init and name == 'student':
            load_weights(model, ctx.args.init, ctx.device)
        ranges, head = model.stage_ranges(spec['stages'])
        frozen, mimicked = set(), set()
        for run in runs:
            kind = run['method']
            if kind == 'mimic':
                k, tk = run['stage'] - 1, run['teacher_stage'] - 1
                if not ctx.args.no_freeze:
                    frozen = set(range(k)) & set(mimicked)
                adapter = None
                with torch.no_grad():
                    probe = splits[0][0][:2].to(ctx.device)
                    model.eval()
                    s = model.run_units(probe, 0, ranges[k][1])
                    t = teacher.run_units(probe, 0, teacher_ranges[tk][1])
                if s.dim() == 4 and s.shape[1] != t.shape[1]:
                    adapter = nn.Sequential(OrderedDict(conv=nn.Conv2d(s.shape[1], t.shape[1], 1, bias=False),
                                                        bn=nn.BatchNorm2d(t.shape[1]))).to(ctx.device)
                objective = Objective('mimic', model, ranges, head, teacher, teacher_ranges, k, tk, adapter,
                                      pool=run.get('pool', False))
                units = [i for j in range(k + 1) if j not in frozen for i in range(*ranges[j])]
                train_run(ctx, run, objective, model, ranges, frozen, units, splits,
                          extra=[adapter] if adapter is not None else [])
                mimicked.add(k)
                if not ctx.args.no_freeze:
                    frozen = set(range(k + 1)) & set(mimicked)
            elif kind == 'head':
                if run.get('from_teacher'):
                    theirs = dict(teacher.named_parameters())
                    with torch.no_grad():
                        for i in range(*head):
                            path = list(model.units())[i][0]
                            for pname, p in list(model.units())[i][1].named_parameters():
                                p.copy_(theirs[f'{path}.{pname}'])
                objective = Objective('head', model, ranges, head, smoothing=run.get('smoothing', 0.0))
                frozen = set(range(len(ranges)))
                train_run(ctx, run, objective, model, ranges, frozen, list(range(*head)), splits)
            elif kind in ('kd', 'finetune', 'scratch'):
                frozen = set()
                kind = 'scratch' if kind == 'scratch' else 'kd'
                objective = Objective(kind, model, ranges, head, teacher if kind == 'kd' else None,
                                      temperature=run.get('T', 4.0), alpha=run.get('alpha', 0.9),
                                      smoothing=run.get('smoothing', 0.0))
                train_run(ctx, run, objective, model, ranges, frozen, list(range(head[1])), splits)
            else:
                ctx.log(f'[{run["name"]}] skipped: the export does not reproduce {kind} runs')
                continue
            save_student(ctx, model, spec, frozen, facts, out)
            ctx.log(f'[{run["name"]}] wrote {out}')
        return model, frozen


    def main():
        parser = argparse.ArgumentParser(
            description='The SSKD recipe of an sskd session in PyTorch (python or torchrun).',
            epilog='Defaults are the session\'s: its data files, subset, split and normalisation, its teacher file and '
                   'its hyper-parameters (RECIPE at the top of this file).')
        parser.add_argument('--data', help='data set: fashion-mnist, mnist, kmnist, cifar10, cifar100, cifar100-coarse '
                            '(with --root), an .npz file or an ImageFolder directory (default: the session\'s)')
        parser.add_argument('--root', help='folder of the data set\'s files or torchvision\'s root')
        parser.add_argument('--limit', type=int, help='class-balanced subset of this many train (and test) images')
        parser.add_argument('--val', type=int, help='images held out of train for validation (class-balanced)')
        parser.add_argument('--normalize', choices=['session', 'computed', 'none'],
                            help='the session\'s mean/std, computed on the train images, or none (pixels / 255)')
        parser.add_argument('--augment', type=int, help='random-crop padding in pixels (0: none; with flips when > 0)')
        parser.add_argument('--teacher', help='teacher checkpoint (default: %(default)s)',
                            default=RECIPE['teacher']['file'])
        parser.add_argument('--init', help='start the student from this checkpoint instead of fresh weights')
        parser.add_argument('--out', default=RECIPE['out'],
                            help='the student\'s safetensors file (default: %(default)s)')
        parser.add_argument('--batch', type=int, help='global batch of every run (default: each run\'s)')
        parser.add_argument('--epochs', type=int, help='epochs of every run instead of its own budget')
        parser.add_argument('--seed', type=int, default=RECIPE['data']['seed'], help='seed (default: %(default)s)')
        parser.add_argument('--no-freeze', action='store_true', help='do not freeze stages that already mimicked')
        parser.add_argument('--baselines', action='store_true', help='also train the session\'s baselines')
        parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto', help='device (default: auto)')
        parser.add_argument('--threads', type=int, help='torch threads per process')
        parser.add_argument('--log-every', type=int, help='log the mean loss every this many steps (default: 10 lines '
                            'per run)')
        args = parser.parse_args()
        ctx = Context(args)
        splits_and_facts = load_data(args)
        splits, facts = splits_and_facts[:3], splits_and_facts[3]
        counts = ', '.join(f'{len(s[1])} {n}' for s, n in zip(splits, ('train', 'val', 'test')))
        ctx.log(f'data {facts["dataset"]}: {counts}, '
                f'{facts["input_shape"]}, normalize {facts["normalize"]} mean {facts["mean"]} std {facts["std"]}')
        teacher_spec = RECIPE['teacher']
        teacher = build_model(teacher_spec['config']).to(ctx.device)
        load_weights(teacher, args.teacher, ctx.device)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        teacher_ranges, _ = teacher.stage_ranges(teacher_spec['stages'])
        if ctx.rank == 0:
            top1, _ = evaluate(ctx, teacher, splits[2])
            ctx.log(f'teacher {teacher_spec["architecture"]} from {args.teacher}: test top-1 {top1:.2f}%')
        ctx.barrier()
        student_spec = RECIPE['student']
        model, frozen = train_student(ctx, 'student', student_spec, student_spec['runs'], teacher, teacher_ranges,
                                      splits, facts, args.out)
        if ctx.rank == 0:
            top1, _ = evaluate(ctx, model, splits[2])
            save_student(ctx, model, student_spec, frozen, facts, args.out, top1)
            ctx.log(f'student {student_spec["architecture"]}: test top-1 {top1:.2f}%, wrote {args.out}')
        ctx.barrier()
        if args.baselines:
            for baseline in RECIPE['baselines']:
                out = os.path.splitext(args.out)[0] + f'-{baseline["name"]}.safetensors'
                model, _ = train_student(ctx, baseline['name'], baseline, baseline['runs'], teacher, teacher_ranges,
                                         splits, facts, out)
                if ctx.rank == 0:
                    top1, _ = evaluate(ctx, model, splits[2])
                    ctx.log(f'baseline {baseline["name"]} ({baseline["architecture"]}): test top-1 {top1:.2f}%')
                ctx.barrier()
        if ctx.distributed:
            dist.destroy_process_group()


    if __name__ == '__main__':
        main()
    """#
