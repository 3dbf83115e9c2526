#!/usr/bin/python3
"""bench/peer_predict.py: the PyTorch peer of `jianmo predict` (bench/bench_predict.sh).

    peer_predict.py images RUN_DIR IMAGES.idx3-ubyte.gz OUT.csv [THREADS] [--check OURS.csv]
    peer_predict.py csv    RUN_DIR DATA.csv             OUT.csv [THREADS] [--check OURS.csv]

Does the job `jianmo predict RUN DATA --proba --out OUT.csv` does, in one
process, with the tools a PyTorch user would reach for:

  - the model: an nn.Sequential held in `layers` (the "PyTorch twin" of
    src/engine/model.h), built from the tensor names of the run's
    model.safetensors (layers.N.weight of 2 dimensions: Linear; an index
    with no tensors between two Linears: ReLU, the bench's flows use relu),
    its weights read from that file (header parsed with json + struct,
    data through numpy.frombuffer) and loaded with load_state_dict(strict);
  - images: the IDX file read with gzip + numpy, each pixel
    u8 * input_scale + input_shift in float32 (the checkpoint's metadata;
    two roundings, as jianmo's gather); a CSV: pandas.read_csv, then the
    run's [features] standardize, (x - mean) / std in float64 with the mean
    and std of features.state, then float32 (the only step this peer
    knows; clean.state must hold no rules);
  - forward in batches of 1024 under torch.no_grad, softmax;
  - with a target column (the CSV job): accuracy and log loss, as jianmo
    prints them;
  - OUT.csv: row,prediction,p_CLASS... (row from 1, the class name,
    probabilities as %.6g), jianmo's format.

Prints one JSON line: the in-process seconds after the imports (total and
per phase).  With --check OURS.csv (jianmo's output for the same job) it
then compares its in-memory predictions with it: the share of rows with
the same class, and the largest difference of a probability; the check
is not in the timed figure.
"""
import time

T_START = time.perf_counter()
import csv  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

BATCH = 1024


def read_safetensors(path):
    """{name: float32 tensor}, metadata"""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']}, expected F32")
        lo, hi = t["data_offsets"]
        a = np.frombuffer(buf, dtype="<f4", count=(hi - lo) // 4, offset=8 + n + lo)
        tensors[name] = torch.from_numpy(a.reshape(t["shape"]).copy())
    return tensors, meta


class Twin(nn.Module):
    """The model as jianmo's checkpoint names it: layers.0 Linear, layers.1
    ReLU, layers.2 Linear, ..."""

    def __init__(self, state):
        super().__init__()
        idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("layers.")})
        mods = []
        for i in range(idx[-1] + 1):
            w = state.get(f"layers.{i}.weight")
            if w is not None and w.dim() == 2:
                mods.append(nn.Linear(w.shape[1], w.shape[0]))
            elif w is None and not any(k.startswith(f"layers.{i}.") for k in state):
                mods.append(nn.ReLU())
            else:
                raise SystemExit(f"layers.{i}: not a Linear; this peer knows MLPs only")
        self.layers = nn.Sequential(*mods)

    def forward(self, x):
        return self.layers(x.flatten(1))


