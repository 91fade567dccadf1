// The Python text of `export MODEL to="FILE.py"`.
// Python source kept as one template: edit it here, as Python; `PythonTemplate.filled` puts the values in.

extension PythonTemplate {
    /// `pythonModelFile` as a template.
    static let modelFile = PythonTemplate(text: pythonModelFile)
}

/// An exported model file. Placeholders: `VERSION`, `FILE`, `ARCH`, `ARCH_LITERAL`, `CONFIG`, `STAGES`, `MEAN`,
/// `STD`, `INPUT_SHAPE`, `CLASS_NAMES` (Python literals) and `LIBRARY` (`modelLibrary`).
let pythonModelFile = #"""
    #!/usr/bin/env python3
    """{{ARCH}} exported by sskd {{VERSION}}: a self-contained PyTorch module (torch and safetensors only).

    The parameter names equal those of sskd's safetensors checkpoints, so `load(PATH)` builds the model and loads a
    checkpoint written by sskd's `save` with `load_state_dict(strict=True)`. STAGES are the split points of the model's
    stages as sskd split them (the stem belongs to the first stage); `stage_features` gives the feature map after each
    one, the maps SSKD's student mimics. Inputs are images scaled to [0, 1] and then normalised per channel with
    NORMALIZE_MEAN and NORMALIZE_STD (`normalize`), as the model was trained.

        python {{FILE}} CHECKPOINT.safetensors    # loads it, prints the parameter count and the stages' shapes
    """
    import argparse
    from collections import OrderedDict

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    ARCHITECTURE = {{ARCH_LITERAL}}
    CONFIG = {{CONFIG}}
    STAGES = {{STAGES}}
    NORMALIZE_MEAN = {{MEAN}}
    NORMALIZE_STD = {{STD}}
    INPUT_SHAPE = {{INPUT_SHAPE}}
    CLASS_NAMES = {{CLASS_NAMES}}

    {{LIBRARY}}

    def build():
        """The architecture with fresh weights, initialised as sskd initialises it (build_model)."""
        return build_model(CONFIG)


    def normalize(images):
        """Images [N, C, H, W] in [0, 1] (float) or 0..255 (uint8) → the network's input."""
        if NORMALIZE_MEAN is None:
            raise ValueError(f'{ARCHITECTURE}: the normalisation was not recorded; normalise the images as in training')
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        mean = torch.tensor(NORMALIZE_MEAN, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(NORMALIZE_STD, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


    def stage_features(model, x):
        """The feature map after each stage of STAGES for the (normalised) input x."""
        ranges, _ = model.stage_ranges(STAGES)
        features = []
        for start, end in ranges:
            x = model.run_units(x, start, end)
            features.append(x)
        return features


    def load(path, map_location='cpu'):
        """The model with the weights of the safetensors checkpoint `path` (strict: every name and shape must match),
        in eval mode."""
        from safetensors.torch import load_file
        model = build()
        model.load_state_dict(load_file(path, device=str(map_location)), strict=True)
        return model.eval()


    if __name__ == '__main__':
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument('checkpoint', nargs='?', help='safetensors file written by sskd (default: fresh weights)')
        args = parser.parse_args()
        model = load(args.checkpoint) if args.checkpoint else build().eval()
        count = sum(p.numel() for p in model.parameters())
        print(f'{ARCHITECTURE}: {count:,} parameters, input {INPUT_SHAPE}, {CONFIG["classes"]} classes')
        with torch.no_grad():
            x = torch.zeros(2, *INPUT_SHAPE)
            for name, f in zip(STAGES, stage_features(model, x)):
                print(f'  stage {name}: {list(f.shape)}')
            print(f'  logits: {list(model(x).shape)}')
    """#
