#!/usr/bin/python3
"""pt2safetensors.py - write model.safetensors from a pytorch_model.bin.

For Hugging Face folders that only ship pytorch_model.bin (older
checkpoints). `idim convert` reads safetensors only, so run, with torch
installed (the safetensors package is not needed):

    /usr/bin/python3 scripts/pt2safetensors.py DIR          # DIR/pytorch_model.bin
    /usr/bin/python3 scripts/pt2safetensors.py in.bin out.safetensors

Sharded checkpoints (pytorch_model.bin.index.json) are merged into one
model.safetensors. Tensors that share storage (tied weights) are written as
copies. The file layout follows the safetensors spec: u64 little-endian
header length, a JSON header (padded with spaces to a multiple of 8), then
the raw little-endian tensor bytes in header order.
"""
import json
import os
import struct
import sys

DTYPES = None  # filled lazily so `import pt2safetensors` does not need torch at import time


def _dtypes():
    global DTYPES
    if DTYPES is None:
        import torch
        DTYPES = {
            torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
            torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
            torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
        }
    return DTYPES


def tensor_bytes(t):
    """Raw little-endian bytes of a tensor (bf16 through an int16 view)."""
    import torch
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def save_file(tensors, path, metadata=None):
    """Writes an ordered {name: torch.Tensor} dict as a safetensors file."""
    dt = _dtypes()
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if t.dtype not in dt:
            raise SystemExit(f"{path}: tensor {name}: dtype {t.dtype} has no safetensors name")
        b = tensor_bytes(t)
        header[name] = {"dtype": dt[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_pt(path):
    import torch
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13
        sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return {k: v for k, v in sd.items() if hasattr(v, "dtype")}


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    src = argv[1]
    if os.path.isdir(src):
        d = src
        idx = os.path.join(d, "pytorch_model.bin.index.json")
        if os.path.exists(idx):
            wm = json.load(open(idx))["weight_map"]
            sd = {}
            for shard in dict.fromkeys(wm.values()):
                sd.update(load_pt(os.path.join(d, shard)))
        else:
            sd = load_pt(os.path.join(d, "pytorch_model.bin"))
        out = argv[2] if len(argv) == 3 else os.path.join(d, "model.safetensors")
    else:
        sd = load_pt(src)
        out = argv[2] if len(argv) == 3 else os.path.splitext(src)[0] + ".safetensors"
    sd = {k: v.clone() for k, v in sd.items()}  # untie shared storage
    save_file(sd, out, {"format": "pt"})
    print(f"wrote {out}: {len(sd)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
