#!/usr/bin/env python3
"""Write the checkpoint fixtures for Tests/NetworksTests (run: .venv/bin/python scripts/make-checkpoint-fixtures.py).

Every file holds one small state dict with fixed values (a conv weight, BatchNorm running stats and the int64
num_batches_tracked, an fc layer), saved the ways sskd must read: safetensors, torch.save of a bare dict, the
RepDistiller/mdistiller {'model': sd, 'epoch', 'best_acc', 'optimizer'} layout, {'state_dict': sd}, a DataParallel
`module.` prefix, half/bfloat16/double copies, pickle protocol 4, non-contiguous views, legacy (pre-1.6, non-zip)
copies of several of these (`legacy*.pth`, `torch.save(..., _use_new_zipfile_serialization=False)`) with hostile
variants (`legacy_bad_*.pth`), and a malicious zip whose data.pkl calls os.system. expected.json lists, per fixture,
each tensor's dtype, shape and values (as float32, the way sskd loads them) and the metadata sskd should report.
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NetworksTests", "Fixtures", "checkpoints")


class Tiny(nn.Module):
    """conv1 -> bn1 -> fc, named like the CIFAR ResNets of RepDistiller."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)


def tiny_model():
    torch.manual_seed(0)
    model = Tiny()
    with torch.no_grad():
        model.conv1.weight.copy_(torch.linspace(-1.0, 1.0, 108).reshape(4, 3, 3, 3) * 0.37)
        model.bn1.weight.copy_(torch.tensor([1.0, 0.5, -0.25, 2.0]))
        model.bn1.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4]))
        model.bn1.running_mean.copy_(torch.tensor([0.01, 0.02, -0.03, 0.04]))
        model.bn1.running_var.copy_(torch.tensor([1.5, 0.75, 1.125, 0.875]))
        model.bn1.num_batches_tracked.fill_(1234)
        model.fc.weight.copy_(torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7 - 0.8)
        model.fc.bias.copy_(torch.tensor([0.5, -1.5, 3.0e-3]))
    return model


DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
         torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
         torch.bool: "BOOL"}


def describe(sd, metadata=None):
    """Expected entries (order kept) and metadata, as the Swift loader should produce them."""
    return {"entries": [{"name": k, "dtype": DTYPE[v.dtype], "shape": list(v.shape),
                         "values": v.detach().to(torch.float32).flatten().tolist()} for k, v in sd.items()],
            "metadata": metadata or {}}


