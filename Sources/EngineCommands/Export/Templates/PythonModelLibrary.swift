// The PyTorch definitions of every zoo architecture, shared by exported model files and session scripts.
// Python source kept as one template: edit it here, as Python; `PythonTemplate.filled` puts the values in.

extension PythonTemplate {
    /// `pythonModelLibrary` as a template.
    static let modelLibrary = PythonTemplate(text: pythonModelLibrary)
}

/// The zoo in PyTorch: the residual blocks, `StagedModel` (sskd's units, stages and head) and one builder per
/// family (`cifar_resnet`, `torchvision_resnet`, `wide_resnet`, `vgg`, `mlp`, `cnn`), with the parameter names of
/// sskd's checkpoints (`Sources/Networks/Zoo*.swift`). No placeholders.
let pythonModelLibrary = #"""
    class BasicBlock(nn.Module):
        """ResNet basic block (He et al. 2016; torchvision and RepDistiller `resnet.py` names):
        relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); `downsample` = 1x1 conv + BN when the shape changes."""

        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))


    class Bottleneck(nn.Module):
        """torchvision's ResNet v1.5 bottleneck: 1x1, 3x3 (stride), 1x1 to 4 * planes, each with BN; `downsample`
        = 1x1 conv + BN when the shape changes."""

        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.downsample = None
            if stride != 1 or inplanes != planes * 4:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))


    class WideBlock(nn.Module):
        """Pre-activation wide-ResNet block (RepDistiller `wrn.py` BasicBlock, no dropout); `convShortcut` (1x1) when
        the widths differ, applied to relu(bn1(x))."""

        def __init__(self, in_planes, out_planes, stride):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(in_planes)
            self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_planes)
            self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
            self.convShortcut = None
            if in_planes != out_planes:
                self.convShortcut = nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)

        def forward(self, x):
            a = F.relu(self.bn1(x))
            out = self.conv2(F.relu(self.bn2(self.conv1(a))))
            return out + (x if self.convShortcut is None else self.convShortcut(a))


    class StagedModel(nn.Module):
        """A network as sskd sees it: top-level modules run in order; opening every nn.Sequential gives the units
        (`conv1`, `layer1.0`, ..., `fc`); a stage is a run of units ending at a split point (the stem belongs to the
        first stage) and the head is what follows the last stage. `attached` names parameter-free modules that stay
        with the module before them (VGG's ReLU after each block)."""

        def __init__(self, modules, head, attached=()):
            super().__init__()
            for name, module in modules:
                self.add_module(name, module)
            self.head_modules = list(head)
            self.attached = set(attached)

        def forward(self, x):
            for module in self._modules.values():
                x = module(x)
            return x

        def units(self):
            """(path, module, attached) of every unit in execution order."""
            def open_(path, module, attached):
                if isinstance(module, nn.Sequential):
                    for name, child in module.named_children():
                        yield from open_(f'{path}.{name}', child, attached)
                else:
                    yield path, module, attached
            for name, module in self.named_children():
                yield from open_(name, module, name in self.attached)

        def stage_ranges(self, stages):
            """[(start, end)] unit index ranges of the stages ending at the split points `stages` (sskd's `split`), then
            the head's range."""
            units = list(self.units())
            head = next(i for i, (p, _, _) in enumerate(units) if p.split('.')[0] in self.head_modules)
            ranges, start = [], 0
            for name in stages:
                last = max(i for i, (p, _, _) in enumerate(units) if p == name or p.startswith(name + '.'))
                end = last + 1
                while end < len(units) and units[end][2]:
                    end += 1
                ranges.append((start, end))
                start = end
            if start < head:
                ranges.append((start, head))
            return ranges, (head, len(units))

        def run_units(self, x, start, end):
            """x through units start..<end."""
            units = list(self.units())
            for _, module, _ in units[start:end]:
                x = module(x)
            return x


    def cifar_resnet(channels, classes, blocks, widths):
        """RepDistiller `resnet.py` ResNet (resnet8 ... resnet110: blocks (depth - 2) / 6, widths 16,16,32,64; resnet8x4
        and resnet32x4: 32,64,128,256), with global average pooling."""
        modules = [('conv1', nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)), ('bn1', nn.BatchNorm2d(widths[0])),
                   ('relu', nn.ReLU())]
        inplanes = widths[0]
        for s in range(1, 4):
            layer = []
            for i in range(blocks):
                layer.append(BasicBlock(inplanes, widths[s], 2 if i == 0 and s > 1 else 1))
                inplanes = widths[s]
            modules.append((f'layer{s}', nn.Sequential(*layer)))
        head = [('avgpool', nn.AdaptiveAvgPool2d(1)), ('flatten', nn.Flatten()), ('fc', nn.Linear(widths[3], classes))]
        return StagedModel(modules + head, [n for n, _ in head])


    def torchvision_resnet(channels, classes, blocks, bottleneck):
        """torchvision `resnet.py` ResNet (resnet18/34: BasicBlocks, resnet50: Bottlenecks)."""
        block, expansion = (Bottleneck, 4) if bottleneck else (BasicBlock, 1)
        modules = [('conv1', nn.Conv2d(channels, 64, 7, 2, 3, bias=False)), ('bn1', nn.BatchNorm2d(64)),
                   ('relu', nn.ReLU()), ('maxpool', nn.MaxPool2d(3, 2, 1))]
        inplanes = 64
        for s, count in enumerate(blocks):
            planes, layer = 64 << s, []
            for i in range(count):
                layer.append(block(inplanes, planes, 2 if i == 0 and s > 0 else 1))
                inplanes = planes * expansion
            modules.append((f'layer{s + 1}', nn.Sequential(*layer)))
        head = [('avgpool', nn.AdaptiveAvgPool2d(1)), ('flatten', nn.Flatten()), ('fc', nn.Linear(inplanes, classes))]
        return StagedModel(modules + head, [n for n, _ in head])


    def wide_resnet(channels, classes, blocks, widen):
        """RepDistiller `wrn.py` WideResNet (wrn-D-K: blocks (D - 4) / 6, widen factor K), global average pooling."""
        w = [16, 16 * widen, 32 * widen, 64 * widen]
        modules = [('conv1', nn.Conv2d(channels, 16, 3, 1, 1, bias=False))]
        for s in range(1, 4):
            layer = [WideBlock(w[s - 1] if i == 0 else w[s], w[s], 2 if i == 0 and s > 1 else 1) for i in range(blocks)]
            modules.append((f'block{s}', nn.Sequential(OrderedDict(layer=nn.Sequential(*layer)))))
        head = [('bn1', nn.BatchNorm2d(w[3])), ('relu', nn.ReLU()), ('avgpool', nn.AdaptiveAvgPool2d(1)),
                ('flatten', nn.Flatten()), ('fc', nn.Linear(w[3], classes))]
        return StagedModel(modules + head, [n for n, _ in head])


    def vgg(channels, classes, cfg):
        """RepDistiller `vgg.py` VGG with BatchNorm (vgg8 = vgg8_bn, ...): blocks block0..4 of conv3x3-BN-ReLU without
        the last ReLU (applied after the block, `reluK`), max-pooling before blocks 1-3, global average pooling."""
        modules, cin = [], channels
        for b, widths in enumerate(cfg):
            layers = []
            for v in widths:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                cin = v
            if 1 <= b <= 3:
                modules.append((f'pool{b - 1}', nn.MaxPool2d(2)))
            modules += [(f'block{b}', nn.Sequential(*layers[:-1])), (f'relu{b}', nn.ReLU())]
        head = [('pool4', nn.AdaptiveAvgPool2d(1)), ('flatten', nn.Flatten()), ('classifier', nn.Linear(cin, classes))]
        return StagedModel(modules + head, [n for n, _ in head], attached=[f'relu{b}' for b in range(len(cfg))])


    def mlp(channels, classes, widths, input_size):
        """sskd's teaching MLP: flatten, then `layerK` = Sequential(Linear, ReLU) per hidden width, then `fc`."""
        modules, features = [('flatten', nn.Flatten())], channels * input_size[0] * input_size[1]
        for k, w in enumerate(widths):
            modules.append((f'layer{k + 1}', nn.Sequential(nn.Linear(features, w), nn.ReLU())))
            features = w
        return StagedModel(modules + [('fc', nn.Linear(features, classes))], ['fc'])


    def cnn(channels, classes, widths):
        """sskd's teaching CNN: `layerK` = Sequential(Conv2d 3x3 without bias, BatchNorm2d, ReLU, MaxPool2d 2) per
        width, then global average pooling and `fc`."""
        modules, cin = [], channels
        for k, w in enumerate(widths):
            modules.append((f'layer{k + 1}', nn.Sequential(
                nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2))))
            cin = w
        head = [('avgpool', nn.AdaptiveAvgPool2d(1)), ('flatten', nn.Flatten()), ('fc', nn.Linear(cin, classes))]
        return StagedModel(modules + head, [n for n, _ in head])


    FAMILIES = {'cifar_resnet': cifar_resnet, 'torchvision_resnet': torchvision_resnet, 'wide_resnet': wide_resnet,
                'vgg': vgg, 'mlp': mlp, 'cnn': cnn}


    def build_model(config):
        """The network a config describes: {'family': ..., 'channels': C, 'classes': K, and the family's sizes},
        initialised as sskd initialises it (Sources/Networks/Layers/Conv2d.swift): every convolution kaiming-normal
        with fan_out and the ReLU gain and a zero bias (RepDistiller's and torchvision's ResNet init), linear layers
        and batch norms PyTorch's defaults."""
        kwargs = {k: v for k, v in config.items() if k != 'family'}
        model = FAMILIES[config['family']](**kwargs)
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model
    """#
