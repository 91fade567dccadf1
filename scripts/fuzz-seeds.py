#!/usr/bin/env python3
"""Writes the seed inputs of one libFuzzer target of Fuzz/ into a folder (scripts/fuzz calls it).

    python3 scripts/fuzz-seeds.py TARGET OUT      TARGET: parser safetensors pth idx cifar npy

Two kinds of seeds: valid small inputs (test fixtures, sessions/*.sskd, a Fashion-MNIST slice), from which
libFuzzer's mutations reach the readers' corners, and hostile structures that random mutation of small inputs
does not find (docs/reliability.md, "Fuzzing"): nesting chains (REDUCE of REDUCE, MARK inside MARK, nested lists,
script blocks and brackets), one large memoized key set again and again, opcode floods (EMPTY_LIST, DUP, APPEND),
decompression bombs (deflated zip members and gzip files of zeros), shapes whose products overflow or exceed the
data, and negative or huge lengths. Every seed is under 1 MiB, the -max_len scripts/fuzz uses.
"""
import glob
import gzip
import io
import os
import shutil
import struct
import sys
import zipfile

target, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def put(name, data):
    assert len(data) <= 1 << 20, (name, len(data))
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def split(a, b):
    """FuzzSupport.split: a 2-byte little-endian length of the first file, then both files."""
    return struct.pack("<H", min(len(a), 65535)) + a + b


