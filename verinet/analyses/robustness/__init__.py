"""Robustness: local (regressor and classifier), certified radius, global on a domain, parameters.

Every verdict follows one rule: VERIFIED is a proof (rigorous enclosures), FALSIFIED
carries a counterexample re-checked in exact rational arithmetic (piecewise-linear networks) or with a
rigorous point enclosure (smooth activations), anything else is UNKNOWN or TIMEOUT with the best bounds.

Mathematics:

* **Local, regressor** (``|f_k(x) − f_k(x₀)| ≤ ε`` on a ball): two independent proofs.
  (i) the output enclosure over boxes covering the ball, refined by input splitting
  (:func:`verinet.analyses.verify.search_spec` on the atoms ``f_k − f_k(x₀) ≤ ε`` and ``f_k(x₀) − f_k ≤ ε``, with
  ``f(x₀)`` exact or enclosed); (ii) Lebourg's mean value theorem with a verified Lipschitz constant on
  the ball's bounding box: ``|f_k(x) − f_k(x₀)| ≤ L_k · ‖x − x₀‖ ≤ L_k · r`` (Zhou et al. 2023, Thm 5.3).
* **Local, classifier**: the margins ``y_label − y_j > 0`` on the ball (atoms ``y_label − y_j ≤ 0`` are
  unsafe), the label being the rigorously certified argmax at ``x₀`` when not given.
* **Global** (``∀ x, y ∈ D, ‖x − y‖ ≤ δ: |f(x) − f(y)| ≤ ε``): ``L(f, D) · δ ≤ ε``, refined per box ``B``
  of a partition of ``D`` on its δ-neighbourhood ``N_B = (B ⊕ [−δ, δ]ⁿ) ∩ D``: a pair with ``x ∈ B`` has
  ``y ∈ N_B`` (``‖·‖_∞ ≤ ‖·‖_p``) and the segment in the box ``N_B``, so
  ``|f(x) − f(y)| ≤ min(L(f, N_B) · δ, width f(N_B))``.
* **Parameters**: the weights as intervals (absolute/relative radius, or the hull of each weight and its
  quantised value). Interval bound propagation with interval weights encloses the outputs of *every*
  network of the family; the output change over a box ``B`` is at most
  ``max(P.hi − O.lo, O.hi − P.lo)`` with ``P``/``O`` the family/original enclosures on ``B``; the interval
  chain rule with interval weights bounds the Lipschitz constant of every member.

Modules: :mod:`~verinet.analyses.robustness.local` (local robustness and the certified radius),
:mod:`~verinet.analyses.robustness.global_` (global robustness), :mod:`~verinet.analyses.robustness.params`
(parameter perturbations), :mod:`~verinet.analyses.robustness.supremum` (the search for upper bounds of
a per-box quantity both of the last two run on :mod:`verinet.search`) and the shared helpers in
:mod:`~verinet.analyses.robustness._common`; the public names are re-exported here.
"""

from verinet.analyses.robustness.global_ import GlobalResult, global_robustness
from verinet.analyses.robustness.local import LocalResult, RadiusResult, certified_radius, local_robustness
from verinet.analyses.robustness.params import (
    ParamResult,
    Perturbation,
    parameter_robustness,
    perturbed_network,
    quantized_network,
)
from verinet.analyses.robustness.supremum import _bound_search  # noqa: F401  (used by tests)
from verinet.analyses.verify import Verdict

__all__ = ["GlobalResult", "LocalResult", "ParamResult", "Perturbation", "RadiusResult", "Verdict",
           "certified_radius", "global_robustness", "local_robustness", "parameter_robustness",
           "perturbed_network", "quantized_network"]
