"""Minimal safetensors writer and reader for the PyTorch twins (Debian has no
`safetensors` package): 8-byte little-endian header length, JSON header padded
with spaces to a multiple of 8, then the tensors' little-endian bytes."""
import json
import struct

import torch

_DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64", torch.float64: "F64"}
_TORCH = {v: k for k, v in _DTYPES.items()}


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    import os
    os.replace(path + ".tmp", path)


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:en]), dtype=_TORCH[e["dtype"]]).reshape(e["shape"])
    return out, meta