def npy(descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join("%d, " % s for s in shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def zipped(members, method=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method, compresslevel=9) as z:
        for name, data in members:
            z.writestr(name, data)
    return buffer.getvalue()


# Pickle building blocks (protocol 2; the opcodes of Lib/pickle.py).
PROTO = b"\x80\x02"


def binput(i):
    return b"r" + struct.pack("<I", i)


def binget(i):
    return b"j" + struct.pack("<I", i)


def unicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def pickles():
    """Hostile pickles: (name, bytes of a data.pkl)."""
    n = 20000
    # REDUCE of REDUCE: each _rebuild_from_type_v2 takes the previous result as an argument.
    chain = [PROTO + b"ctorch._tensor\n_rebuild_from_type_v2\n" + binput(0) + b")" + binput(1)]
    chain += [b"(" + binget(0) + b"N" + binget(k - 1) + b"t" + binput(k) + b"0" for k in range(2, n)]
    yield "reduce-chain", b"".join(chain) + binget(0) + binget(n - 1) + b"R."
    yield "mark-nesting", PROTO + b"(" * 200000 + b"N" + b"t" * 200000 + b"."
    yield "list-nesting", PROTO + b"]" * 100000 + b"a" * 99999 + b"."
    yield "empty-list-flood", PROTO + b"]" * 600000 + b"."
    yield "dup-flood", PROTO + unicode("k" * 1000) + b"2" * 600000 + b"."
    yield "append-flood", PROTO + b"]" + b"Na" * 300000 + b"."
    key = 1 << 16
    yield "repeated-key", PROTO + b"}" + b"X" + struct.pack("<I", key) + b"k" * key + binput(1) + b"Ns" + \
        (binget(1) + b"Ns") * 100000 + b"."
    yield "negative-binstring", PROTO + b"T" + struct.pack("<i", -5) + b"."
    yield "huge-binunicode8", PROTO + b"\x8d" + struct.pack("<Q", 1 << 62) + b"."
    yield "memo-flood", PROTO + b"N" + b"\x94" * 300000 + b"."
    yield "codecs-encode", PROTO + b"c_codecs\nencode\n" + binput(0) + unicode("x" * 4096) + binput(1) + \
        unicode("latin1") + b"\x86R0" + (binget(0) + binget(1) + unicode("latin1") + b"\x86R0") * 1000 + b"N."


if target == "parser":
    for f in glob.glob("sessions/**/*.sskd", recursive=True) + glob.glob("Tests/InterpreterTests/*Golden/*.sskd"):
        shutil.copy(f, os.path.join(out, f.replace("/", "_")))
    # Under 64 KiB, the parser target's -max_len: the instrumented parser takes about 10 ms a KB.
    put("brackets", b"x = " + b"[" * 20000 + b"1" + b"]" * 20000 + b"\n")
    put("parens", b"x = " + b"(" * 20000 + b"1" + b")" * 20000 + b"\n")
    put("blocks", b"for i in 1..2 {\n" * 2000 + b"print i\n" + b"}\n" * 2000)
    put("unary", b"x = " + b"-" * 60000 + b"1\n")
    put("long-string", b'x = "' + b"s" * 60000 + b'"\n')
    put("long-list", b"x = [" + b"1, " * 20000 + b"1]\n")
    put("nested-lists", b"l = [1]\nfor i in 1..100000 { l = [l] }\nl = 0\n")
    put("doubling-lists", b"l = [1]\nfor i in 1..60 { l = [l, l] }\nprint l\n")
elif target == "safetensors":
    for f in glob.glob("Tests/NetworksTests/Fixtures/checkpoints/*.safetensors"):
        shutil.copy(f, out)

    def safetensors(header, data=b""):
        h = header.encode()
        return struct.pack("<Q", len(h)) + h + data
    put("overflow-shape", safetensors('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'))
    put("huge-u8", safetensors('{"a":{"dtype":"U8","shape":[1073741825],"data_offsets":[0,1073741825]}}'))
    put("many-tensors", safetensors("{" + ",".join(
        '"t%d":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}' % (i, 4 * i, 4 * i + 4) for i in range(12000))
        + "}", bytes(48000)))
    put("deep-json", safetensors("[" * 100000 + "]" * 100000))
    put("huge-header-length", struct.pack("<Q", 1 << 62) + b"{}")
elif target == "pth":
    for f in glob.glob("Tests/NetworksTests/Fixtures/checkpoints/*.pth"):
        shutil.copy(f, out)
    for name, data in pickles():
        put(name + ".pth", zipped([("archive/data.pkl", data)]))
    put("storage-bomb.pth", zipped(
        [("archive/data.pkl", PROTO + b"}."), *((f"archive/data/{i}", bytes(1 << 24)) for i in range(8))]))
    put("overlapping-members.pth", zipped([("archive/data.pkl", PROTO + b"}.")] +
                                          [(f"archive/data/{i}", bytes(1 << 20)) for i in range(64)]))
elif target == "idx":
    root = "/usr/share/datasets/fashion-mnist"
    try:
        images = gzip.open(root + "/t10k-images-idx3-ubyte.gz").read(16 + 4 * 784)[16:]
        labels = gzip.open(root + "/t10k-labels-idx1-ubyte.gz").read(8 + 4)[8:]
    except OSError:  # no Fashion-MNIST package: a synthetic pattern
        images, labels = bytes(i % 251 for i in range(4 * 784)), bytes([9, 2, 1, 1])
    im, lb = idx([4, 28, 28], images), idx([4], labels)
    put("fashion-4", split(im, lb))
    put("fashion-4-gzip", split(gzip.compress(im), gzip.compress(lb)))
    put("tiny", split(idx([2, 2, 3], bytes(range(12))), idx([2], b"\x00\x01")))
    put("gzip-bomb", split(gzip.compress(idx([4000, 1000, 1000], bytes(1 << 28))), gzip.compress(lb)))
    put("overflow-dims", split(idx([65536, 65536, 65536], b""), lb))
    put("outlying-label", split(im, idx([4], bytes([0, 1, 255, 2]))))
elif target == "cifar":
    put("cifar10-2", bytes([3]) + bytes(i % 256 for i in range(3072)) + bytes([7]) + bytes(3072))
    put("cifar100-1", bytes([4, 42]) + bytes(i % 253 for i in range(3072)))
    put("names", b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n")
    put("repeated-names", b"cat\n" * 10)
    put("control-names", b"\x1b]52;c;aGk=\x07\n" * 10)
    for name, data in pickles():
        put(name + ".pkl", data)
elif target == "npy":
    x = npy("|u1", [3, 2, 2], bytes(range(12)))
    y = npy("<i8", [3], struct.pack("<3q", 0, 1, 2))
    put("u8-i8", split(x, y))
    put("f4-nhwc-u1", split(npy("<f4", [1, 2, 2, 3], struct.pack("<12f", *[i / 12 for i in range(12)])),
                            npy("|u1", [1, 1], b"\x01")))
    put("stored.npz", zipped([("x_train.npy", x), ("y_train.npy", y)], zipfile.ZIP_STORED))
    put("deflated.npz", zipped([("x_train.npy", x), ("y_train.npy", y)]))
    put("bomb.npz", zipped([("x_train.npy", npy("|u1", [4096, 256, 256], bytes(1 << 28))), ("y_train.npy", y)]))
    put("overflow-shape", split(npy("|u1", [1 << 40, 1 << 40], b""), y))
    put("huge-float", split(npy("<f4", [1, 2, 2], struct.pack("<4f", 3e38, 3e38, 3e38, 3e38)), npy("|u1", [1], b"\x00")))
    put("outlying-label", split(x, npy("<i8", [3], struct.pack("<3q", 0, 1, 99999))))
else:
    sys.exit(f"fuzz-seeds: unknown target {target}")
print(f"fuzz-seeds: {len(os.listdir(out))} seeds for {target} in {out}")
