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
        python {{FILE}} --data mnist --root DIR    # another data set: fashion-mnist, mnist, kmnist (IDX files),
                                                   # cifar10, cifar100, cifar100-coarse (pickles), an ImageFolder
                                                   # directory or an .npz file; data of another channel or class
                                                   # count also needs --teacher T (a teacher trained on it)

    The recipe (RECIPE below) lists the runs of the session's student in order: each `mimic` trains the student's
    stages up to k (earlier stages that already mimicked are frozen: no gradients, BatchNorm in eval mode) to
    reproduce the teacher's stage map (MSE, with a 1x1 conv + BN adapter when the channel counts differ); `head` trains
    the pooling and classifier on the frozen backbone with cross-entropy; `finetune` (optional) and `kd` train the
    whole student with Hinton's KD. Baselines of the session (scratch, kd) are trained after it with --baselines.
    `--batch` is the global batch: each of N processes takes batch / N images per step, so the optimizer steps, the
    learning rates and the schedules are the session's. Rank 0 logs and writes the student (safetensors, sskd's names
    and metadata) after every run to --out; `load "OUT"` in sskd reads it back. BatchNorm layers normalise with the
    batch of their own process (batch / N images) unless --sync-bn (SyncBatchNorm, GPUs only).
    """
    import argparse
    import gzip
    import json
    import math
    import os
    import pickle
    import sys
    import tempfile
    import time
    from collections import OrderedDict

    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    import torch.nn.functional as F

    RECIPE = {{RECIPE}}

    # The process's umask, for the permissions of the files it writes.
    UMASK = os.umask(0o022)
    os.umask(UMASK)

    {{LIBRARY}}

    # ----------------------------------------------------------------------------------------------------------------
    # Data: the readers of sskd's data sets, into uint8 arrays [N, C, H, W] and int64 labels.

    # Where sskd looks for a data set named without a folder (Debian's dataset-fashion-mnist package).
    DEFAULT_ROOTS = {'fashion-mnist': '/usr/share/datasets/fashion-mnist'}
    # The class names sskd gives the standard data sets (CIFAR's come from their meta pickles).
    FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                       'Ankle boot']
    STANDARD_KINDS = ('fashion-mnist', 'mnist', 'kmnist', 'cifar10', 'cifar100', 'cifar100-coarse')


    def find_file(folder, names):
        """The first of `names` (also with .gz, and under torchvision's `CLASS/raw` layout) that exists in `folder`."""
        if not os.path.isdir(folder):
            raise SystemExit(f'error: {folder!r} is not a folder (give --root the folder of the data set\'s files)')
        for root, _, _ in os.walk(folder):
            for name in names:
                for candidate in (name, name + '.gz'):
                    path = os.path.join(root, candidate)
                    if os.path.isfile(path):
                        return path
        raise SystemExit(f'error: no {names[0]} (or .gz) under {folder!r}')


    def read_idx(path):
        """An IDX file of the MNIST family (LeCun's format: magic, big-endian dimensions, then the bytes)."""
        with (gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')) as f:
            data = f.read()
        ndim = data[3]
        dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


    def read_mnist(folder, kind):
        """Fashion-MNIST, MNIST or KMNIST IDX files in `folder` (or torchvision's root), with sskd's class names."""
        def split(prefix):
            x = read_idx(find_file(folder, [f'{prefix}-images-idx3-ubyte']))
            y = read_idx(find_file(folder, [f'{prefix}-labels-idx1-ubyte'])).astype(np.int64)
            return x[:, None], y
        names = FASHION_CLASSES if kind == 'fashion-mnist' else [str(i) for i in range(10)]
        return split('train') + split('t10k') + (list(names),)


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
        """An .npz with x_train, y_train, x_test, y_test as sskd reads it: images [N, H, W], [N, H, W, C] (when the last
        size is at most 4) or [N, C, H, W], uint8 or floats in [0, 1]; classes 0...the largest label of either split."""
        if not os.path.isfile(path):
            raise SystemExit(f'error: {path!r}: no such file (the .npz of the data)')
        try:
            z = np.load(path)
            arrays = {key: z[key] for key in ('x_train', 'y_train', 'x_test', 'y_test')}
        except KeyError as e:
            raise SystemExit(f'error: {path!r} has no array {e} (it needs x_train, y_train, x_test, y_test)')
        except (OSError, ValueError) as e:
            raise SystemExit(f'error: {path!r} is not a readable .npz: {e}')
        def images(x):
            if x.ndim == 3:
                x = x[:, None]
            elif x.ndim == 4 and x.shape[3] <= 4:
                x = x.transpose(0, 3, 1, 2)
            elif x.ndim != 4:
                raise SystemExit(f'error: {path!r}: images need shape (N, H, W), (N, H, W, C) or (N, C, H, W), '
                                 f'got {list(x.shape)}')
            if x.dtype.kind == 'f':
                return np.ascontiguousarray(x, dtype=np.float32) * np.float32(255)  # [0, 1] floats, scaled as bytes
            return np.ascontiguousarray(x, dtype=np.uint8)
        y, yt = arrays['y_train'].reshape(-1).astype(np.int64), arrays['y_test'].reshape(-1).astype(np.int64)
        classes = [str(i) for i in range(int(max(y.max(initial=0), yt.max(initial=0))) + 1)]
        return images(arrays['x_train']), y, images(arrays['x_test']), yt, classes


    IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')
    GRAY_MODES = ('1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16B', 'I;16L', 'I;16N')


    def resize_bilinear(pixels, height, width):
        """sskd's resize (`DatasetLoader.resizeBilinear`) of [H, W, C] bytes to [height, width, C]: bilinear with
        half-pixel centres and no antialiasing, rounded to the nearest byte."""
        def taps(n, size):
            source = np.maximum(0.0, (np.arange(n) + 0.5) * (size / n) - 0.5)
            i0 = np.minimum(source.astype(np.int64), size - 1)
            return i0, np.minimum(i0 + 1, size - 1), source - i0
        y0, y1, wy = taps(height, pixels.shape[0])
        x0, x1, wx = taps(width, pixels.shape[1])
        p, wx, wy = pixels.astype(np.float64), wx[None, :, None], wy[:, None, None]
        top = p[y0][:, x0] * (1 - wx) + p[y0][:, x1] * wx
        bottom = p[y1][:, x0] * (1 - wx) + p[y1][:, x1] * wx
        return np.clip(np.floor(top * (1 - wy) + bottom * wy + 0.5), 0, 255).astype(np.uint8)


    def image_pixels(image, channels):
        """[H, W, channels] bytes of a PIL image as sskd decodes it: gray as is (16-bit scaled to 8), or R, G, B with
        gray copied to the three and alpha dropped without compositing (PIL's convert('RGB'))."""
        if image.mode.startswith('I'):
            gray = np.asarray(image).astype(np.int64)
            gray = np.clip((gray * 255 + 32767) // 65535, 0, 255).astype(np.uint8)[:, :, None]
            return gray if channels == 1 else np.repeat(gray, 3, axis=2)
        if channels == 1:
            return np.asarray(image.convert('L'), dtype=np.uint8)[:, :, None]
        return np.asarray(image.convert('RGB'), dtype=np.uint8)


    def read_image_folder(folder, size, test_count=None, seed=0):
        """An ImageFolder read as sskd reads it: `folder/train/CLASS/...` with `test/` (or `val/`), or
        `folder/CLASS/...`
        (then `test_count` images, class-balanced, or a fifth when None, are the test split); class names are the
        sorted folder names; the .png/.jpg/.jpeg files below each class folder (sub-folders too, names starting with
        `.` skipped) in torchvision's order. 1 channel when every image is grayscale, else 3 (RGB). Images of another
        size than `size` [H, W] are resized with sskd's bilinear resize."""
        try:
            from PIL import Image
        except ImportError:
            raise SystemExit('error: reading an ImageFolder needs Pillow: pip install pillow')
        if not os.path.isdir(folder):
            raise SystemExit(f'error: {folder!r} is not a folder (an ImageFolder is a folder of class folders)')
        def classes_of(root):
            return sorted(d for d in os.listdir(root) if not d.startswith('.') and os.path.isdir(os.path.join(root, d)))
        def files(root, classes):
            found = []
            for label, name in enumerate(classes):
                for path, dirs, names in sorted(os.walk(os.path.join(root, name), followlinks=True)):
                    dirs[:] = [d for d in dirs if not d.startswith('.')]
                    if any(part.startswith('.') for part in os.path.relpath(path, root).split(os.sep)):
                        continue
                    found += [(os.path.join(path, n), label) for n in sorted(names)
                              if not n.startswith('.') and n.lower().endswith(IMAGE_EXTENSIONS)]
            return found
        test_dir = next((d for d in ('test', 'val') if os.path.isdir(os.path.join(folder, d))), None)
        split_folders = os.path.isdir(os.path.join(folder, 'train')) and test_dir is not None
        train_root = os.path.join(folder, 'train') if split_folders else folder
        classes = classes_of(train_root)
        if split_folders and classes_of(os.path.join(folder, test_dir)) != classes:
            raise SystemExit(f'error: the class folders of {os.path.join(folder, test_dir)!r} differ from '
                             f'{train_root!r}\'s')
        train_files = files(train_root, classes)
        test_files = files(os.path.join(folder, test_dir), classes) if split_folders else []
        if not train_files:
            raise SystemExit(f'error: no .png, .jpg or .jpeg images in the class folders of {train_root!r}')
        def open_image(path):
            try:
                return Image.open(path)
            except OSError as e:
                raise SystemExit(f'error: cannot read the image {path!r}: {e}')
        gray = True
        for path, _ in train_files + test_files:
            with open_image(path) as image:
                gray = gray and image.mode in GRAY_MODES
        channels = 1 if gray else 3
        def read(found):
            xs = []
            for path, _ in found:
                with open_image(path) as image:
                    pixels = image_pixels(image, channels)
                if list(pixels.shape[:2]) != list(size):
                    pixels = resize_bilinear(pixels, size[0], size[1])
                xs.append(pixels.transpose(2, 0, 1))
            return np.stack(xs) if xs else np.zeros((0, channels, size[0], size[1]), np.uint8), \
                np.asarray([label for _, label in found], dtype=np.int64)
        x, y = read(train_files)
        if split_folders:
            return (x, y) + read(test_files) + (classes,)
        if test_count is None:
            test = np.arange(len(y)) % 5 == 4
        else:
            test = np.zeros(len(y), dtype=bool)
            test[balanced(y, test_count, np.random.RandomState(seed))] = True
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


    def channel_statistics(x):
        """Per-channel mean and population std of images x [N, C, H, W] in [0, 1] units, as sskd's `computed`
        normalisation (a std of 0 becomes 1), summed per channel so that large splits need no float64 copy."""
        mean, std = [], []
        for c in range(x.shape[1]):
            count, total, squares = 0, 0.0, 0.0
            for i in range(0, len(x), 4096):
                plane = x[i:i + 4096, c].astype(np.float64) / 255.0
                count, total, squares = count + plane.size, total + plane.sum(), squares + (plane * plane).sum()
            m = total / max(count, 1)
            s = math.sqrt(max(0.0, squares / max(count, 1) - m * m))
            mean.append(m)
            std.append(s if s > 0 else 1.0)
        return mean, std


    def load_data(args):
        """(train, val, test) as (normalised float images, labels) tensors, and the facts of the data (name,
        normalisation, input shape, class names)."""
        spec = RECIPE['data']
        session = args.data is None
        name = spec['name'] if session else args.data
        kind = spec['kind'] if session else guess_kind(name)
        root = args.root if args.root is not None else spec['path'] if session else None
        root = root if root is not None else DEFAULT_ROOTS.get(kind)
        if kind in ('fashion-mnist', 'mnist', 'kmnist'):
            if root is None:
                raise SystemExit(f'error: {name}: give --root DIR, the folder of its IDX files')
            xtr, ytr, xte, yte, classes = read_mnist(root, kind)
        elif kind.startswith('cifar'):
            if root is None:
                raise SystemExit(f'error: {name}: give --root DIR, the folder of its python pickles')
            xtr, ytr, xte, yte, classes = read_cifar(root, kind)
        elif kind == 'npz':
            xtr, ytr, xte, yte, classes = read_npz(name)
        else:
            held = spec['test'] if session else None
            xtr, ytr, xte, yte, classes = read_image_folder(name, spec['input_shape'][1:], held, args.seed)
        if session and len(spec['class_names']) == len(classes):
            classes = spec['class_names']
        normalize = args.normalize or ('session' if session else 'computed')
        if normalize == 'session':
            mean, std = spec['mean'], spec['std']
            if len(mean) != xtr.shape[1]:
                raise SystemExit(f'error: the session\'s normalisation has {len(mean)} channel(s), the data '
                                 f'{xtr.shape[1]}: give --normalize computed or none')
        elif normalize == 'computed':
            mean, std = channel_statistics(xtr)  # the full train split, before the hold-out and the limit, as sskd
        else:
            mean, std = [0.0] * xtr.shape[1], [1.0] * xtr.shape[1]
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
        def tensors(x, y):
            x = torch.from_numpy(x.astype(np.float32) / 255.0)
            m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
            return (x - m) / s, torch.from_numpy(y)
        facts = {'dataset': name, 'normalize': normalize if normalize != 'session' else spec['normalize'],
                 'mean': [float(v) for v in mean], 'std': [float(v) for v in std], 'input_shape': list(xtr.shape[1:]),
                 'class_names': classes}
        return tensors(xtr, ytr), tensors(xva, yva), tensors(xte, yte), facts


    def guess_kind(name):
        """The reader of a --data value."""
        if name in STANDARD_KINDS:
            return name
        if name.lower().endswith('.npz'):
            return 'npz'
        if os.path.isdir(name):
            return 'imagefolder'
        raise SystemExit(f'error: --data {name}: not a known data set ({", ".join(STANDARD_KINDS)}), an .npz file or '
                         'an ImageFolder directory')


    def augment(x, crop, flip, generator, black):
        """Random crop with `crop` pixels of black padding and (when `flip`) a horizontal flip with probability 1/2, per
        image of the batch x [N, C, H, W] (sskd's and torchvision's RandomCrop + RandomHorizontalFlip). sskd pads with
        zero before normalisation: here the normalised tensor is padded with `black` [1, C, 1, 1], (0 - mean) / std."""
        if crop:
            n, c, h, w = x.shape
            padded = black.to(x.device).expand(n, c, h + 2 * crop, w + 2 * crop).clone()
            padded[:, :, crop:crop + h, crop:crop + w] = x
            dy = torch.randint(0, 2 * crop + 1, (n,), generator=generator).tolist()
            dx = torch.randint(0, 2 * crop + 1, (n,), generator=generator).tolist()
            x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
        if flip:
            mask = torch.rand(x.shape[0], generator=generator) < 0.5
            x = torch.where(mask.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)
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
        wanted = args.batch or run['batch']
        batch = max(1, wanted // ctx.world)
        if batch * ctx.world != wanted:
            ctx.log(f'[{run["name"]}] warning: the global batch {wanted} is not a multiple of {ctx.world} processes: '
                    f'each takes {batch}, {batch * ctx.world} images per step')
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
        crop, flip = RECIPE['data']['augment']
        crop = crop if args.augment is None else args.augment
        flip = flip if args.flip is None else args.flip
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
                    x = augment(x, crop, flip, generator, ctx.black)
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
        frozen stages, normalisation, input shape, class names), atomically, with sskd's permissions: an existing
        file's, else 0644 less the umask."""
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
        mode = 0o644 & ~UMASK
        if os.path.isfile(path):
            mode = os.stat(path).st_mode & 0o7777
        try:
            save_file(state, path + '.tmp', metadata=meta)
            os.chmod(path + '.tmp', mode)
            os.replace(path + '.tmp', path)
        except OSError as e:
            raise SystemExit(f'error: cannot write {path!r}: {e.strerror or e}')


    # The entries of a torch.save dict that hold the state dict, as sskd looks for them (the first present).
    NESTED_KEYS = ('state_dict', 'model', 'model_state_dict', 'net')


    def read_state_dict(path, device):
        """The tensors of a checkpoint by name, taken as sskd takes them: safetensors (by content), or a torch.save file
        (zip or legacy) holding a state dict or a dict with one under `NESTED_KEYS` (scalars beside it ignored); a
        `module.` prefix (DataParallel, DistributedDataParallel) is removed."""
        if not os.path.isfile(path):
            raise SystemExit(f'error: {path!r}: no such checkpoint file')
        try:
            with open(path, 'rb') as f:
                head = f.read(9)
            if len(head) == 9 and head[8:9] == b'{':  # safetensors: an 8-byte header length, then the JSON header
                from safetensors.torch import load_file
                state = load_file(path, device=str(device))
            else:
                state = torch.load(path, map_location=device, weights_only=True)
        except Exception as e:
            raise SystemExit(f'error: cannot read the checkpoint {path!r}: {e}')
        if isinstance(state, dict):
            state = next((state[k] for k in NESTED_KEYS if isinstance(state.get(k), dict)), state)
        tensors = OrderedDict((k, v) for k, v in state.items() if isinstance(v, torch.Tensor)) \
            if isinstance(state, dict) else {}
        if not tensors:
            raise SystemExit(f'error: {path!r} holds no state dict (a dict of tensors, or one under '
                             f'{"/".join(NESTED_KEYS)})')
        if any(k.startswith('module.') for k in tensors):
            tensors = OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in tensors.items())
        return tensors


    def load_weights(model, path, device, label, architecture, state=None):
        """Loads the checkpoint `path` (`state` when it was read already, else `read_state_dict`) into `model` strict
        (`load_state_dict(strict=True)`); `label` and `architecture` name them in the error."""
        state = read_state_dict(path, device) if state is None else state
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise SystemExit(f'error: the {label} checkpoint {path!r} does not fit the recipe\'s {architecture}: {e}')


    def fitted_config(config, state=None, facts=None):
        """`config` with the input channels and classes (and an MLP's input size) of the checkpoint `state` (its first
        layer's inputs, its classifier's outputs) or of the data `facts`."""
        config = dict(config)
        if facts is not None:
            c, h, w = facts['input_shape']
            config['channels'], config['classes'] = c, facts['classes']
            if 'input_size' in config:
                config['input_size'] = [h, w]
            return config
        params = [(n, p) for n, p in build_model(config).named_parameters() if p.dim() in (2, 4)]
        first, last = params[0], [(n, p) for n, p in params if p.dim() == 2][-1]
        if last[0] in state and state[last[0]].dim() == 2:
            config['classes'] = int(state[last[0]].shape[0])
        weight = state.get(first[0])
        if weight is not None and weight.dim() == first[1].dim():
            if weight.dim() == 4:
                config['channels'] = int(weight.shape[1])
            elif 'input_size' in config and weight.shape[1] % (config['input_size'][0] * config['input_size'][1]) == 0:
                config['channels'] = int(weight.shape[1]) // (config['input_size'][0] * config['input_size'][1])
        return config


    def check_fits(label, config, facts, advice):
        """Stops with a message naming what differs when the network `config` cannot take the data of `facts`."""
        c, h, w = facts['input_shape']
        problems = []
        if config['channels'] != c:
            problems.append(f'{config["channels"]} input channel(s) where the data has {c}')
        if config['classes'] != facts['classes']:
            problems.append(f'{config["classes"]} classes where the data has {facts["classes"]}')
        if 'input_size' in config and list(config['input_size']) != [h, w]:
            problems.append(f'inputs of {config["input_size"][0]}x{config["input_size"][1]} pixels where the data has '
                            f'{h}x{w}')
        if problems:
            raise SystemExit(f'error: the {label} has ' + ' and '.join(problems) + f': {advice}')


    def check_output(ctx, paths):
        """Before any training, rank 0 checks that the files `paths` can be written (a file name in an existing folder
        that takes a new file); every process stops when one cannot."""
        problem = None
        if ctx.rank == 0:
            for path in paths:
                folder = os.path.dirname(os.path.abspath(path))
                if path.endswith(os.sep) or os.path.isdir(path):
                    example = os.path.join(path, 'student.safetensors')
                    problem = f'--out {path!r} is a folder: give a file name, e.g. {example!r}'
                elif not os.path.isdir(folder):
                    problem = f'--out {path!r}: the folder {folder!r} does not exist'
                else:
                    try:
                        fd, probe = tempfile.mkstemp(prefix='.sskd-write-test-', dir=folder)
                        os.close(fd)
                        os.remove(probe)
                    except OSError as e:
                        problem = f'--out {path!r}: cannot write in the folder {folder!r}: {e.strerror or e}'
                if problem:
                    break
        if ctx.mean(1.0 if problem else 0.0) > 0:
            raise SystemExit(f'error: {problem}' if problem else 1)


    def train_student(ctx, name, spec, runs, teacher, teacher_ranges, splits, facts, out):
        """The runs of one student, in order; returns the trained model."""
        torch.manual_seed(ctx.args.seed)
        model = build_model(spec['config']).to(ctx.device)
        if ctx.args.init and name == 'student':
            load_weights(model, ctx.args.init, ctx.device, 'student (--init)', spec['architecture'])
        if ctx.args.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
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
                    if ctx.args.sync_bn:
                        adapter = nn.SyncBatchNorm.convert_sync_batchnorm(adapter)
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
                            '(with --root), an .npz file or an ImageFolder directory (default: the session\'s); '
                            'data of '
                            'another channel count or class count needs a --teacher trained on it')
        parser.add_argument('--root', help='folder of the data set\'s files or torchvision\'s root (fashion-mnist: '
                            f'{DEFAULT_ROOTS["fashion-mnist"]} by default, as in sskd)')
        parser.add_argument('--limit', type=int, help='class-balanced subset of this many train (and test) images')
        parser.add_argument('--val', type=int, help='images held out of train for validation (class-balanced)')
        parser.add_argument('--normalize', choices=['session', 'computed', 'none'],
                            help='the session\'s mean/std, computed on the full train split, or none (pixels / 255)')
        parser.add_argument('--augment', type=int, help='random-crop padding in pixels (0: none; default: the '
                            'session\'s)')
        parser.add_argument('--flip', action=argparse.BooleanOptionalAction, default=None,
                            help='random horizontal flips (default: the session\'s)')
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
        parser.add_argument('--sync-bn', action='store_true', help='BatchNorm statistics over all processes '
                            '(SyncBatchNorm, GPUs only; default: each process normalises with its own batch)')
        parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto', help='device (default: auto)')
        parser.add_argument('--threads', type=int, help='torch threads per process')
        parser.add_argument('--log-every', type=int, help='log the mean loss every this many steps (default: 10 lines '
                            'per run)')
        args = parser.parse_args()
        ctx = Context(args)
        if args.sync_bn and ctx.device.type != 'cuda':
            raise SystemExit('error: --sync-bn needs GPUs (PyTorch\'s SyncBatchNorm does not run on the CPU)')
        outs = [args.out] + ([os.path.splitext(args.out)[0] + f'-{b["name"]}.safetensors' for b in RECIPE['baselines']]
                             if args.baselines else [])
        check_output(ctx, outs)
        splits_and_facts = load_data(args)
        splits, facts = splits_and_facts[:3], splits_and_facts[3]
        labels = torch.cat([s[1] for s in splits])
        facts['classes'] = max(len(facts['class_names']), int(labels.max()) + 1 if len(labels) else 0)
        mean, std = torch.tensor(facts['mean']), torch.tensor(facts['std'])
        ctx.black = (-mean / std).view(1, -1, 1, 1).float()
        counts = ', '.join(f'{len(s[1])} {n}' for s, n in zip(splits, ('train', 'val', 'test')))
        ctx.log(f'data {facts["dataset"]}: {counts}, '
                f'{facts["input_shape"]}, normalize {facts["normalize"]} mean {facts["mean"]} std {facts["std"]}')
        teacher_spec = dict(RECIPE['teacher'])
        state = read_state_dict(args.teacher, ctx.device)
        teacher_spec['config'] = fitted_config(teacher_spec['config'], state=state)
        check_fits(f'teacher {args.teacher!r}', teacher_spec['config'], facts,
                   'give --teacher a checkpoint trained on data of this shape (or --data of the teacher\'s)')
        teacher = build_model(teacher_spec['config']).to(ctx.device)
        load_weights(teacher, args.teacher, ctx.device, 'teacher', teacher_spec['architecture'], state)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        teacher_ranges, _ = teacher.stage_ranges(teacher_spec['stages'])
        if ctx.rank == 0:
            top1, _ = evaluate(ctx, teacher, splits[2])
            ctx.log(f'teacher {teacher_spec["architecture"]} from {args.teacher}: test top-1 {top1:.2f}%')
        ctx.barrier()
        student_spec = dict(RECIPE['student'], config=fitted_config(RECIPE['student']['config'], facts=facts))
        if student_spec['config'] != RECIPE['student']['config']:
            ctx.log(f'student {student_spec["architecture"]}: {facts["input_shape"][0]} channel(s), '
                    f'{facts["classes"]} classes, as the data (the recipe\'s: '
                    f'{RECIPE["student"]["config"]["channels"]}, {RECIPE["student"]["config"]["classes"]})')
        model, frozen = train_student(ctx, 'student', student_spec, student_spec['runs'], teacher, teacher_ranges,
                                      splits, facts, args.out)
        if ctx.rank == 0:
            top1, _ = evaluate(ctx, model, splits[2])
            save_student(ctx, model, student_spec, frozen, facts, args.out, top1)
            ctx.log(f'student {student_spec["architecture"]}: test top-1 {top1:.2f}%, wrote {args.out}')
        ctx.barrier()
        if args.baselines:
            for baseline, out in zip(RECIPE['baselines'], outs[1:]):
                baseline = dict(baseline, config=fitted_config(baseline['config'], facts=facts))
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
