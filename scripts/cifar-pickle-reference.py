#!/usr/bin/env python3
"""Prints the hex of the two pickles in Tests/DatasetsTests/CIFARPythonTests.swift (testPicklesWrittenByCPython).

Needs NumPy (written with CPython 3.11 and NumPy 2.4). Protocol 2 is the CIFAR python version's protocol
(Python 3 spells bytes there as _codecs.encode(str, 'latin1')); protocol 4 is what a re-pickled file looks like.
"""
import pickle

import numpy as np

print(pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 0]}, protocol=2).hex())
print(pickle.dumps({"data": np.array([[1, 2], [3, 250]], dtype=np.uint8),
                    "fine_labels": np.array([7, 300], dtype=np.int64)}, protocol=4).hex())
