"""docs/nonnegative.md: the digits MLP of docs/measure.md trained with cross-entropy,
measured against the nonnegative theory beside the unconstrained one.

Same backbone, data and optimizer as docs/examples/digits_mlp.py (64-32-16 ReLU,
linear head with bias, digits 0..4 at 150/100/60/40/34 samples, SGD lr 0.05,
momentum 0.9, weight_decay 5e-4 on every parameter, explicit feature decay
1e-3/2 ||features_batch||^2, batches of 64, 300 epochs), with
nn.CrossEntropyLoss: lambda_W = lambda_b = 5e-4 in ncsolve's objective, lambda_H
fitted to the lengths for each theory.

    python docs/examples/relu_digits_ce.py
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from ncsolve.measure.relu import compare_relu

SIZES = (150, 100, 60, 40, 34)
WD, FD, BATCH, EPOCHS = 5e-4, 1e-3, 64, 300


def train():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    train = rng.permutation(np.concatenate(
        [rng.permutation(np.flatnonzero(y == k))[:s] for k, s in enumerate(SIZES)]))
    x = torch.tensor(X[train], dtype=torch.float32)
    labels = torch.tensor(y[train])
    backbone = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, 16), torch.nn.ReLU())
    head = torch.nn.Linear(16, len(SIZES))
    opt = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.05,
                          momentum=0.9, weight_decay=WD)
    for _ in range(EPOCHS):
        for i in torch.split(torch.randperm(x.shape[0]), BATCH):
            opt.zero_grad()
            features = backbone(x[i])
            loss = torch.nn.functional.cross_entropy(head(features), labels[i])
            (loss + FD / 2 * (features**2).sum()).backward()
            opt.step()
    with torch.no_grad():
        features = backbone(x).double().numpy()
    return (features, labels.numpy(), [head.weight.detach().double().numpy()],
            [head.bias.detach().double().numpy()])


if __name__ == "__main__":
    features, labels, weights, biases = train()
    print(compare_relu(features, labels, weights, biases, loss="ce", lambda_w=WD,
                       lambda_b=WD, bias="regularized", restarts=1))
