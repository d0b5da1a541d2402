"""RankSVM for relative attributes, and its local-learning variant.

Global model (Parikh & Grauman 2011, after Joachims / Chapelle): per attribute one linear
ranker r(x) = w . x on standardised features, the primal

    min_w  1/2 |w|^2 + C sum_{ordered (i, j, y)} max(0, 1 - y w.(x_i - x_j))^2
                     + C sum_{equal (i, j)} (w.(x_i - x_j))^2

solved by Chapelle's primal Newton method: on the current active set (violated ordered pairs
plus all equal pairs) the objective is quadratic, so a Newton step is one d x d solve with the
Hessian I + 2C X^T L X, L the Laplacian of the active pairs over the images (images are few
compared with pairs, so each step costs O(n d^2 + d^3), not O(pairs x d^2)).

Local learning (Yu & Grauman 2014): for each test pair (m, n) take the K training pairs (k, l)
nearest by the product of element-wise distances, min(d(m,k) d(n,l), d(m,l) d(n,k)), and fit a
RankSVM on those K pairs only. With K << d the local problem is solved in its dual form
(w = Z^T beta over the K pair differences Z): the active-set Newton iteration of the same
objective becomes (I + 2C diag(active) Z Z^T) beta = 2C active * y, a K x K system, batched
over many test pairs at once.

Models are saved as ranker model files (``relattr-model``, kind "ranker", builder "ranksvm" or
"ranksvm-ll"; see :mod:`relattr_studio.modeling.model_file`), in the same torch container and
with the same checksum as every other model; the ``.npz`` files of earlier versions still load.
Loading refuses any file that would need pickle. This module imports torch only to save or load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from relattr_studio.core.errors import DataFileError
from relattr_studio.data.metrics import pairwise_accuracy
from relattr_studio.modeling.catalog import RANKERS, RANKSVM, RANKSVM_LL, RANKSVM_RANKERS

DEFAULT_C_GRID = tuple(float(c) for c in 10.0 ** np.arange(-7.0, -0.99, 0.5))


# --------------------------------------------------------------------------- standardisation


@dataclass
class Standardizer:
    """z-scores per feature dimension, fitted on training images only."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardizer":
        x = np.asarray(x, np.float64)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.mean) / self.scale


# --------------------------------------------------------------------------- global RankSVM


def _pair_laplacian(a: np.ndarray, b: np.ndarray, n: int) -> sp.csr_matrix:
    ones = np.ones(len(a))
    p = sp.csr_matrix((np.concatenate([ones, -ones]), (np.tile(np.arange(len(a)), 2), np.concatenate([a, b]))),
                      shape=(len(a), n))
    return (p.T @ p).tocsr()


def ranksvm_objective(w: np.ndarray, x: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, c: float) -> float:
    sc = x @ w
    t = sc[a] - sc[b]
    ordered = y != 0
    hinge = np.maximum(0.0, 1.0 - y[ordered] * t[ordered])
    return float(0.5 * w @ w + c * (hinge @ hinge) + c * (t[~ordered] @ t[~ordered]))


def fit_ranksvm(x: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, c: float, *,
                w0: np.ndarray | None = None, max_iter: int = 50) -> np.ndarray:
    """Weights w (d,) of the primal RankSVM above. ``x``: n x d image features (standardised);
    pairs ``(a[p], b[p])`` index ``x``; ``y[p]`` is +1 (a more), -1 (b more) or 0 (equal)."""
    x = np.asarray(x, np.float64)
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    y = np.asarray(y, np.float64)
    # Only images that occur in a pair matter: compact x to them.
    used, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    xs = x[used]
    a, b = inv[: len(a)], inv[len(a):]
    n, d = xs.shape
    w = np.zeros(d) if w0 is None else np.asarray(w0, np.float64).copy()
    ordered = y != 0
    active = None
    gram = None
    f_old = ranksvm_objective(w, xs, a, b, y, c)
    for _ in range(max_iter):
        s = xs @ w
        t = s[a] - s[b]
        new_active = ~ordered | (y * t < 1)
        if active is not None and np.array_equal(new_active, active):
            break
        active = new_active
        aa, bb, yy = a[active], b[active], y[active]
        lap = _pair_laplacian(aa, bb, n)
        r = np.bincount(aa, yy, minlength=n) - np.bincount(bb, yy, minlength=n)
        if n < d:
            # Push-through identity: (I + X^T M X)^-1 X^T = X^T (I + M X X^T)^-1, an n x n solve.
            if gram is None:
                gram = xs @ xs.T
            w_new = xs.T @ np.linalg.solve(np.eye(n) + 2 * c * (lap @ gram), 2 * c * r)
        else:
            h = np.eye(d) + 2 * c * (xs.T @ (lap @ xs))
            w_new = np.linalg.solve(h, 2 * c * (xs.T @ r))
        # The active set can overshoot; backtrack along the Newton direction until f decreases.
        step = 1.0
        while True:
            cand = w + step * (w_new - w)
            f_new = ranksvm_objective(cand, xs, a, b, y, c)
            if f_new <= f_old + 1e-12 or step < 1e-4:
                break
            step *= 0.5
        w, f_old = cand, f_new
    return w


