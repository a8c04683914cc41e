"""Emptiness proofs of sign-constrained parts (``verinet.analyses.empty_parts``) against exact rationals.

* the rigorous kernel ``max_upper`` is ``≥`` the exact maximum of ``Σ λ_i s_i z_i`` over the box (Fraction
  oracle), on random networks with interval weights (3-digit decimals), multipliers of wildly different
  sizes, a cancellation case and a case whose exact maximum is exactly 0; deliberate mutations (biases
  dropped, the final sum rounded to nearest) are caught;
* a part that contains a point (signs read off exactly at a random point) is never proved empty, and
  every proof returned passes the exact Farkas test; proofs are found on random networks;
* the neuron-sign Lipschitz search records the proofs as null leaves and its bounds stay sound.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import verinet.analyses.empty_parts as ep
from verinet.analyses.empty_parts import EmptyPartProver
from verinet.bounds.backends import make_backend
from verinet.bounds.propagation import propagate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import hyp  # noqa: E402
from oracle import ExactLayer, network_from_spec, random_spec  # noqa: E402

F = Fraction


def _exact_maps(spec, slopes, top):
    """Exact ``z_k = A_k x + c_k`` for layers 0..top under the 0/1 ``slopes`` of the layers below ``top``."""
    n = spec[0].n_in
    A = [[F(int(i == j)) for j in range(n)] for i in range(n)]
    c = [F(0)] * n
    maps = []
    for k in range(top + 1):
        L = spec[k]
        Az = [[sum((w * A[t][j] for t, w in enumerate(row)), F(0)) for j in range(n)] for row in L.W]
        cz = [sum((w * c[t] for t, w in enumerate(row)), b) for row, b in zip(L.W, L.b)]
        maps.append((Az, cz))
        if k < top:
            A = [[F(int(slopes[k][i])) * v for v in row] for i, row in enumerate(Az)]
            c = [F(int(slopes[k][i])) * v for i, v in enumerate(cz)]
    return maps


def _exact_max(spec, used, slopes, lo, hi) -> Fraction:
    """``max_{x ∈ [lo, hi]} Σ λ s z(x)`` exactly."""
    top = max(k for k, _, _, _ in used)
    maps = _exact_maps(spec, slopes, top)
    n = len(lo)
    C = [F(0)] * n
    const = F(0)
    for k, j, s, lam in used:
        Az, cz = maps[k]
        q = F(lam) * s
        C = [a + q * b for a, b in zip(C, Az[j])]
        const += q * cz[j]
    return const + sum((max(C[j] * F(lo[j]), C[j] * F(hi[j])) for j in range(n)), F(0))


def _root_signs(net, lo, hi):
    b = make_backend(net)
    pre = propagate(b, b.box(lo[None, :], hi[None, :])).pre
    return [np.where(np.asarray(p.lo)[0] >= 0, 1, np.where(np.asarray(p.hi)[0] <= 0, -1, 0)) for p in pre]


def _random_case(seed: int, kind: str = "decimal"):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, 3, [5, 4], 1, kind=kind)
    net = network_from_spec(spec)
    lo = np.array([-0.5, -0.25, 0.0])
    hi = np.array([0.25, 0.5, 0.75])
    return rng, spec, net, lo, hi


@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1e-300, 1e-9, 1.0, 1e9, 1e290]))
@hyp(40)
def test_max_upper_encloses_the_exact_maximum(seed, scale):
    rng, spec, net, lo, hi = _random_case(seed)
    prover = EmptyPartProver(net, lo, hi, _root_signs(net, lo, hi), np.ones(3, dtype=bool))
    slopes = [rng.integers(0, 2, size=5).astype(np.float64)]
    used = [(0, int(j), int(rng.choice([-1, 1])), float(rng.random() * scale)) for j in rng.choice(5, 2, replace=False)]
    used += [(1, int(j), int(rng.choice([-1, 1])), float(rng.random() * scale)) for j in rng.choice(4, 2, replace=False)]
    got = prover.max_upper(used, slopes)
    exact = _exact_max(spec, used, slopes, lo, hi)
    assert got >= exact, (got, float(exact))
    # and not loose: a relative margin of 1e-9 of the terms' size
    size = sum(abs(v) for *_, v in used) * 100
    assert F(got) - exact <= F(1e-9) * F(size) + F(1e-300), (got, float(exact))


def _cancel_net():
    """Three neurons z = 0·x + b with b = (2^53, 1, −2^53) on x ∈ [0, 1]: Σ z is exactly 1 (float sums lose it)."""
    spec = [ExactLayer(((F(0),), (F(0),), (F(0),)), (F(2**53), F(1), F(-2**53))),
            ExactLayer(((F(1), F(1), F(1)),), (F(0),), "identity")]
    return spec, network_from_spec(spec)


_CANCEL_USED = [(0, 0, 1, 1.0), (0, 1, 1, 1.0), (0, 2, 1, 1.0)]


def test_cancellation_and_exact_zero_maximum():
    spec, net = _cancel_net()
    lo, hi = np.zeros(1), np.ones(1)
    prover = EmptyPartProver(net, lo, hi, _root_signs(net, lo, hi), np.ones(1, dtype=bool))
    assert prover.max_upper(_CANCEL_USED, []) >= _exact_max(spec, _CANCEL_USED, [], lo, hi) == 1
    # z = x1/3 − 1/3 on x1 ∈ [0, 1]: the maximum is exactly 0 (the part z ≥ 0 is the face x1 = 1, not empty)
    spec = [ExactLayer(((F(1, 3),),), (F(-1, 3),)), ExactLayer(((F(1),),), (F(0),), "identity")]
    net = network_from_spec(spec)
    prover = EmptyPartProver(net, lo, hi, _root_signs(net, lo, hi), np.ones(1, dtype=bool))
    assert prover.max_upper([(0, 0, 1, 1.0)], []) >= 0.0
    assert prover.prove(((0, 0, 1),)) is None
    # the part z ≥ 0 of z = x1/3 − 1/2 is empty on the same box: proved
    spec = [ExactLayer(((F(1, 3),),), (F(-1, 2),)), ExactLayer(((F(1),),), (F(0),), "identity")]
    net = network_from_spec(spec)
    prover = EmptyPartProver(net, lo, hi, _root_signs(net, lo, hi), np.ones(1, dtype=bool))
    got = prover.prove(((0, 0, 1),))
    assert got is not None and _exact_max(spec, [(0, 0, 1, v) for _, _, v in got], [], lo, hi) < 0


def test_mutations_are_caught(monkeypatch):
    spec, net = _cancel_net()
    lo, hi = np.zeros(1), np.ones(1)
    prover = EmptyPartProver(net, lo, hi, _root_signs(net, lo, hi), np.ones(1, dtype=bool))
    exact = _exact_max(spec, _CANCEL_USED, [], lo, hi)
    assert prover.max_upper(_CANCEL_USED, []) >= exact
    from intervals.array import IntervalArray

    def nearest_dot(a, b):  # products and sum rounded to nearest: loses the 1 between ±2^53
        lo, hi = np.sum(a.lo * b.lo), np.sum(a.hi * b.hi)
        return IntervalArray.unchecked(np.array([min(lo, hi)]), np.array([max(lo, hi)]))

    with monkeypatch.context() as m:
        m.setattr(ep, "_dot", nearest_dot)
        assert prover.max_upper(_CANCEL_USED, []) < exact
    with monkeypatch.context() as m:  # biases dropped
        m.setattr(ep, "_bias", lambda L: IntervalArray(np.zeros(L.n_out), np.zeros(L.n_out)))
        assert prover.max_upper(_CANCEL_USED, []) < exact


def _signs_at(spec, x):
    """Exact pre-activations and signs (+1 for z ≥ 0, −1 for z < 0) of the hidden layers at the point x."""
    a = [F(v) for v in x]
    out = []
    for L in spec[:-1]:
        z = [sum((w * t for w, t in zip(row, a)), b) for row, b in zip(L.W, L.b)]
        out.append([1 if v >= 0 else -1 for v in z])
        a = [L.activation(v) for v in z]
    return out


@pytest.mark.parametrize("seed", range(12))
def test_parts_with_a_point_are_never_proved_empty_and_proofs_are_exact(seed):
    rng, spec, net, lo, hi = _random_case(seed, "dyadic")
    signs = _root_signs(net, lo, hi)
    prover = EmptyPartProver(net, lo, hi, signs, np.ones(3, dtype=bool))
    proved = 0
    for _ in range(30):
        x = lo + rng.random(3) * (hi - lo)
        at = _signs_at(spec, x)
        # layer 0 unstable neurons all fixed (so layer-1 rows are affine), some of layer 1
        fixed = [(0, j, at[0][j]) for j in range(5) if signs[0][j] == 0]
        fixed += [(1, int(j), at[1][j]) for j in rng.choice(4, int(rng.integers(1, 4)), replace=False)]
        assert prover.prove(tuple(fixed)) is None, (x, fixed)  # x lies in the part
        # the same with flipped random signs: often empty; every proof must pass the exact test
        flip = [(k, j, -s if rng.random() < 0.5 else s) for k, j, s in fixed]
        got = prover.prove(tuple(flip))
        if got is not None:
            proved += 1
            sg = {(k, j): s for k, j, s in flip}
            slopes = [np.array([1 if sg.get((0, j), signs[0][j]) > 0 else 0 for j in range(5)])]
            used = [(k, j, sg[(k, j)], v) for k, j, v in got]
            assert all(v > 0 for _, _, v in got)
            assert _exact_max(spec, used, slopes, lo, hi) < 0
    if seed == 0:
        assert proved > 0  # the search for proofs is not vacuous


def test_neuron_search_records_proofs_and_its_certificate_checks(tmp_path):
    import time

    import verinet.analyses.lipschitz_neuron as ln
    from oracle import finite_difference_slope

    from verinet.analyses.lipschitz import _Evaluator, _output_label
    from verinet.evidence.certificate import lipschitz_certificate
    from verinet.evidence.checker import check_certificate
    from verinet.io import save_network
    from verinet.region import Region

    # 4 inputs: the parts' linear bounds miss some empty parts that the Farkas proofs catch
    from verinet.io import load_network

    spec = random_spec(np.random.default_rng(101), 4, [8, 8], 1)
    path = tmp_path / "n.json"
    save_network(network_from_spec(spec), path)
    net = load_network(path)
    region = Region.box(["-0.5"] * 4, ["0.5"] * 4)
    c, label = _output_label(net, 0)
    l0, h0 = region.outer_box()
    ev = _Evaluator(net, c, "inf", None, h0 > l0, "linear", "linear")
    r = ln.neuron_lipschitz(net, region, ev, c, "inf", label, 1e-9, None, 400, 4, 16, 0.0, 0, None,
                            time.perf_counter())
    nulls = [leaf for leaf in r.partition if leaf.null]
    assert nulls and all(leaf.bound == 0.0 for leaf in nulls)
    rng = np.random.default_rng(0)
    for _ in range(20):  # exact slopes between points of the box never exceed the upper bound
        a, b = (rng.integers(-8, 9, size=4) / 16 for _ in range(2))
        if (a != b).any():
            assert finite_difference_slope(spec, a, b, "inf", 0).le(r.upper)
    # the exact checker confirms every leaf, the null proofs included
    import dataclasses

    r = dataclasses.replace(r, bounds="linear", jacobian="linear")  # as lipschitz() labels the search's result
    assert check_certificate(lipschitz_certificate(r, net), path).valid
