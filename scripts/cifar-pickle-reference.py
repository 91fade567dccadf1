#!/usr/bin/env python3
"""Writes Tests/DatasetsTests/PickleFixtures/NAME.pkl: pickles CPython and NumPy wrote, for CIFARPythonTests.

    .venv/bin/python scripts/cifar-pickle-reference.py

Tests/DatasetsTests/CIFARPickleReference.swift names each file and says what it holds (the names and comments
below); its header records the CPython and NumPy versions that wrote the files in the repository.

Needs NumPy (written with CPython 3.11 and NumPy 2.4). Protocol 2 is the CIFAR python version's protocol
(Python 3 spells bytes there as _codecs.encode(str, 'latin1')); protocols 3 and 4 are what a file re-pickled by
Python 3 looks like; protocol 5 (pickle.HIGHEST_PROTOCOL, Python 3.14's default) writes arrays as
numpy._core.numeric._frombuffer(PickleBuffer, dtype, shape, order) with the buffer in band (BYTEARRAY8 when the
array is writable, SHORT_BINBYTES/BINBYTES when it is read-only). NumPy 1.x names numpy.core.numeric instead; the
script writes that spelling too by renaming the function's module, which pickle looks up by __module__.
"""
import os
import pickle
import sys
import warnings

import numpy as np

PROTOCOLS = (2, 3, 4, 5)


def pixels(n):
    """n CIFAR images, pixel p of image i = (i * 101 + p * 7) % 256."""
    i, p = np.meshgrid(np.arange(n), np.arange(3072), indexing="ij")
    return ((i * 101 + p * 7) % 256).astype(np.uint8)


def batch():
    """A 2-image CIFAR batch: labels as a list, fine_labels as an int64 array."""
    return {"batch_label": "testing batch 1 of 1", "data": pixels(2), "labels": [3, 9],
            "fine_labels": np.array([42, 7], dtype=np.int64)}


META = {"num_cases_per_batch": 10000,
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "num_vis": 3072}


def small():
    """Arrays in the other layouts protocol 5 writes: read-only (bytes, short and long), Fortran order, 3-D."""
    return {"readonly": np.frombuffer(bytes(range(1, 7)), dtype=np.uint8).reshape(2, 3),
            "readonly_long": np.frombuffer(bytes(i % 256 for i in range(300)), dtype=np.uint8).reshape(3, 100),
            "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
            "fortran3": np.asfortranarray(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
            "float": np.array([0.5, -2.0], dtype=np.float32)}


OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "DatasetsTests",
                   "PickleFixtures")


def swift(name, data, comment):
    """Writes PickleFixtures/NAME.pkl; `comment` is what CIFARPickleReference.swift says of it."""
    with open(os.path.join(OUT, name + ".pkl"), "wb") as f:
        f.write(data)
    return name


os.makedirs(OUT, exist_ok=True)
print(f"CPython {sys.version.split()[0]}, NumPy {np.__version__}")
out = []
out.append(swift("bytesKeys2", pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 0]},
                                            protocol=2),
                 "`{b'data': np.arange(6, dtype=np.uint8).reshape(2, 3), b'labels': [1, 0]}`, protocol 2."))
out.append(swift("fineLabels4", pickle.dumps({"data": np.array([[1, 2], [3, 250]], dtype=np.uint8),
                                             "fine_labels": np.array([7, 300], dtype=np.int64)}, protocol=4),
                 "`{'data': np.array([[1, 2], [3, 250]], uint8), 'fine_labels': np.array([7, 300], int64)}`,"
                 " protocol 4."))
for p in PROTOCOLS:
    out.append(swift(f"batch{p}", pickle.dumps(batch(), protocol=p),
                     f"`batch()` (2 images, list `labels` [3, 9], int64 `fine_labels` [42, 7]), protocol {p}."))
for p in PROTOCOLS:
    out.append(swift(f"meta{p}", pickle.dumps(META, protocol=p), f"`batches.meta`, protocol {p}."))
out.append(swift("small2", pickle.dumps(small(), protocol=2), "`small()`, protocol 2 (Fortran order: is_fortran)."))
out.append(swift("small5", pickle.dumps(small(), protocol=5), "`small()`, protocol 5."))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)       # numpy.core is NumPy 2's deprecated alias
    np._core.numeric._frombuffer.__module__ = "numpy.core.numeric"
    out.append(swift("numpy1Batch5", pickle.dumps(batch(), protocol=5),
                     "`batch()`, protocol 5, as NumPy 1.x names it: `numpy.core.numeric._frombuffer`."))
    np._core.numeric._frombuffer.__module__ = "numpy._core.numeric"
print(f"wrote {len(out)} pickles to {OUT}")
