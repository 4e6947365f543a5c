#!/usr/bin/env python3
"""PyTorch peer for `thaw bench train`: the same head shapes and backbone, measured the same way.

Prints one JSON object. Needs the CPU wheel: pip install torch==2.13.0+cpu (see PLATFORM.md).
Usage: python3 scripts/bench/torch_train.py --threads 1 --runs 5
"""
import argparse
import json
import statistics
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as error:
    message = f"torch is not installed for {sys.executable} ({error}); run: pip install torch==2.13.0+cpu"
    print(message, file=sys.stderr)
    print(json.dumps({"error": message}))
    sys.exit(3)


def head(inputs, hidden, depth, classes):
    layers, width = [], inputs
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def backbone():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())


def cnn():
    """The whole FedAvg CNN: the backbone above, then dense 3136→512, ReLU, dense 512→10."""
    return nn.Sequential(backbone(), nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, 10))


def head_rate(model, batch, inputs, classes, steps, runs):
    x = torch.rand(batch, *inputs) if isinstance(inputs, tuple) else torch.rand(batch, inputs)
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    rates = []
    for r in range(runs + 1):
        t = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        dt = time.perf_counter() - t
        if r > 0:
            rates.append(batch * steps / dt)
    return statistics.median(rates)


def backbone_rate(batch, steps, runs):
    model = backbone().eval()
    x = torch.rand(batch, 1, 28, 28)
    rates = []
    with torch.no_grad():
        for r in range(runs + 1):
            t = time.perf_counter()
            for _ in range(steps):
                model(x)
            dt = time.perf_counter() - t
            if r > 0:
                rates.append(batch * steps / dt)
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {
        "torch": torch.__version__, "threads": a.threads,
        "headSmall": head_rate(head(3136, 512, 1, 10), 64, 3136, 10, 20, a.runs),
        "headLarge": head_rate(head(3136, 2048, 2, 100), 256, 3136, 100, 3, a.runs),
        "backbone": backbone_rate(64, 5, a.runs),
        "cnnTrain": head_rate(cnn(), 64, (1, 28, 28), 10, 3, a.runs),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
