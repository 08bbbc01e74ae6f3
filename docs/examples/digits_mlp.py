"""The worked example of docs/measure.md: an MLP on imbalanced digits, saved for
``ncsolve measure``.

Trains a 64-32-16 ReLU backbone with a linear head (nn.Linear(16, 5), bias on) on
digits 0..4 of scikit-learn's bundled digits data, 150/100/60/40/34 training
samples, with nn.MSELoss() on one-hot targets, an explicit feature decay
fd/2 ||features_batch||^2, and SGD (lr 0.05, momentum 0.9, weight_decay 5e-4 on
every parameter), batches of 64, 300 epochs.  Saves features, labels, the head,
held-out test features and, as out-of-distribution features, 100 images of digits
5..9 through the same backbone (``ood_features``, for NC5) to
``digits.safetensors`` (and ``.npz``).

    python docs/examples/digits_mlp.py /tmp/digits
    ncsolve measure /tmp/digits.safetensors --weight-decay 5e-4 --feature-decay 1e-3 \\
        --batch-size 64 --plot docs/figures/measure_digits.png
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.datasets import load_digits

SIZES = (150, 100, 60, 40, 34)
WD, FD, BATCH, EPOCHS = 5e-4, 1e-3, 64, 300


def main(stem: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    train, test = [], []
    for k, size in enumerate(SIZES):
        idx = rng.permutation(np.flatnonzero(y == k))
        train.append(idx[:size])
        test.append(idx[size: size + 25])
    train, test = rng.permutation(np.concatenate(train)), np.concatenate(test)
    ood = rng.permutation(np.flatnonzero(y >= len(SIZES)))[:100]
    x = torch.tensor(X[train], dtype=torch.float32)
    labels = torch.tensor(y[train])
    K = len(SIZES)
    backbone = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, 16), torch.nn.ReLU())
    head = torch.nn.Linear(16, K)
    params = [*backbone.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=WD)
    mse = torch.nn.MSELoss()
    for _ in range(EPOCHS):
        for i in torch.split(torch.randperm(x.shape[0]), BATCH):
            opt.zero_grad()
            features = backbone(x[i])
            target = torch.nn.functional.one_hot(labels[i], K).float()
            loss = mse(head(features), target) + FD / 2 * (features**2).sum()
            loss.backward()
            opt.step()
    with torch.no_grad():
        arrays = {"features": backbone(x).numpy(), "labels": labels.numpy(),
                  "W1": head.weight.numpy(), "b1": head.bias.numpy(),
                  "test_features": backbone(torch.tensor(X[test], dtype=torch.float32)).numpy(),
                  "test_labels": y[test],
                  "ood_features": backbone(torch.tensor(X[ood], dtype=torch.float32)).numpy()}
    from safetensors.numpy import save_file

    save_file(arrays, f"{stem}.safetensors")
    np.savez(f"{stem}.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "digits")
