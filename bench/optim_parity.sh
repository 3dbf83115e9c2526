#!/bin/sh
# bench/optim_parity.sh: jianmo's Adam, AdamW and SGD state against PyTorch's,
# bit for bit, after the same steps on the same data (bench/optim_parity.c
# writes the data and jianmo's result; torch.optim, single-tensor path,
# runs here on Debian's python3-torch).
#
#   bench/optim_parity.sh [N [STEPS]]     (default 235146 parameters, 20 steps)
#
# Run from a build tree (or set JIANMO_BUILD).  Prints, per optimizer, the
# fraction of parameters and moments whose bits equal PyTorch's and the
# largest difference; exits 1 when any differs.
set -eu
build=${JIANMO_BUILD:-$(pwd)}
n=${1:-235146}
steps=${2:-20}
make -C "$build" -s bench/optim_parity
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bench/optim_parity" "$tmp" "$n" "$steps"
/usr/bin/python3 - "$tmp" "$n" "$steps" <<'PY'
import sys
import numpy as np
import torch

d, n, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
load = lambda name: np.fromfile(f"{d}/{name}", dtype="<f4")
p0, g = load("p0"), load("g").reshape(steps, n)
print(f"torch {torch.__version__}, {n} parameters, {steps} steps")
bad = 0
runs = (("adamw", torch.optim.AdamW, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4), ("exp_avg", "exp_avg_sq")),
        ("adam", torch.optim.Adam, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4), ("exp_avg", "exp_avg_sq")),
        ("sgd", torch.optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4), ("momentum_buffer",)))
for name, cls, kw, state in runs:
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = cls([p], foreach=False, **kw)
    for t in range(steps):
        p.grad = torch.from_numpy(g[t].copy())
        opt.step()
    theirs = {"p": p.detach().numpy()}
    for k, key in zip("mv", state):
        theirs[k] = opt.state[p][key].numpy()
    for k, t in theirs.items():
        ours = load(f"{name}.{k}")
        same = (ours.view(np.uint32) == t.view(np.uint32)).mean()
        diff = np.abs(ours.astype(np.float64) - t).max()
        print(f"{name:5s} {k}: {same:.6f} of the values bit-identical, largest difference {diff:.3g}")
        bad += same < 1.0
sys.exit(1 if bad else 0)
PY