def read_idx_images(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        b = f.read()
    magic, n, h, w = struct.unpack(">IIII", b[:16])
    if magic != 2051:
        raise SystemExit(f"{path}: not an IDX image file")
    return np.frombuffer(b, dtype=np.uint8, offset=16, count=n * h * w).reshape(n, h * w)


def read_state_lines(path):
    with open(path) as f:
        return [shlex.split(line) for line in f if line.strip()]


def features_state(run_dir):
    """(inputs, target, classes, {col: (mean, std)}) from features.state."""
    clean = read_state_lines(os.path.join(run_dir, "clean.state"))
    if clean[0][:1] != ["jianmo-clean"] or clean[0][2] != "0":
        raise SystemExit("clean.state holds [clean] rules; this peer applies none")
    lines = read_state_lines(os.path.join(run_dir, "features.state"))
    scale, inputs, target, classes = {}, None, None, None
    step = None
    for t in lines:
        if t[0] == "step":
            step = int(t[1])
            if step != 11:  # JM_FEAT_STANDARDIZE (pipeline/features.h)
                raise SystemExit(f"features.state: step kind {step}; this peer knows standardize only")
        elif t[0] == "fit":
            col = t[1]  # t[2]: 2 numbers, mean and std
            mean, std = float(t[3]), float(t[4])
            if not (std > 0 and math.isfinite(std)):
                std = 1.0  # jianmo's (scikit-learn's) constant column
            scale[col] = (mean, std)
        elif t[0] == "model":
            target = t[1]
            ndrop = int(t[5])
            ninputs = int(t[6 + ndrop])
            inputs = t[7 + ndrop:7 + ndrop + ninputs]
        elif t[0] == "classes":
            classes = t[2:2 + int(t[1])]
    return inputs, target, classes, scale


def forward(model, batches):
    out = []
    with torch.no_grad():
        for xb in batches:
            out.append(torch.softmax(model(xb), dim=1))
    return torch.cat(out).numpy()


def write_csv(path, classes, pred, proba):
    """Through a temporary file renamed into place, as jianmo writes --out
    (fsync included).  Rows formatted from Python floats (tolist): the
    fastest of csv.writer over numpy rows, pandas.to_csv and this."""
    tmp = path + ".tmp"
    names = [classes[k] for k in pred.tolist()]
    rows = proba.tolist()
    with open(tmp, "w", newline="") as f:
        f.write(",".join(["row", "prediction"] + [f"p_{c}" for c in classes]) + "\n")
        f.write("".join("%d,%s,%s\n" % (i + 1, names[i], ",".join(["%.6g" % v for v in r]))
                        for i, r in enumerate(rows)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def check(ours_path, classes, pred, proba):
    with open(ours_path, newline="") as f:
        r = csv.reader(f)
        head = next(r)
        rows = list(r)
    if head != ["row", "prediction"] + [f"p_{c}" for c in classes]:
        raise SystemExit(f"{ours_path}: header {head}, expected p_ columns for {classes}")
    if len(rows) != len(pred):
        raise SystemExit(f"{ours_path}: {len(rows)} rows, the peer predicted {len(pred)}")
    index = {c: k for k, c in enumerate(classes)}
    ours_pred = np.array([index.get(row[1], -1) for row in rows])
    ours_p = np.array([[float(v) for v in row[2:]] for row in rows], dtype=np.float64)
    same = float(np.mean(ours_pred == pred))
    diff = float(np.max(np.abs(ours_p - proba.astype(np.float64))))
    return {"rows": len(pred), "same_class": round(same, 6), "max_proba_diff": diff,
            "agree": same >= 0.999 and diff <= 1e-4}


def main():
    argv = sys.argv[1:]
    ours = None
    if "--check" in argv:
        k = argv.index("--check")
        ours = argv[k + 1]
        del argv[k:k + 2]
    job, run_dir, data, out = argv[:4]
    threads = int(argv[4]) if len(argv) > 4 else 1
    torch.set_num_threads(threads)
    if job == "csv":
        import pandas as pd  # only the CSV job needs it; an import, not timed in_process_s

    t0 = time.perf_counter()
    state, meta = read_safetensors(os.path.join(run_dir, "model.safetensors"))
    model = Twin(state)
    model.load_state_dict(state, strict=True)
    model.eval()
    t_model = time.perf_counter()

    extra = {}
    if job == "images":
        classes = meta["classes"].split(",")
        scale = np.float32(meta["input_scale"])
        shift = np.float32(meta["input_shift"])
        pix = read_idx_images(data)
        t_read = time.perf_counter()

        def batches():
            for i in range(0, len(pix), BATCH):
                x = torch.from_numpy(pix[i:i + BATCH].astype(np.float32))
                yield x.mul_(scale).add_(shift)
        t_prep = t_read
        proba = forward(model, batches())
    elif job == "csv":
        inputs, target, classes, fit = features_state(run_dir)
        df = pd.read_csv(data)
        t_read = time.perf_counter()
        X = np.empty((len(df), len(inputs)), dtype=np.float32)
        for j, col in enumerate(inputs):
            v = df[col].to_numpy(dtype=np.float64)
            if col in fit:
                mean, std = fit[col]
                v = (v - mean) / std
            X[:, j] = v
        t_prep = time.perf_counter()
        Xt = torch.from_numpy(X)
        proba = forward(model, (Xt[i:i + BATCH] for i in range(0, len(Xt), BATCH)))
        if target in df.columns:  # jianmo scores the rows with a target
            y = df[target].map({c: k for k, c in enumerate(classes)}).to_numpy()
            ok = ~np.isnan(y.astype(np.float64))
            yk = y[ok].astype(np.int64)
            p = proba[ok]
            extra["accuracy"] = round(float(np.mean(p.argmax(1) == yk)), 6)
            extra["log_loss"] = round(float(-np.mean(np.log(p[np.arange(len(yk)), yk].astype(np.float64)))), 6)
    else:
        raise SystemExit(f"peer_predict.py: unknown job {job!r} (images or csv)")
    t_fwd = time.perf_counter()
    pred = proba.argmax(1)
    write_csv(out, classes, pred, proba)
    t_end = time.perf_counter()

    res = {"bench": "peer-predict", "job": job, "rows": int(len(pred)), "threads": threads,
           "torch": torch.__version__, "import_s": round(t0 - T_START, 4),
           "in_process_s": round(t_end - t0, 4), "model_s": round(t_model - t0, 4),
           "read_s": round(t_read - t_model, 4), "prep_s": round(t_prep - t_read, 4),
           "forward_s": round(t_fwd - t_prep, 4), "write_s": round(t_end - t_fwd, 4)}
    res.update(extra)
    if ours:
        res["check"] = check(ours, classes, pred, proba)
    print(json.dumps(res), flush=True)
    if ours and not res["check"]["agree"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
