#!/usr/bin/python3
"""check_projection.py - recompute `idim project`'s output from the dumped
Fastfood tables with numpy alone (float64), as an independent check.

    idim project --model M --theta T --tensor NAME --tables DIR > update.txt
    /usr/bin/python3 scripts/check_projection.py --tables DIR --theta T --update update.txt

Reads DIR/meta.json, B.bin (int8), Pi.bin (uint32 LE), G.bin (float32 LE)
(docs/PROJECTION.md), and the theta (a binary theta file "IDIMTHTA" or a
text file with one float per line), computes

    update = lambda * (H G Pi H B pad(x))[offset : offset + n_tensor] * scale
    (Pi z)_i = z[Pi[i]],  x = theta[:d_proj],  H the Sylvester Hadamard matrix

and compares with the values idim printed (one per line, or the --json
object). Exit 0 when max |diff| <= 1e-5 * max |update|, else 1. With
--regen it also re-derives B, Pi and G from the documented generator
(xoshiro256** keyed by splitmix64) in pure Python: slow, use for LL <= 2^16.
"""
import argparse
import json
import struct
import sys

import numpy as np

M64 = (1 << 64) - 1


def fwht(v):
    """Unnormalised Walsh-Hadamard transform (Sylvester order), float64."""
    x = np.array(v, dtype=np.float64)
    n = x.size
    h = 1
    while h < n:
        x = x.reshape(-1, 2, h)
        a, b = x[:, 0, :].copy(), x[:, 1, :].copy()
        x[:, 0, :] = a + b
        x[:, 1, :] = a - b
        x = x.reshape(n)
        h *= 2
    return x


def read_theta(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:8] == b"IDIMTHTA":
        d = struct.unpack_from("<Q", raw, 24)[0]
        return np.frombuffer(raw, dtype="<f4", count=d, offset=136).astype(np.float64)
    vals = []
    for line in raw.decode().splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            vals.append(float(s))
    return np.array(vals, dtype=np.float64)


def read_update(path):
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        return np.array(json.loads(text)["update"], dtype=np.float64)
    return np.array([float(s) for s in text.split()], dtype=np.float64)


# ---- the documented generator (include/rng.h), for --regen ----
def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def rng_key(seed, stream):
    _, h = splitmix64((stream + 0x9E3779B97F4A7C15) & M64)
    _, k = splitmix64(seed ^ h)
    return k


class Rng:
    def __init__(self, key):
        st = key
        self.s = []
        for _ in range(4):
            st, v = splitmix64(st)
            self.s.append(v)
        self.spare = None

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):
        import math
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        rad = math.sqrt(-2.0 * math.log(u1))
        th = 6.283185307179586476925 * u2
        self.spare = rad * math.sin(th)
        return rad * math.cos(th)

    def below(self, n):
        m = self.next() * n
        lo = m & M64
        if lo < n:
            t = ((1 << 64) - n) % n
            while lo < t:
                m = self.next() * n
                lo = m & M64
        return m >> 64


def regen(seed, key, LL):
    r = Rng(rng_key(seed, key))
    B = np.array([-1 if r.next() >> 63 else 1 for _ in range(LL)], dtype=np.int8)
    Pi = list(range(LL))
    for i in range(LL - 1, 0, -1):
        j = r.below(i + 1)
        Pi[i], Pi[j] = Pi[j], Pi[i]
    G = np.array([r.normal() for _ in range(LL)], dtype=np.float32)
    return B, np.array(Pi, dtype=np.uint32), G


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", required=True)
    ap.add_argument("--theta", required=True)
    ap.add_argument("--update", help="idim project output (default: stdin)")
    ap.add_argument("--regen", action="store_true",
                    help="also re-derive the tables from the generator (small LL only)")
    a = ap.parse_args()
    meta = json.load(open(a.tables + "/meta.json"))
    LL = int(meta["LL"])
    B = np.fromfile(a.tables + "/B.bin", dtype=np.int8)
    Pi = np.fromfile(a.tables + "/Pi.bin", dtype="<u4")
    G = np.fromfile(a.tables + "/G.bin", dtype="<f4")
    assert B.size == LL and Pi.size == LL and G.size == LL, "table sizes differ from meta LL"
    assert np.array_equal(np.sort(Pi), np.arange(LL, dtype=np.uint32)), "Pi is not a permutation"
    assert set(np.unique(B)) <= {-1, 1}, "B holds values other than +-1"
    scale = 1.0 / np.sqrt(float(meta["n"]) * np.sum(G.astype(np.float64) ** 2))
    if abs(scale - float(meta["scale"])) > 1e-12 * scale:
        print("scale in meta.json %r differs from 1/sqrt(n sum G^2) = %r" % (meta["scale"], scale))
        return 1
    if a.regen:
        rb, rp, rg = regen(int(meta["proj_seed"]), int(meta["key"]), LL)
        ok = np.array_equal(rb, B) and np.array_equal(rp, Pi) and np.array_equal(rg, G)
        print("tables re-derived from the generator: %s" % ("identical" if ok else "DIFFERENT"))
        if not ok:
            return 1
    theta = read_theta(a.theta)
    d, dp = int(meta["d"]), int(meta["d_proj"])
    lam = 1.0
    if meta["method"] == "said" and theta.size == d:
        lam = float(np.float32(theta[dp + int(meta["tensor_index"])]))
    x = np.zeros(LL)
    x[:dp] = theta[:dp]
    h = fwht(B.astype(np.float64) * x)
    z = h[Pi.astype(np.int64)] * G.astype(np.float64)
    y = fwht(z) * scale
    off, nt = int(meta["offset"]), int(meta["n_tensor"])
    ref = lam * y[off:off + nt]
    got = read_update(a.update) if a.update else np.array(
        [float(s) for s in sys.stdin.read().split()])
    if got.size != nt:
        print("idim printed %d values, the tensor has %d" % (got.size, nt))
        return 1
    err = np.max(np.abs(got - ref))
    big = np.max(np.abs(ref))
    print("tensor %s (n %d, LL %d, d %d): max |idim - numpy| = %.3g, max |update| = %.3g, "
          "relative %.3g" % (meta["tensor"], nt, LL, d, err, big, err / big if big else err))
    return 0 if err <= 1e-5 * big else 1


if __name__ == "__main__":
    sys.exit(main())