def choose_c(x: np.ndarray, train: tuple, val: tuple, grid=DEFAULT_C_GRID,
             ctx=None) -> tuple[float, dict[float, float]]:
    """The C of ``grid`` with the best pairwise accuracy on ``val`` (ties: the smaller C).
    ``train``/``val``: (a, b, y) index arrays into ``x``. ``ctx``: a JobContext, checked for
    cancel before each fit."""
    accs = {}
    w = None
    for c in sorted(grid):
        if ctx is not None:
            ctx.check()
        w = fit_ranksvm(x, *train, c, w0=w)
        s = x @ w
        va, vb, vy = val
        accs[c] = pairwise_accuracy(s[va] - s[vb], vy)
    best = max(sorted(accs), key=lambda c: (accs[c], -c))
    return best, accs


# --------------------------------------------------------------------------- local learning


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of x and rows of y."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.sqrt(np.maximum(d2, 0.0))


def nearest_training_pairs(dist: np.ndarray, test_a: np.ndarray, test_b: np.ndarray,
                           train_a: np.ndarray, train_b: np.ndarray, k: int) -> np.ndarray:
    """Indices (T x K, nearest first) of the K training pairs nearest to each test pair.

    ``dist[i, j]`` is the distance between image i and image j (rows index test images,
    columns training images); pair distance = min(d(m,k) d(n,l), d(m,l) d(n,k)).
    """
    dm, dn = dist[test_a], dist[test_b]
    pd = np.minimum(dm[:, train_a] * dn[:, train_b], dm[:, train_b] * dn[:, train_a])
    k = min(k, pd.shape[1])
    idx = np.argpartition(pd, k - 1, axis=1)[:, :k]
    order = np.argsort(np.take_along_axis(pd, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def local_ranksvm_margins(z: np.ndarray, y: np.ndarray, q: np.ndarray, c: float, *, max_iter: int = 30) -> np.ndarray:
    """Batched local RankSVM in dual form: for each of B problems with K pair differences
    ``z`` (B x K x d) and labels ``y`` (B x K, +1/-1/0), the margin w . q of the fitted model
    on the query difference ``q`` (B x d)."""
    y = np.asarray(y, np.float64)
    g = np.einsum("bkd,bld->bkl", z, z)
    eye = np.eye(z.shape[1])
    ordered = y != 0
    active = np.ones_like(ordered)
    beta = np.zeros_like(y)
    for _ in range(max_iter):
        m = eye + 2 * c * active[:, :, None] * g
        beta = np.linalg.solve(m, (2 * c * active * y)[..., None])[..., 0]
        t = np.einsum("bkl,bl->bk", g, beta)
        new_active = ~ordered | (y * t < 1)
        if np.array_equal(new_active, active):
            break
        active = new_active
    return np.einsum("bk,bkd,bd->b", beta, z, q)


def local_ranksvm_scores(x: np.ndarray, train: tuple, test_a: np.ndarray, test_b: np.ndarray, *,
                         k: int = 100, c: float = 1.0, chunk: int = 128, ctx=None) -> np.ndarray:
    """Margins w_local . (x_a - x_b) for each test pair (positive: a shows more), each from a
    RankSVM fitted on its K nearest training pairs. ``x``: standardised features of all images."""
    x = np.asarray(x, np.float64)
    ta, tb, ty = (np.asarray(v) for v in train)
    test_a = np.asarray(test_a, np.int64)
    test_b = np.asarray(test_b, np.int64)
    train_imgs, inv = np.unique(np.concatenate([ta, tb]), return_inverse=True)
    ca, cb = inv[: len(ta)], inv[len(ta):]
    test_imgs, tinv = np.unique(np.concatenate([test_a, test_b]), return_inverse=True)
    qa, qb = tinv[: len(test_a)], tinv[len(test_a):]
    dist = pairwise_distances(x[test_imgs], x[train_imgs])
    out = np.empty(len(test_a))
    for s in range(0, len(test_a), chunk):
        if ctx is not None:
            ctx.check()
        sl = slice(s, s + chunk)
        nn = nearest_training_pairs(dist, qa[sl], qb[sl], ca, cb, k)
        z = x[ta[nn]] - x[tb[nn]]
        q = x[test_a[sl]] - x[test_b[sl]]
        out[sl] = local_ranksvm_margins(z, ty[nn].astype(np.float64), q, c)
    return out


# --------------------------------------------------------------------------- model files


@dataclass
class RankSVMModel:
    """Linear rankers, one per attribute, over standardised features of one kind.

    ``local`` (optional) keeps what the local-learning variant needs to rank a new pair: the
    standardised training features and, per attribute, its training pairs, K and C_local.
    """

    attributes: list[str]
    weights: np.ndarray  # A x D, on standardised features
    standardizer: Standardizer
    feature_kind: str
    c: list[float]
    info: dict = field(default_factory=dict)
    local: dict | None = None  # {"k", "c", "x", "pairs": {attr: (a, b, y)}}

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Rank scores N x A of raw features (N x D, the model's feature kind)."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.weights.shape[1]:
            raise ValueError(f"features of shape {features.shape}; this model takes N x {self.weights.shape[1]} "
                             f"({self.feature_kind})")
        return (self.standardizer(features) @ self.weights.T).astype(np.float32)

    def compare_local(self, features_a: np.ndarray, features_b: np.ndarray, attribute: str) -> np.ndarray:
        """Local-learning margins for pairs of raw features (positive: a shows more)."""
        if self.local is None:
            raise ValueError("this model was saved without its local-learning training data")
        lx = self.local["x"]
        pa, pb, py = self.local["pairs"][attribute]
        xa, xb = self.standardizer(features_a), self.standardizer(features_b)
        n = len(lx)
        x = np.concatenate([lx, xa, xb])
        ia = np.arange(n, n + len(xa))
        ib = np.arange(n + len(xa), n + 2 * len(xa))
        return local_ranksvm_scores(x, (pa, pb, py), ia, ib, k=self.local["k"], c=self.local["c"][attribute])

    # --- the ranker interface every registered ranker has: a builder name, its config, and
    # the weights as named tensors (what a model file stores and a builder's model loads)

    @property
    def registry_name(self) -> str:
        return RANKSVM_LL if self.local is not None else RANKSVM

    def config(self) -> dict:
        """The builder's keyword arguments besides ``attributes`` (C and K, not the weights)."""
        local = None
        if self.local is not None:
            local = {"k": int(self.local["k"]), "c": {a: float(v) for a, v in self.local["c"].items()}}
        return {"feature_kind": self.feature_kind, "c": [float(c) for c in self.c], "local": local}

    def state_dict(self) -> dict:
        """Weights, standardiser and local-learning data as named tensors."""
        import torch

        weights = {"weights": torch.from_numpy(np.asarray(self.weights, np.float64)),
                   "mean": torch.from_numpy(np.asarray(self.standardizer.mean, np.float64)),
                   "scale": torch.from_numpy(np.asarray(self.standardizer.scale, np.float64))}
        if self.local is not None:
            weights["local_x"] = torch.from_numpy(np.asarray(self.local["x"], np.float32))
            for i, attr in enumerate(self.attributes):
                weights[f"local_pairs.{i}"] = torch.from_numpy(np.stack(self.local["pairs"][attr]).astype(np.int64))
        return weights

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Take the tensors of :meth:`state_dict`; a RuntimeError (as torch modules raise) where
        they do not fit this model's attributes."""
        want = {"weights", "mean", "scale"}
        if self.local is not None:
            want |= {"local_x"} | {f"local_pairs.{i}" for i in range(len(self.attributes))}
        missing, unexpected = sorted(want - set(state)), sorted(set(state) - want)
        if missing or (strict and unexpected):
            raise RuntimeError(f"Error(s) in loading the RankSVM state:\nmissing: {missing}\nunexpected: {unexpected}")
        w = {k: state[k].numpy() for k in want}
        weights, mean, scale = (w[k].astype(np.float64) for k in ("weights", "mean", "scale"))
        if weights.ndim != 2 or weights.shape != (len(self.attributes), len(mean)) or scale.shape != mean.shape:
            raise RuntimeError(f"Error(s) in loading the RankSVM state:\nweights of shape {weights.shape} for "
                               f"{len(self.attributes)} attributes and {len(mean)} features")
        self.weights, self.standardizer = weights, Standardizer(mean, scale)
        if self.local is not None:
            self.local["x"] = w["local_x"].astype(np.float64)
            self.local["pairs"] = {a: tuple(w[f"local_pairs.{i}"].astype(np.int64)) for i, a in enumerate(self.attributes)}

    def save(self, path: str | Path) -> Path:
        """Write this model to ``path`` (a ranker model file; ``.ckpt`` by convention) atomically."""
        from relattr_studio.modeling.model_file import save_model_file

        return save_model_file(path, self.to_payload())

    def to_payload(self, *, train_state: dict | None = None) -> dict:
        """The ``relattr-model`` payload (kind "ranker"): :meth:`state_dict` as the weights,
        :meth:`config` as the config, ``info`` as the card, and ``train_state`` if given."""
        from relattr_studio.modeling.model_file import model_file_payload
        from relattr_studio.modeling.model_file_legacy import ranksvm_preprocessing

        return model_file_payload(
            kind="ranker", builder=self.registry_name, config=self.config(), attributes=self.attributes,
            preprocessing=ranksvm_preprocessing(self.feature_kind), weights=self.state_dict(),
            card={"info": dict(self.info)}, train_state=train_state)


@RANKERS.register(RANKSVM, "RankSVM: a linear ranker per attribute on GIST + Lab features (Parikh & Grauman)")
@RANKERS.register(RANKSVM_LL, "RankSVM with local learning: a model per test pair from its K nearest "
                  "training pairs (Yu & Grauman)")
def build_ranksvm(*, attributes, feature_kind: str, c, local: dict | None = None) -> RankSVMModel:
    """An unfitted RankSVM (zero weights, no features yet) of the given config, as the registry
    builds every ranker; :meth:`RankSVMModel.load_state_dict` gives it its weights."""
    attributes = [str(a) for a in attributes]
    c = [float(v) for v in c]
    if len(c) != len(attributes):
        raise ValueError(f"{len(c)} values of C for {len(attributes)} attributes")
    if local is not None:
        local = {"k": int(local["k"]), "c": {str(a): float(v) for a, v in local["c"].items()},
                 "x": np.zeros((0, 0)), "pairs": {}}
    return RankSVMModel(attributes, np.zeros((len(attributes), 0)), Standardizer(np.zeros(0), np.ones(0)),
                        str(feature_kind), c, {}, local)


def ranksvm_from_model_file(model_file) -> RankSVMModel:
    """The RankSVM of a ranker file (a ``ModelFile`` of builder "ranksvm" or "ranksvm-ll")."""
    from relattr_studio.modeling.ranker_file import load_ranker

    if model_file.builder not in RANKSVM_RANKERS:
        raise DataFileError(model_file.path, f"it is a {model_file.builder} ranker, not a RankSVM model",
                            "load it as a ranker checkpoint (relattr_studio.training.checkpoint.load_checkpoint)")
    model = load_ranker(model_file)
    model.info = dict(model_file.card.get("info", {}))
    return model


def load_ranksvm(path: str | Path) -> RankSVMModel:
    """Load a model saved by :meth:`RankSVMModel.save`, or an ``.npz`` of earlier versions, without
    executing code.

    Raises DataFileError for a file that is not such a model, that needs pickle, or that is damaged.
    """
    from relattr_studio.modeling.model_file import read_model_file

    return ranksvm_from_model_file(read_model_file(path, kind="ranker"))
