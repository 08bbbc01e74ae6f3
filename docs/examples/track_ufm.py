"""The tracker figure of docs/measure.md: the paper's deep linear UFM trained by PyTorch.

Free features H (an nn.Parameter, N x d), three nn.Linear(bias=False) layers of
width 8, class sizes 20/10/5, full-batch SGD (lr 0.1, momentum 0.9) on
1/(2N) ||W3 W2 W1 H - Y||^2 + 5e-3/2 (sum ||W_j||^2 + ||H||^2), 2000 steps,
measured against the global minimizer every 50 steps.

    python docs/examples/track_ufm.py docs/figures/measure_tracker.png
"""

from __future__ import annotations

import sys

import torch

from ncsolve.measure import Tracker

SIZES, WIDTH, DEPTH, DECAY, STEPS = (20, 10, 5), 8, 3, 5e-3, 2000


def main(path: str) -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(3)
    K, N = len(SIZES), sum(SIZES)
    labels = torch.repeat_interleave(torch.arange(K), torch.tensor(SIZES))
    Y = torch.nn.functional.one_hot(labels, K).double()
    H = torch.nn.Parameter(0.1 * torch.randn(N, WIDTH, generator=g, dtype=torch.float64))
    model = torch.nn.Sequential(*[torch.nn.Linear(WIDTH, WIDTH if j < DEPTH - 1 else K,
                                                  bias=False).double() for j in range(DEPTH)])
    opt = torch.optim.SGD([H, *model.parameters()], lr=0.1, momentum=0.9)
    tracker = Tracker(every=50, lambda_w=DECAY, lambda_h=DECAY)
    for step in range(STEPS + 1):
        tracker.record(step, H, labels, [layer.weight for layer in model])
        opt.zero_grad()
        fit = ((model(H) - Y) ** 2).sum() / (2 * N)
        penalty = sum((p**2).sum() for p in model.parameters()) + (H**2).sum()
        (fit + DECAY / 2 * penalty).backward()
        opt.step()
    tracker.plot().savefig(path, dpi=200)
    print(tracker.last.summary)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "measure_tracker.png")
