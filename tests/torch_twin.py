"""Load a jianmo model.safetensors into its PyTorch twin and measure test
accuracy, to check that PyTorch reads jianmo's weights as they are.

Usage: /usr/bin/python3 tests/torch_twin.py MODEL.safetensors ARCH DATA_DIR N
ARCH: mlp64 (784-64-10, ReLU, dropout) or cnn-small (c8 p c16 gap d0.1 fc10,
batch norm).  Prints the accuracy on the first N test images.  The file is
read with json + struct (Debian has no python3-safetensors); the tensor
names are the twin's state_dict keys."""
import gzip, json, struct, sys
import numpy as np
import torch
import torch.nn as nn

path, arch, data_dir, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

with open(path, "rb") as f:
    raw = f.read()
hlen = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + hlen])
meta = header.pop("__metadata__")
state = {}
for name, t in header.items():
    a, b = t["data_offsets"]
    arr = np.frombuffer(raw[8 + hlen + a:8 + hlen + b], dtype="<f4").reshape(t["shape"])
    state[name] = torch.tensor(arr.copy())


class Twin(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


if arch == "mlp64":
    twin = Twin([nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10)])
    flat = True
elif arch == "cnn-small":
    twin = Twin([nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                 nn.MaxPool2d(2),
                 nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(16, 10)])
    flat = False
else:
    sys.exit("unknown ARCH " + arch)
missing, unexpected = twin.load_state_dict(state, strict=False)
missing = [k for k in missing if not k.endswith("num_batches_tracked")]
if missing or unexpected:
    sys.exit(f"state_dict mismatch: missing {missing}, unexpected {unexpected}")
twin.eval()


def idx(p):
    with gzip.open(p, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


x = torch.tensor(idx(f"{data_dir}/t10k-images-idx3-ubyte.gz")[:n], dtype=torch.float32)
y = torch.tensor(idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz")[:n], dtype=torch.long)
x = x * float(meta["input_scale"]) + float(meta["input_shift"])
c, h, w = (int(v) for v in meta["input_shape"].split(","))
x = x.reshape(n, -1) if flat else x.reshape(n, c, h, w)
with torch.no_grad():
    acc = (twin(x).argmax(-1) == y).float().mean().item()
print(json.dumps({"test_acc": acc, "jianmo_test_acc": float(meta["test_acc"]),
                  "classes": meta["classes"].split(",")[:2]}))