def in_file_order(sd, safetensors_path):
    """`sd` reordered as the tensors lie in a safetensors file (save_file sorts them by dtype size, then name)."""
    with open(safetensors_path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    header.pop("__metadata__", None)
    return collections.OrderedDict((k, sd[k]) for k in sorted(header, key=lambda k: header[k]["data_offsets"][0]))


class LegacyParts:
    """A legacy torch.save file split into its parts (torch/serialization.py `_legacy_save`): the pickles of the
    magic number, protocol version and sys_info, the main pickle, the pickled storage key list, and the storage
    records (key -> int64 count + raw bytes), so that hostile variants can be assembled from a real file."""

    def __init__(self, data):
        f = io.BytesIO(data)
        self.storages = {}  # key -> (storage type name, numel)
        parts = self

        class Reader(pickle.Unpickler):
            def find_class(self, module, name):
                if module == "torch._utils":
                    return lambda *args: None
                return super().find_class(module, name)

            def persistent_load(self, pid):
                parts.storages[pid[2]] = (pid[1].__name__, pid[4])
                return None

        starts = [0]
        for _ in range(3):
            pickle.load(f)
            starts.append(f.tell())
        Reader(f).load()
        starts.append(f.tell())
        self.keys = pickle.load(f)
        starts.append(f.tell())
        self.magic, self.version, self.sys_info, self.main, self.key_list = (
            data[a:b] for a, b in zip(starts, starts[1:]))
        self.records = collections.OrderedDict()
        for key in self.keys:
            size = torch._utils._element_size(getattr(torch, self.storages[key][0]).dtype)
            count = struct.unpack("<q", f.read(8))[0]
            self.records[key] = struct.pack("<q", count) + f.read(count * size)
        assert f.read() == b""

    def assemble(self, sys_info=None, main=None, keys=None, records=None):
        keys = self.keys if keys is None else keys
        return (self.magic + self.version + (sys_info or self.sys_info) + (main or self.main)
                + pickle.dumps(keys, protocol=2)
                + b"".join(records if records is not None else [self.records[k] for k in keys]))


def write_legacy_hostile(path, legacy):
    """Hostile variants of the legacy file `legacy`, each refused with a clear CheckpointError."""
    parts = LegacyParts(legacy)
    first = parts.keys[0]
    variants = {
        "truncated": legacy[:-10],                                      # the last storage's data cut short
        # The first record's count says 2^40 elements (its persistent id says fewer): far more than the file holds.
        "huge_count": parts.assemble(records=[struct.pack("<q", 1 << 40) + parts.records[first][8:]]
                                     + [parts.records[k] for k in parts.keys[1:]]),
        "duplicate_key": parts.assemble(keys=parts.keys + [first]),       # a storage written twice
        "unwritten_key": parts.assemble(keys=parts.keys[:-1]),           # referenced, never written
        "unreferenced_key": parts.assemble(keys=parts.keys + ["999"],   # written, never referenced
                                           records=[parts.records[k] for k in parts.keys]
                                           + [struct.pack("<q", 1) + bytes(4)]),
        "big_endian": parts.assemble(sys_info=pickle.dumps(
            {"protocol_version": 1001, "little_endian": False, "type_sizes": {"short": 2, "int": 4, "long": 8}},
            protocol=2)),
        # An unknown storage class whose name holds an ESC (escaped in the message).
        "unknown_type": parts.assemble(main=parts.main.replace(b"FloatStorage", b"Fl\x1batStorage")),
        "trailing": legacy + b"\0" * 4,                                  # bytes after the last storage
    }
    for name, data in variants.items():
        with open(path(f"legacy_bad_{name}.pth"), "wb") as f:
            f.write(data)



def write_legacy_storage_view(name):
    """A legacy file whose tensor views a storage view, as PyTorch < 0.4 wrote them (`view_metadata` =
    (view_key, offset, size) in the persistent id): root storage '0' = [0, 1, 2, 3, 4, 5], view '1' = its elements
    2..4, and the tensor `v` = 2 elements of the view from offset 1, i.e. [3, 4]."""
    class View:
        pass

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (View(), 1, (2,), (1,), False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 6, ("1", 2, 3)) if isinstance(obj, View) else None

    main = io.BytesIO()
    Pickler(main, protocol=2).dump({"v": Tensor()})
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}
    with open(name, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            pickle.dump(obj, f, protocol=2)
        f.write(main.getvalue())
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q6f", 6, 0, 1, 2, 3, 4, 5))
    assert torch.load(name, weights_only=False)["v"].tolist() == [3.0, 4.0]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    expected = {}
    model = tiny_model()
    sd = model.state_dict()

    def path(name):
        return os.path.join(OUT, name)

    meta = {"arch": "tiny", "dataset": "cifar10", "top1": "94.1", "seed": "0"}
    save_file(dict(sd), path("tiny.safetensors"), metadata=meta)
    expected["tiny.safetensors"] = describe(in_file_order(sd, path("tiny.safetensors")), meta)

    torch.save(sd, path("tiny_bare.pth"))
    expected["tiny_bare.pth"] = describe(sd)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss = model.fc(model.bn1(model.conv1(torch.ones(2, 3, 4, 4))).mean((2, 3))).sum()
    loss.backward()
    optimizer.step()
    model = tiny_model()  # the step changed the weights; keep the fixed values
    sd = model.state_dict()
    torch.save({"epoch": 240, "model": sd, "best_acc": 94.1, "optimizer": optimizer.state_dict()},
               path("tiny_repdistiller.pth"))
    expected["tiny_repdistiller.pth"] = describe(sd, {"epoch": "240", "best_acc": "94.1"})

    torch.save({"state_dict": sd, "arch": "tiny", "best_acc1": torch.tensor(71.5)}, path("tiny_state_dict.pth"))
    expected["tiny_state_dict.pth"] = describe(sd, {"arch": "tiny", "best_acc1": "71.5"})

    torch.save(nn.DataParallel(model).state_dict(), path("tiny_dataparallel.pth"))
    expected["tiny_dataparallel.pth"] = describe(sd)  # keys without `module.`

    params = collections.OrderedDict(model.named_parameters())  # nn.Parameter pickles via _rebuild_parameter
    torch.save(params, path("tiny_parameters.pth"))
    expected["tiny_parameters.pth"] = describe(params)

    torch.save(sd, path("tiny_proto4.pth"), pickle_protocol=4)
    expected["tiny_proto4.pth"] = describe(sd)

    for dtype, tag in [(torch.float16, "f16"), (torch.bfloat16, "bf16"), (torch.float64, "f64")]:
        low = tiny_model().to(dtype).state_dict()  # num_batches_tracked stays int64
        save_file(dict(low), path(f"tiny_{tag}.safetensors"))
        expected[f"tiny_{tag}.safetensors"] = describe(in_file_order(low, path(f"tiny_{tag}.safetensors")))
        torch.save(low, path(f"tiny_{tag}.pth"))
        expected[f"tiny_{tag}.pth"] = describe(low)

    ints = collections.OrderedDict([
        ("i32", torch.tensor([-7, 0, 2147483647], dtype=torch.int32)),
        ("i16", torch.tensor([-300, 300], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255, 17], dtype=torch.uint8)),
        ("mask", torch.tensor([[True, False], [False, True]])),
        ("step", torch.tensor(9, dtype=torch.int64)),
    ])
    save_file(dict(ints), path("dtypes.safetensors"))
    expected["dtypes.safetensors"] = describe(in_file_order(ints, path("dtypes.safetensors")))
    torch.save(ints, path("dtypes.pth"))
    expected["dtypes.pth"] = describe(ints)

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 4
    views = collections.OrderedDict([
        ("transposed", base.t()),            # strides (1, 6)
        ("sliced", base[1:, ::2]),           # storage offset 6, strides (6, 2), shares base's storage
        ("expanded", torch.tensor([1.0, 2.0]).reshape(2, 1).expand(2, 3)),  # stride 0
        ("base", base),
    ])
    torch.save(views, path("noncontiguous.pth"))
    expected["noncontiguous.pth"] = describe(views)

    # The pre-1.6 (non-zip) torch.save format, as RepDistiller's published teachers are: the same tensors as the
    # zip fixtures, so that the tests can compare them bit for bit.
    def legacy(obj, name, **kwargs):
        torch.save(obj, path(name), _use_new_zipfile_serialization=False, **kwargs)

    legacy(sd, "legacy.pth")
    expected["legacy.pth"] = describe(sd)
    legacy({"epoch": 240, "model": sd, "accuracy": torch.tensor(93.75), "optimizer": optimizer.state_dict()},
           "legacy_repdistiller.pth")                                   # RepDistiller's ckpt_epoch_240.pth layout
    expected["legacy_repdistiller.pth"] = describe(sd, {"epoch": "240", "accuracy": "93.75"})
    legacy(sd, "legacy_proto4.pth", pickle_protocol=4)
    expected["legacy_proto4.pth"] = describe(sd)
    legacy(ints, "legacy_dtypes.pth")
    expected["legacy_dtypes.pth"] = describe(ints)
    legacy(views, "legacy_noncontiguous.pth")
    expected["legacy_noncontiguous.pth"] = describe(views)
    f64 = tiny_model().to(torch.float64).state_dict()
    legacy(f64, "legacy_f64.pth")
    expected["legacy_f64.pth"] = describe(f64)
    with open(path("legacy.pth"), "rb") as f:
        write_legacy_hostile(path, f.read())
    write_legacy_storage_view(path("legacy_storage_view.pth"))
    expected["legacy_storage_view.pth"] = describe({"v": torch.tensor([3.0, 4.0])})

    # A torch.save-shaped zip whose pickle calls os.system("echo pwned"): must be refused, never run.
    payload = b"\x80\x02cos\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(path("malicious.pth"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("malicious/data.pkl", payload)
        z.writestr("malicious/byteorder", "little")
        z.writestr("malicious/version", "3\n")

    # Files sskd must refuse with a clear error: a whole pickled nn.Module (its class is not allowed), a complex
    # tensor (no Float32 conversion), and a hand-written pickle whose view reaches past its 4-element storage.
    torch.save(tiny_model(), path("whole_model.pth"))
    torch.save({"z": torch.zeros(2, dtype=torch.complex64)}, path("complex.pth"))
    torch.save({"epoch": 1, "model": {}}, path("no_tensors.pth"))
    bad_view = (b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
                b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x02K\x03\x85K\x01\x85\x89"
                b"ccollections\nOrderedDict\n)RtRu.")
    with zipfile.ZipFile(path("bad_view.pth"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("bad_view/data.pkl", bad_view)
        z.writestr("bad_view/data/0", bytes(16))

    # A deflated copy of tiny_bare.pth (torch writes stored members; other zip tools may compress).
    with zipfile.ZipFile(path("tiny_bare.pth")) as src, \
            zipfile.ZipFile(path("tiny_deflated.pth"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    expected["tiny_deflated.pth"] = describe(sd)

    with open(path("expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
