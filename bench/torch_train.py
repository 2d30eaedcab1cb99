"""PyTorch baseline for bench/train.ts (run with Debian's /usr/bin/python3 and python3-torch):
the bundled CNN (models/make-models.ts) with torch.nn.utils.weight_norm on every Conv/Linear,
Adam, F.cross_entropy, trained on Fashion-MNIST batches the way bench/train.ts trains the ONNX
model: the same batches, raw pixel values, the batch tensor built inside the timed step.

    /usr/bin/python3 bench/torch_train.py DATA_DIR [--batch 100] [--warmup 20] [--steps 200] [--threads 2]
    /usr/bin/python3 bench/torch_train.py DATA_DIR --epochs E [--batch 100] [--threads 2]

Prints one JSON line: median step time (ms) and samples/s. With --epochs: E passes over the
training set in batches shuffled anew each epoch, as `wn-onnx train` takes them, and nothing
timed inside (bench/train.ts times the whole process: 2 epochs minus 1 is one epoch)."""
import argparse
import gzip
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm


def read_idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(bytearray(f.read()), dtype=np.uint8, offset=header_bytes)  # writable, as torch.from_numpy wants


def weight_normalized_cnn():
    layers = [
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    ]
    return nn.Sequential(*[weight_norm(m) if isinstance(m, (nn.Conv2d, nn.Linear)) else m for m in layers])


def train_step(model, optimizer, images, labels, rows):
    x = torch.from_numpy(images[rows]).float()
    y = torch.from_numpy(labels[rows]).long()
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def train_epochs(model, optimizer, images, labels, args):
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(args.epochs):
        order = torch.randperm(len(labels), generator=generator).numpy()
        for start in range(0, len(labels), args.batch):
            losses.append(train_step(model, optimizer, images, labels, order[start:start + args.batch]))
    print(json.dumps({"epochs": args.epochs, "steps": len(losses), "lastLoss": losses[-1], "torch": torch.__version__}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)

    images = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
    labels = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz"), 8)
    batches = len(labels) // args.batch
    model = weight_normalized_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    if args.epochs:
        train_epochs(model, optimizer, images, labels, args)
        return
    times = []
    for step in range(args.warmup + args.steps):
        rows = slice((step % batches) * args.batch, (step % batches + 1) * args.batch)
        started = time.perf_counter()
        train_step(model, optimizer, images, labels, rows)
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    median_ms = statistics.median(times) * 1e3
    print(json.dumps({"stepMs": median_ms, "samplesPerSecond": args.batch / median_ms * 1e3, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
