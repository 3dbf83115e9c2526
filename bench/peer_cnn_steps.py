"""Peer speed probe: PyTorch on the CNN of ../shared/peers/torch_fmnist.py, timed
over a fixed number of steps instead of 15 epochs (on a 2-core CPU the peer's
full run takes the better part of an hour).  The model, optimizer, schedule,
data handling and step are copied from that script's cnn() and train() so the
work per step is identical; only the step count differs.

Usage: /usr/bin/python3 bench/peer_cnn_steps.py DATA_DIR STEPS THREADS [BATCH]
Prints one JSON line."""
import gzip, json, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

data_dir, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bs = int(sys.argv[4]) if len(sys.argv) > 4 else 256
torch.set_num_threads(threads)


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


xtr = torch.tensor(idx(f"{data_dir}/train-images-idx3-ubyte.gz"), dtype=torch.float32).div_(255).unsqueeze(1)
ytr = torch.tensor(idx(f"{data_dir}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
mean, std = xtr.mean().item(), xtr.std().item()
xtr = (xtr - mean) / std


def cnn():
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
                         *block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(128, 10))


torch.manual_seed(0)
model = cnn()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps + 3, pct_start=0.1)
n = xtr.shape[0]
perm = torch.randperm(n)
model.train()
for i in range(steps + 3):
    if i == 3:
        t0 = time.perf_counter()
    idxs = perm[i * bs:(i + 1) * bs]
    xb, yb = xtr[idxs], ytr[idxs]
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step(); sched.step()
dt = time.perf_counter() - t0
print(json.dumps({"peer": "pytorch-" + torch.__version__, "model": "cnn5-bn", "threads": threads,
                  "batch": bs, "steps": steps, "samples_per_s": round(steps * bs / dt)}), flush=True)
