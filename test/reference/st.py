"""Minimal safetensors writer and reader for the PyTorch twins (Debian has no
`safetensors` package), in pure Python + torch; used by every gen script.

Format: 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
padded with spaces to a multiple of 8, then the tensors' bytes, contiguous
and little-endian, in header order (offsets relative to the data section)."""
import json
import os
import struct

import numpy as np
import torch

# dtype name -> (torch dtype, little-endian numpy dtype); bytes are written with
# an explicit "<" so a golden made on a big-endian host is still valid.
_DTYPES = {
    "F32": (torch.float32, "<f4"),
    "F64": (torch.float64, "<f8"),
    "I32": (torch.int32, "<i4"),
    "I64": (torch.int64, "<i8"),
}
_NAME = {td: name for name, (td, _) in _DTYPES.items()}


def save(path, tensors, metadata=None):
    """Writes {name: tensor} (F32/F64/I32/I64) and str metadata atomically."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _NAME:
            raise TypeError(f"{name}: dtype {t.dtype} is not one of {sorted(_DTYPES)}")
        dt = _NAME[t.dtype]
        data = t.numpy().astype(_DTYPES[dt][1], copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    # temp file + rename: a failed run never leaves a half-written golden
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def load(path):
    """Returns ({name: tensor}, {key: value}); checks offsets cover the data."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, en = e["data_offsets"]
        if b != end or en > len(data):
            raise ValueError(f"{path}: tensor {name} has offsets [{b}, {en}], expected to start at {end}")
        end = en
        td, npd = _DTYPES[e["dtype"]]
        arr = np.frombuffer(data[b:en], dtype=npd).astype(npd[1:], copy=True)
        out[name] = torch.from_numpy(arr).reshape(e["shape"]).to(td)
    if end != len(data):
        raise ValueError(f"{path}: {len(data) - end} bytes after the last tensor")
    return out, meta
