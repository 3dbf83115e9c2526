"""Peer for bench/bench_augment: PyTorch's CutMix/MixUp per batch on the CPU.

Usage: /usr/bin/python3 peer_augment.py PEERS_DIR [THREADS [DEVICE]]

DEVICE: cpu (the default) or cuda; on a GPU each round is timed up to the
device's end of its last batch (torch.cuda.synchronize), as bench_augment
times jianmo's.

Runs the cutmix_mixup function of PEERS_DIR/torch_fmnist.py itself (taken
from that file's source with ast, so it is the peer's code to the letter;
the file cannot be imported, it trains on import), on the shapes and with
the timing of bench/bench_augment.c: 3 warm-up batches, then 5 rounds of
50, the fastest round's mean.  Mixes: the peer's defaults (CutMix alpha 1
or MixUp alpha 0.2, switch 0.5), CutMix only (switch 1), MixUp only
(switch 0).  One JSON line each."""
import ast, json, math, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

peers = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
device = sys.argv[3] if len(sys.argv) > 3 else "cpu"
torch.set_num_threads(threads)
sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

src = open(os.path.join(peers, "torch_fmnist.py")).read()
fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "cutmix_mixup")
ns = {"np": np, "math": math, "torch": torch, "F": F}
exec(compile(ast.Module(body=[fn], type_ignores=[]), "torch_fmnist.py", "exec"), ns)
cutmix_mixup = ns["cutmix_mixup"]

np.random.seed(0)
torch.manual_seed(0)
for shape in [(256, 1, 28, 28), (64, 3, 224, 224)]:
    x = torch.randn(shape, device=device)
    y = torch.randint(0, 10, (shape[0],), device=device)
    for name, switch in [("cutmix-mixup", 0.5), ("cutmix", 1.0), ("mixup", 0.0)]:
        for _ in range(3):
            cutmix_mixup(x, y, switch=switch)
        sync()
        best = 1e30
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(50):
                cutmix_mixup(x, y, switch=switch)
            sync()
            best = min(best, (time.perf_counter() - t0) / 50)
        print(json.dumps({"bench": "augment", "impl": "pytorch-" + torch.__version__, "device": device, "mix": name,
                          "shape": list(shape), "threads": threads, "ms_per_batch": round(best * 1e3, 4),
                          "images_per_s": round(shape[0] / best)}), flush=True)
