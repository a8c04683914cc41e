"""Zero-volume parts (``verinet.analyses.null_parts``) and their check by the certificate checker.

Soundness: a part with a point of positive-area cell (exact region enumeration of ``tests/oracle.py``) is
never proved null; completeness on the cases that motivate the proof: coinciding kinks (a neuron and its
negation, proportional rows in deeper layers) converge to the exact constant, and the certificate with
the multipliers checks; tampered multipliers are refused.
"""

from __future__ import annotations

import copy
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verinet.evidence.certificate import lipschitz_certificate
from verinet.evidence.checker import check_certificate
from verinet.analyses.lipschitz import Status, lipschitz
from verinet.io import load_network, save_network
from verinet.analyses.null_parts import prove_null_part
from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import hyp  # noqa: E402
from oracle import ExactLayer, cells, exact_lipschitz, network_from_spec, random_spec  # noqa: E402

F = Fraction


def _with_negated_twin(spec, i: int, j: int, scale: Fraction):
    """Copy of ``spec`` whose first-layer neuron ``j`` is ``−scale ×`` neuron ``i`` (the same kink line)."""
    first = spec[0]
    W, b = [list(r) for r in first.W], list(first.b)
    W[j] = [-scale * v for v in W[i]]
    b[j] = -scale * b[i]
    return [ExactLayer(tuple(tuple(r) for r in W), tuple(b), first.act, first.alpha), *spec[1:]]


def _signs_of_cell(spec, sg: dict) -> list:
    out = []
    for k, L in enumerate(spec):
        if L.act == "identity":
            out.append(None)
        else:
            out.append(np.array([1.0 if sg.get((k, i), 1) >= 0 else -1.0 for i in range(len(L.W))]))
    return out


@given(seed=st.integers(0, 2**31 - 1), nfix=st.integers(1, 4))
@hyp(30)
def test_hypothesis_parts_with_interior_are_never_proved_null(seed, nfix):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, 2, [5, 5], 1)
    lo, hi = [F(-1, 2), F(-1, 4)], [F(1, 4), F(1, 2)]
    net = network_from_spec(spec)
    found = cells(spec, lo, hi)
    cell = found[int(rng.integers(0, len(found)))]
    sg = cell[3]
    keys = [k for k, v in sg.items() if v != 0]
    if not keys:
        return
    pick = [keys[int(t)] for t in rng.choice(len(keys), size=min(nfix, len(keys)), replace=False)]
    fixed = tuple(sorted((k, i, int(sg[(k, i)])) for k, i in pick))
    got = prove_null_part(net, np.array([float(v) for v in lo]), np.array([float(v) for v in hi]),
                          _signs_of_cell(spec, sg), fixed, np.array([True, True]))
    assert got is None, (fixed, got)


@pytest.mark.parametrize("seed", range(4))
def test_coinciding_kinks_converge_to_the_exact_constant(seed):
    rng = np.random.default_rng(seed)
    spec = _with_negated_twin(random_spec(rng, 2, [4, 4], 1), 0, 1, F(int(rng.integers(1, 8)), 4))
    lo, hi = [F(-1, 2), F(-1, 2)], [F(1, 2), F(1, 2)]
    exact = exact_lipschitz(spec, lo, hi, "inf", 0)
    r = lipschitz(network_from_spec(spec), Region.box(lo, hi), tol=1e-9, max_boxes=20_000)
    assert exact.ge(r.lower) and exact.le(r.upper)
    assert r.status is Status.CONVERGED, (r.lower, r.upper, exact)


def test_a_pinned_coordinate_does_not_count_as_free():
    """On the region {x2 = 0} the rows ``x2`` and ``−x2`` have no free coefficient: the part where both
    are non-negative is the whole segment, which is not a null set of the segment."""
    spec = [ExactLayer(((F(0), F(1)), (F(0), F(-1)), (F(1), F(0))), (F(0), F(0), F(0))),
            ExactLayer(((F(1), F(1), F(3)),), (F(0),), "identity")]
    net = network_from_spec(spec)
    lo, hi = np.array([-1.0, 0.0]), np.array([1.0, 0.0])
    signs = [np.array([1.0, 1.0, 1.0]), None]
    assert prove_null_part(net, lo, hi, signs, ((0, 0, 1), (0, 1, 1)), np.array([True, False])) is None
    # with both coordinates free the same rows prove the line {x2 = 0} null
    assert prove_null_part(net, np.array([-1.0, -1.0]), np.array([1.0, 1.0]), signs, ((0, 0, 1), (0, 1, 1)),
                           np.array([True, True])) is not None


def test_fc_2_2_3_certificate_with_null_leaves_checks(tmp_path):
    path = Path(__file__).resolve().parents[1] / "data" / "nnet" / "fc_2-2-3.nnet"
    net = load_network(path)
    r = lipschitz(net, Region.box(["-1", "-1"], ["1", "1"]), tol=1e-12, max_boxes=2000)
    assert r.lower <= 4 <= r.upper and r.gap <= 1e-12
    assert any(leaf.null for leaf in r.partition)
    cert = lipschitz_certificate(r, net)
    assert check_certificate(cert, path).valid


def _coincident_certificate(tmp_path):
    spec = [ExactLayer(((F(1),), (F(-1),)), (F(0), F(0))), ExactLayer(((F(2), F(-1)),), (F(0),), "identity")]
    save_network(network_from_spec(spec), tmp_path / "n.json")
    net = load_network(tmp_path / "n.json")
    r = lipschitz(net, Region.box(["-1"], ["1"]), tol=1e-9)
    return lipschitz_certificate(r, net), tmp_path / "n.json"


def test_checker_refuses_tampered_null_multipliers(tmp_path):
    cert, model = _coincident_certificate(tmp_path)
    assert check_certificate(cert, model).valid
    nulls = [i for i, leaf in enumerate(cert["evidence"]["leaves"]) if "null" in leaf]
    assert nulls
    bad = copy.deepcopy(cert)
    bad["evidence"]["leaves"][nulls[0]]["null"][0][2] = "1/4"  # 1/4·(−x) + 1/2·x is negative for x < 0
    res = check_certificate(bad, model)
    assert not res.valid and "null multipliers" in res.reason
    # a null claim on an ordinary leaf (one fixed neuron: a half-line with interior)
    bad = copy.deepcopy(cert)
    other = next(i for i, leaf in enumerate(bad["evidence"]["leaves"]) if "null" not in leaf and leaf["fixed"])
    k, j, _ = bad["evidence"]["leaves"][other]["fixed"][0]
    bad["evidence"]["leaves"][other]["null"] = [[k, j, "1"]]
    bad["evidence"]["leaves"][other]["bound"] = "0"
    assert not check_certificate(bad, model).valid
    # a multiplier on a neuron the leaf does not fix
    bad = copy.deepcopy(cert)
    bad["evidence"]["leaves"][nulls[0]]["null"].append([0, 5, "1"])
    assert not check_certificate(bad, model).valid
