#!/usr/bin/env python3
"""Reference values for tests/test_wordvec.c, computed independently of idim
with numpy/scipy (run once; the outputs are committed):

1. PPMI of a hand-made token stream, as scripts/pretrain_recipe.py computes it
   over the whole vocabulary (scipy sparse counts, both orders, window 2,
   context smoothing 0.75), printed as a C table over the 3 most frequent ids.
2. tests/fixtures/wordvec/svd.bin: a 60 x 40 float32 matrix with a decaying
   spectrum plus noise, then numpy's exact SVD: the 8 leading singular values
   (float64), the left singular vectors [60, 8] (float64, row-major) and the
   optimal rank-8 residual ||A - U U^T A||_F (float64). Little-endian.

usage: python3 scripts/make_wordvec_reference.py [OUT_DIR]
"""
import os
import sys

import numpy as np
from scipy.sparse import coo_matrix


def ppmi_full(stream, V, window, alpha=0.75):
    s = np.asarray(stream, dtype=np.int64)
    rows, cols = [], []
    for k in range(1, window + 1):
        rows += [s[:-k], s[k:]]
        cols += [s[k:], s[:-k]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    M = coo_matrix((np.ones(len(r)), (r, c)), shape=(V, V)).toarray()
    tot = M.sum()
    wr = M.sum(axis=1)
    wc = M.sum(axis=0) ** alpha
    wc = wc / wc.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(M / tot) - np.log(wr / tot)[:, None] - np.log(wc)[None, :]
    return np.where(M > 0, np.maximum(pmi, 0.0), 0.0)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/wordvec"
    # 1. ids 0..5 in a vocabulary of 7 (id 6 never occurs); counts: 3 x id 1,
    # 3 x id 4, 2 x id 2, 1 x ids 0, 3, 5 -> the top 3 rows are ids 1, 4, 2
    stream = [1, 4, 2, 1, 0, 4, 3, 1, 2, 4, 5]
    P = ppmi_full(stream, 7, 2)
    top = [1, 4, 2]
    print("/* PPMI of", stream, "window 2, alpha 0.75, rows/cols ids", top, "*/")
    print("static const double PPMI_REF[3][3] = {")
    for i in top:
        print("    {" + ", ".join("%.17g" % P[i, j] for j in top) + "},")
    print("};")
    # 2. the SVD fixture
    rng = np.random.RandomState(20261201)
    m, n, k = 60, 40, 8
    Q1, _ = np.linalg.qr(rng.randn(m, n))
    Q2, _ = np.linalg.qr(rng.randn(n, n))
    sv = 10.0 * 0.8 ** np.arange(n)
    A = (Q1 * sv) @ Q2.T + 0.01 * rng.randn(m, n)
    A = A.astype(np.float32)
    u, s, vt = np.linalg.svd(A.astype(np.float64), full_matrices=False)
    Uk = u[:, :k]
    resid = np.linalg.norm(A - Uk @ (Uk.T @ A))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "svd.bin"), "wb") as f:
        f.write(A.astype("<f4").tobytes())
        f.write(s[:k].astype("<f8").tobytes())
        f.write(Uk.astype("<f8").tobytes())
        f.write(np.array([resid], dtype="<f8").tobytes())
    print("/* svd.bin: s[0..7] =", s[:k], "residual", resid, "*/")


if __name__ == "__main__":
    main()
