#!/usr/bin/python3
"""bench_torch.py - idim's training step against PyTorch's, same shapes, same run.

The PyTorch side is the independent reimplementation the test fixtures come
from (scripts/make_reference.py: Hugging Face's BertForSequenceClassification
in plain torch), run in float32 on a batch of 32 x 128 tokens with the BERT
vocabulary (30522) for presets tiny, mini, small and medium:

  full step  forward, backward, gradient-norm clip, torch.optim.AdamW over
             every weight;
  DID step   theta = theta0 + P theta_d with d = 1000 and P a Fastfood
             transform (Li et al. 2018: blocks of 1024 rows, each
             S H G Pi H B with H the Walsh-Hadamard transform, over the
             flattened weights), forward, backward through P to theta_d,
             AdamW on theta_d.

The reference has no dropout, while idim's steps use dropout 0.1: the
comparison favours PyTorch. PyTorch runs with 1 and with 2 threads and its
faster setting counts. The idim side is build/bench/bench_train (full and DID
step, all cores), run for the same preset in the same rounds: each round
times PyTorch's steps and then idim's, and each figure is the fastest round,
so load from other processes hurts both alike.

Run (needs Debian's python3-torch; `make bench` builds bench_train):
    /usr/bin/python3 scripts/bench_torch.py [--presets tiny,mini] [--rounds 2]
Without torch it says so and exits 0.
"""
import argparse
import math
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PRESETS = {"tiny": (2, 128, 2, 512), "mini": (4, 256, 4, 1024),
           "small": (4, 512, 8, 2048), "medium": (8, 512, 8, 2048)}
B, T, V, P, TV, D_SUB, BLOCK = 32, 128, 30522, 512, 2, 1000, 1024

try:
    import torch
except ImportError:
    print("bench_torch: python3-torch is not installed (apt-get install python3-torch): skipped")
    sys.exit(0)

sys.path.insert(0, HERE)
import make_reference as ref  # noqa: E402

ref.DT = torch.float32  # the reference computes in float64 for fixtures; float32 here


def model_weights(L, C, Fd, g):
    table = ref.tensor_table(1, L, C, Fd, V, P, TV, 2)
    W = {}
    for name, shape in table:
        if len(shape) == 2:
            W[name] = 0.02 * torch.randn(shape, generator=g)
        elif name.endswith("LayerNorm.weight"):
            W[name] = torch.ones(shape)
        else:
            W[name] = torch.zeros(shape)
    return table, W


def batch(g):
    ids = torch.randint(1000, V, (B, T), generator=g)
    tt = torch.zeros((B, T), dtype=torch.long)
    mask = torch.ones((B, T), dtype=torch.long)
    labels = torch.randint(0, 2, (B,), generator=g)
    return ids, tt, mask, labels


def hadamard(n):
    h = torch.ones((1, 1))
    while h.shape[0] < n:
        h = torch.cat((torch.cat((h, h), 1), torch.cat((h, -h), 1)), 0)
    return h


H32 = hadamard(32)


def fwht(x):
    """Unnormalised Walsh-Hadamard transform of each row of x [n, 1024]:
    H_1024 = H_32 (x) H_32, so each row as a 32 x 32 matrix X gives H X H: two
    large matrix products with H_32 (BLAS) and a transpose."""
    n = x.shape[0]
    z = (x.reshape(n * 32, 32) @ H32).view(n, 32, 32)
    y = (z.transpose(1, 2).reshape(n * 32, 32) @ H32).view(n, 32, 32)
    return y.transpose(1, 2).reshape(n, BLOCK)


class Fastfood:
    """theta_D = concat over blocks of S H G Pi H B theta_d (padded to 1024)."""

    def __init__(self, D, g):
        self.D = D
        nb = (D + BLOCK - 1) // BLOCK
        self.Bs = (torch.randint(0, 2, (nb, BLOCK), generator=g) * 2 - 1).float()
        self.G = torch.randn((nb, BLOCK), generator=g)
        self.Pi = torch.argsort(torch.rand((nb, BLOCK), generator=g), dim=1)
        self.S = torch.sqrt(torch.distributions.Chi2(float(BLOCK)).sample((nb, BLOCK))) / \
            (self.G.norm(dim=1, keepdim=True) * math.sqrt(BLOCK) * math.sqrt(D_SUB))

    def __call__(self, theta_d):
        x = torch.zeros(BLOCK)
        x = torch.cat((theta_d, x[D_SUB:]))
        x = fwht(self.Bs * x)
        x = torch.gather(x, 1, self.Pi) * self.G
        return (fwht(x) * self.S).reshape(-1)[:self.D]


