"""The checker's exact l2 operator-norm test (``‖mid‖₂ + ‖rad‖₂`` with an integer Sylvester test)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from tests.intervals.test_spectral import _det
from verinet.evidence.certificate import lipschitz_certificate
from verinet.evidence.checker import _IVec, _mid_rad_spectral_ok, _positive_definite, check_certificate
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, save_network
from verinet.network import Layer, Network
from verinet.region import Region


def test_positive_definite_matches_leading_minors():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 5))
        B = rng.integers(-4, 5, size=(n, n))
        A = (B @ B.T + rng.integers(-3, 4) * np.eye(n, dtype=np.int64)).tolist()
        A = [[int(v) for v in row] for row in A]
        minors = [_det([[Fraction(v) for v in row[:k]] for row in A[:k]]) for k in range(1, n + 1)]
        assert _positive_definite(A) == all(m > 0 for m in minors), A


def _rows(M: list[list[Fraction]], R: list[list[Fraction]] | None = None) -> list[_IVec]:
    R = R or [[Fraction(0)] * len(M[0]) for _ in M]
    return [_IVec.box([m - r for m, r in zip(mr, rr)], [m + r for m, r in zip(mr, rr)]) for mr, rr in zip(M, R)]


def test_mid_rad_bound_is_exact_at_the_threshold():
    # ‖[[1, 1], [1, −1]]‖₂ = √2, ‖|J|‖₂ = 2: only the mid/rad test can confirm a bound below 2
    M = [[Fraction(1), Fraction(1)], [Fraction(1), Fraction(-1)]]
    assert _mid_rad_spectral_ok(_rows(M), Fraction(14143, 10000))  # √2 = 1.41421...
    assert not _mid_rad_spectral_ok(_rows(M), Fraction(14142, 10000))
    R = [[Fraction(1, 1000)] * 2 for _ in range(2)]  # ‖rad‖₂ = 0.002
    assert _mid_rad_spectral_ok(_rows(M, R), Fraction(14163, 10000))
    assert not _mid_rad_spectral_ok(_rows(M, R), Fraction(14142, 10000))


def test_lowered_l2_leaf_bound_is_rejected(tmp_path):
    rng = np.random.default_rng(3)
    net = Network((Layer.from_floats(rng.normal(size=(4, 2)), 0.3 * rng.normal(size=4)),
                   Layer.from_floats(rng.normal(size=(2, 4)), np.zeros(2), "identity")))
    save_network(net, tmp_path / "n.json")
    net = load_network(tmp_path / "n.json")
    r = lipschitz(net, Region.box(["-0.5"] * 2, ["0.5"] * 2), norm="2", output="all", tol=1e-9, max_boxes=400)
    assert r.gap <= 1e-9
    cert = lipschitz_certificate(r, net)
    assert check_certificate(cert, tmp_path / "n.json").valid
    leaves = cert["evidence"]["leaves"]
    i = max(range(len(leaves)), key=lambda k: Fraction(leaves[k]["bound"]))
    leaves[i]["bound"] = str(Fraction(leaves[i]["bound"]) * (1 - Fraction(1, 10**6)))
    cert["claim"]["upper"] = leaves[i]["bound"]
    cert["claim"]["lower"] = "0"
    assert not check_certificate(cert, tmp_path / "n.json").valid


def test_exhaustive_small_integer_matrices():
    """Every 2×2 matrix with entries in {−2..2}: confirmed at ‖J‖₂(1 + 1e-9), refused at ‖J‖₂(1 − 1e-9)."""
    for entries in itertools.product(range(-2, 3), repeat=4):
        J = np.array(entries, dtype=float).reshape(2, 2)
        s = float(np.linalg.norm(J, 2))
        if s == 0:
            continue
        M = [[Fraction(int(v)) for v in row] for row in J]
        assert _mid_rad_spectral_ok(_rows(M), Fraction(s) * (1 + Fraction(1, 10**9)))
        assert not _mid_rad_spectral_ok(_rows(M), Fraction(s) * (1 - Fraction(1, 10**9)))
