"""Sample-quality metrics on feature vectors: FID, KID, k-NN precision and recall, class statistics.

Pure functions of tensors (rows are samples), computed in float64 on whatever device they are given.
"""

from __future__ import annotations

import math

import torch


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of the rows."""
    f = features.double()
    if len(f) < 2:
        raise ValueError(f"need at least 2 samples for a covariance, found {len(f)}")
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (len(f) - 1)


def _psd_sqrt(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative round-off clipped to 0)."""
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

    Tr((S1 S2)^(1/2)) is computed as Tr((R S2 R)^(1/2)) with R = S1^(1/2): the same eigenvalues,
    but a symmetric matrix, so no complex square roots are needed.
    """
    mu1, mu2, s1, s2 = mu1.double(), mu2.double(), sigma1.double(), sigma2.double()
    r = _psd_sqrt(s1)
    cross = torch.linalg.eigvalsh(r @ s2 @ r).clamp_min(0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross
    return max(float(value), 0.0)


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def _poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3."""
    a, b = a.double(), b.double()
    m, n = len(a), len(b)
    kaa, kbb, kab = _poly_kernel(a, a), _poly_kernel(b, b), _poly_kernel(a, b)
    term_a = (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
    term_b = (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
    return float(term_a + term_b - 2 * kab.mean())


def kid(features_a: torch.Tensor, features_b: torch.Tensor, subsets: int = 10, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std of MMD^2 over random subsets."""
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, found {size}")
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        ia = torch.randperm(len(features_a), generator=g)[:size].to(features_a.device)
        ib = torch.randperm(len(features_b), generator=g)[:size].to(features_b.device)
        values.append(mmd2_unbiased(features_a[ia], features_b[ib]))
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def _pairwise_min_count(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor,
                        chunk: int = 2048) -> torch.Tensor:
    """For each query: is it within radius of at least one point (its own k-NN ball)?"""
    inside = []
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i:i + chunk], points)
        inside.append((d <= radii.unsqueeze(0)).any(1))
    return torch.cat(inside)


def knn_radii(points: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point."""
    if len(points) <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, found {len(points)}")
    radii = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk], points)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 1st smallest is the point itself (0)
    return torch.cat(radii)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls as manifold estimates.

    precision: share of fakes inside the real manifold; recall: share of reals inside the fake manifold.
    """
    real, fake = real.double(), fake.double()
    precision = _pairwise_min_count(fake, real, knn_radii(real, k)).double().mean()
    recall = _pairwise_min_count(real, fake, knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)


def class_histogram(predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Share of predictions per class (sums to 1)."""
    counts = torch.bincount(predicted.long().cpu(), minlength=num_classes).double()
    return counts / counts.sum().clamp_min(1)


def class_entropy(predicted: torch.Tensor, num_classes: int) -> float:
    """Entropy (nats) of the predicted-class histogram; ln(K) when all classes are equally frequent."""
    p = class_histogram(predicted, num_classes)
    p = p[p > 0]
    return float(-(p * p.log()).sum()) + 0.0  # + 0.0: a single class gives 0.0, not -0.0


def classes_covered(predicted: torch.Tensor, num_classes: int, min_share: float = 0.1) -> int:
    """Classes predicted for at least `min_share` of the uniform share 1/K (default: 1% of images for K=10)."""
    return int((class_histogram(predicted, num_classes) >= min_share / num_classes).sum())


def pixel_diversity(images: torch.Tensor, pairs: int = 2000, seed: int = 0) -> float:
    """Mean L2 distance per pixel, sqrt(mean squared difference), between random pairs of distinct images."""
    n = len(images)
    if n < 2:
        raise ValueError(f"diversity needs at least 2 images, found {n}")
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(0, n, (pairs,), generator=g)
    j = (i + torch.randint(1, n, (pairs,), generator=g)) % n  # never i itself
    flat = images.flatten(1).double()
    i, j = i.to(flat.device), j.to(flat.device)
    return float((flat[i] - flat[j]).pow(2).mean(1).sqrt().mean())


def gaussian_fid_closed_form(mu1, var1, mu2, var2) -> float:
    """FID between N(mu1, diag(var1)) and N(mu2, diag(var2)): ||mu1-mu2||^2 + sum (sqrt v1 - sqrt v2)^2."""
    return float(sum((a - b) ** 2 for a, b in zip(mu1, mu2, strict=True))
                 + sum((math.sqrt(a) - math.sqrt(b)) ** 2 for a, b in zip(var1, var2, strict=True)))
