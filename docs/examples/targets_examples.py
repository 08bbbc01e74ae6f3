"""The worked examples of docs/targets.md (python docs/examples/targets_examples.py)."""

import numpy as np

from ncsolve import predict


def cosine(result):
    gram = result.gram_features()
    lengths = np.sqrt(np.diag(gram))
    off = gram / np.outer(lengths, lengths)
    return off[~np.eye(len(lengths), dtype=bool)].mean()


print("1. label smoothing, n = 100,100,100,100, depth 3, decays 5e-4")
for bias in ("none", "free"):
    for eps in (0.0, 0.1, 0.3):
        r = predict(n=[100] * 4, depth=3, bias=bias, label_smoothing=eps)
        print(f"  bias {bias:4s} eps {eps:3.1f}: sigma {np.round(r.sigma, 6).tolist()}  "
              f"||hbar|| {r.feature_norm[0]:.6g}  cosine {cosine(r):+.6f}  "
              f"geometry: {r.geometry}  loss {r.loss:.10g}")

print("\n2. label smoothing 0.1, n = 200,100,50,50, depth 3, bias none")
r = predict(n=[200, 100, 50, 50], depth=3, label_smoothing=0.1)
plain = predict(n=[200, 100, 50, 50], depth=3)
print("  sigma smoothed:", np.round(r.sigma, 6).tolist())
print("  sigma one-hot: ", np.round(plain.sigma, 6).tolist())
print("  feature_norm:  ", np.round(r.feature_norm, 6).tolist())
print("  one-hot:       ", np.round(plain.feature_norm, 6).tolist())
print("  target_residual:", np.round(r.target_residual, 6).tolist(), " geometry:", r.geometry)

print("\n3. soft labels (a teacher's class-mean probabilities), n = 300,200,100, depth 2")
S = np.array([[0.80, 0.15, 0.10], [0.15, 0.70, 0.30], [0.05, 0.15, 0.60]])
r = predict(n=[300, 200, 100], depth=2, soft_labels=S, lambda_w=5e-3, lambda_h=5e-3)
print("  sigma:", np.round(r.sigma, 6).tolist(), " z:", np.round(r.z, 6).tolist())
print("  critical decays:", np.round(r.direction_critical_decay, 6).tolist())
print("  outputs (column k: class k's mean output):")
print("   ", np.round(r.gram_outputs(), 4).tolist())

print("\n4. regression, N = 10,000, t = 3, depth 1 and 3, free bias")
rng = np.random.default_rng(0)
cov_root = np.array([[1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.3, 0.2, 0.05]])
Y = rng.normal(size=(10_000, 3)) @ cov_root.T + np.array([2.0, -1.0, 0.5])
lambda_w, lambda_h = 1e-1, 1e-5
r1 = predict(targets=Y, bias="free", lambda_w=lambda_w, lambda_h=lambda_h)
centred = Y - Y.mean(axis=0)
values, vectors = np.linalg.eigh(centred.T @ centred / len(Y))
paper_h = len(Y) * lambda_h
published = np.sqrt(paper_h / lambda_w) * (vectors * np.maximum(
    np.sqrt(values) - np.sqrt(paper_h * lambda_w), 0)) @ vectors.T
print("  target covariance eigenvalues:", np.round(values[::-1], 6).tolist())
print("  depth 1 W W^T (ncsolve):  ", np.round(r1.gram_classifier(), 6).tolist())
print("  depth 1 W W^T (published):", np.round(published, 6).tolist())
print("  largest difference:", float(np.abs(r1.gram_classifier() - published).max()))
print("  directions surviving:", r1.rank, " collapse decays:",
      np.round(r1.direction_critical_decay, 6).tolist())
r3 = predict(targets=Y, depth=3, bias="free", lambda_w=lambda_w, lambda_h=lambda_h)
print("  depth 3: surviving", r3.rank, " z:", np.round(r3.z, 4).tolist(), " collapse decays:",
      np.round(r3.direction_critical_decay, 6).tolist(), " lbar:", f"{r3.problem.lbar:.6g}")