def torch_steps(preset, threads, rounds_inner=1):
    """(full ms, DID ms) of PyTorch at `threads`, fastest of rounds_inner after a warm-up."""
    torch.set_num_threads(threads)
    L, C, NH, Fd = PRESETS[preset]
    g = torch.Generator().manual_seed(1)
    table, W0 = model_weights(L, C, Fd, g)
    ids, tt, mask, labels = batch(g)
    cfg = dict(L=L, C=C, NH=NH, pad=0, eps=1e-12, NL=2)
    tgt = torch.zeros(B)

    # full fine-tuning
    W = {n: w.clone().requires_grad_(True) for n, w in W0.items()}
    opt = torch.optim.AdamW(list(W.values()), lr=1e-9, weight_decay=0.0)

    def full():
        opt.zero_grad(set_to_none=True)
        _, loss = ref.forward(1, cfg, W, ids, tt, mask, labels, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
        opt.step()

    # DID: theta = theta0 + P theta_d
    names = [n for n, _ in table]
    sizes = [W0[n].numel() for n in names]
    flat0 = torch.cat([W0[n].reshape(-1) for n in names])
    ff = Fastfood(flat0.numel(), g)
    theta_d = torch.zeros(D_SUB, requires_grad=True)
    opt_d = torch.optim.AdamW([theta_d], lr=1e-6, weight_decay=0.0)

    def did():
        opt_d.zero_grad(set_to_none=True)
        flat = flat0 + ff(theta_d)
        Wd = {n: t.view(W0[n].shape) for n, t in zip(names, torch.split(flat, sizes))}
        _, loss = ref.forward(1, cfg, Wd, ids, tt, mask, labels, tgt)
        loss.backward()
        opt_d.step()

    out = []
    for fn in (full, did):
        fn()  # warm-up
        best = math.inf
        for _ in range(rounds_inner):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out.append(1e3 * best)
    return out


def blas_info():
    m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return m.group(1) if m else "?"


def idim_steps(preset, exe):
    env = dict(os.environ, BENCH_PRESETS=preset, BENCH_ROUNDS="1")
    r = subprocess.run([exe], env=env, capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        f = line.split()
        if f and f[0] == preset:
            # preset th D fwd+bwd full DID SAID proj ...
            return float(f[4]), float(f[5]), int(f[1])
    raise RuntimeError("bench_train printed no row for " + preset + ":\n" + r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="tiny,mini,small,medium")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_train"))
    a = ap.parse_args()
    if not os.access(a.bench, os.X_OK):
        print(f"bench_torch: {a.bench} is missing: run 'make bench' first", file=sys.stderr)
        return 2
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"training steps, batch {B} x {T} tokens, d = {D_SUB}; torch {torch.__version__}, "
          f"BLAS {blas_info()}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; load {load:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"{'preset':7} {'torch full':>10} {'idim full':>10} {'ratio':>6}   {'torch DID':>10} "
          f"{'idim DID':>10} {'ratio':>6}  torch threads (full, DID)")
    ok = True
    for preset in a.presets.split(","):
        tf = td = jf = jd = math.inf
        thr = {}
        for _ in range(a.rounds):
            for th in (1, 2):
                f, d = torch_steps(preset, th)
                if f < tf:
                    tf, thr["full"] = f, th
                if d < td:
                    td, thr["did"] = d, th
            f, d, _ = idim_steps(preset, a.bench)
            jf, jd = min(jf, f), min(jd, d)
        rf, rd = tf / jf, td / jd
        ok = ok and rf >= 1.3 and rd >= 2.0
        print(f"{preset:7} {tf:10.1f} {jf:10.1f} {rf:5.2f}x   {td:10.1f} {jd:10.1f} {rd:5.2f}x  "
              f"{thr['full']}, {thr['did']}", flush=True)
    print("ratio = PyTorch ms / idim ms (fastest of the rounds, each side); issue 14 asks for "
          ">= 1.3x (full) and >= 2x (DID): " + ("met" if ok else "not met"))
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
