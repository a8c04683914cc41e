"""Sound linear (symbolic) bound propagation: CROWN/DeepPoly back-substitution, rigorous in float64.

Mathematics: Zhang, Weng, Chen, Hsieh & Daniel, "Efficient neural network robustness certification with
general activation functions" (CROWN, NeurIPS 2018), Thm 3.2; Singh, Gehr, Püschel & Vechev, "An abstract
domain for certifying neural networks" (DeepPoly, POPL 2019), Section 4. To bound a linear function
``Γ a_j`` of the activations of layer ``j`` from above, every activation is replaced by a line that lies
above it (where the coefficient is ≥ 0) or below it (where it is < 0) on its pre-activation interval;
``z_j = W_j a_{j−1} + b_j`` is substituted, and so on down to the input box, where the remaining linear
function ``G x`` is maximised exactly: ``Σ_l max(G_l lo_l, G_l hi_l)``. Lower bounds are upper bounds of
``−Γ a_j``. Pre-activation bounds of layer ``k`` use the bounds of layers ``< k``; each is intersected with
interval bound propagation (both are enclosures, so their intersection is one).

Rounding (the proof). The back-substituted coefficients are **point float
matrices**, and every rounding error is folded into the scalar offset with an a-priori bound, so the
statement carried from step to step is, for one box and one row, with ``Γ`` the *exact values of the
floats* we hold:

    S_j:  for every real input x in the box,  f(x) ≤ Γ · a_j(x) + c,  c a float (upper bound).

Step ``S_j ⇒ S_{j−1}`` (layer ``j``: ``z = W a + b`` with ``a = a_{j−1}``, ``W ∈ [Wm − Wr, Wm + Wr]``,
``b ∈ [b_lo, b_hi]``; ``ma ≥ |a|`` from the bounds of layer ``j−1`` or the input box):

1. Relaxation (exact): on ``z_i ∈ [l_i, u_i]``, ``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` with float slopes
   ``s ≥ 0`` and intercepts proved by the activation (:meth:`verinet.activations.ActivationFn.relax_f64`).
   With ``s_i, t_i`` the upper line where ``Γ_i ≥ 0`` and the lower line where ``Γ_i < 0``:
   ``Γ a_j ≤ Σ_i Γ_i (s_i z_i + t_i)``.
2. Substitute ``z_i = W_i a + b_i``. As ``s_i ≥ 0``, ``Γ_i s_i b_i ≤ Γ_i s_i β_i`` with ``β = b_hi`` if
   ``Γ_i ≥ 0`` else ``b_lo``; so ``Γ_i (t_i + s_i b_i) ≤ Γ_i k_i`` for ``k_i ≥ t_U + s_U b_hi`` (rounded up)
   where ``Γ_i ≥ 0`` and ``k_i ≤ t_L + s_L b_lo`` (rounded down) where ``Γ_i < 0``. Hence
   ``Γ a_j ≤ Σ_i Λ_i W_i a + Σ_i Γ_i k_i`` with ``Λ_i = Γ_i s_i`` (exact real).
3. We keep ``Λ̂ = fl(Γ ⊙ s)``: ``|Λ_i − Λ̂_i| ≤ u|Λ̂_i| + η/2`` (Higham eq. 2.5, plus the underflow
   error; 0 when ``s_i = 1``) and ``|W_i a| ≤ h_i := ((|Wm| + Wr) ma)_i``.
4. ``Λ̂ W a ≤ Λ̂ Wm a + Σ_i |Λ̂_i| (Wr ma)_i``, and ``Γ' = fl(Λ̂ Wm)`` (one BLAS GEMM, inner dimension
   ``n_j``) has ``|Γ' − Λ̂ Wm| ≤ γ_{n_j} |Λ̂||Wm| + n_j η`` entrywise (Higham Thm 3.5 with an underflow error
   ``≤ η/2`` per product; any summation order, FMA or not; no Strassen-type GEMM, the assumption of
   :mod:`intervals.linalg`), so ``Λ̂ Wm a ≤ Γ' a + γ_{n_j} Σ_i |Λ̂_i| (|Wm| ma)_i + n_j η Σ ma``.
5. Together ``S_{j−1}`` holds with ``Γ'`` and ``c' ≥ c + Σ_i Γ_i k_i + Σ_i |Λ̂_i| w_i + σ``, where
   ``w_i ≥ γ_{n_j}(|Wm| ma)_i + (Wr ma)_i (+ u h_i unless s_i = 1)`` and
   ``σ = η n_j (n_{j−1} + 1) max(h, ma) ≥ η/2 Σ h + n_j η Σ ma``. ``Σ Γ_i k_i`` is a dot product of ``n_j``
   float products computed in round-to-nearest: its exact value is ``≤ ĉ + γ_n S + nη`` with
   ``S = Σ|Γ_i k_i| ≤ (ŝ + nη)/(1 − γ_n)`` (``ŝ`` the computed sum of the absolute values: non-negative
   terms, ``|ŝ − S| ≤ γ_n S + nη``). The same bound makes the computed ``Σ|Λ̂_i| w_i`` an upper bound.
6. At the input (``a_{−1} = x``, box ``⟨xm, xr⟩``): ``G x ≤ ĉ + |G|(xr + γ_n|xm|) + nη``, ``ĉ = fl(G xm)``
   (the argument of :mod:`intervals.linalg`).

7. Split multipliers (β-CROWN; Wang, Zhang, Xu, Lin, Jana, Hsieh & Kolter, "Beta-CROWN", NeurIPS 2021).
   On the part of a box where neuron signs are fixed (``z_i ≥ 0`` or ``z_i ≤ 0``), any ``D_i`` with
   ``D_i z_i ≥ 0`` there gives ``f ≤ f + Σ_i D_i z_i`` (weak duality: ``D_i = β_i·sign_i``, ``β_i ≥ 0``), so the
   coefficients of ``z`` may move from ``Λ̂`` to ``M̂ = fl(Λ̂ + E)`` with ``E_i = β_i·sign_i``
   (:func:`_split_terms`). Rounding is monotone and fixes floats, so ``D = M̂ − Λ̂`` (exact real) has the
   sign of ``E`` or is 0: the multiplier actually used is admissible. ``Σ D_i b_i`` is bounded above with
   the enclosure ``[sub_down, sub_up]`` of ``D`` and the bias interval, and since ``|M̂| ≤ |Λ̂| + |D|`` the
   error terms of steps 3–5 for ``M̂`` are those of ``Λ̂`` plus ``Σ |D_i| w_i``; ``|Λ − Λ̂|`` is unchanged.

Every float operation that must round up is followed by ``up`` (:mod:`intervals.directed`: a float
``≥`` the successor of the round-to-nearest result, hence ``≥`` the exact value), or uses
:mod:`intervals.rounding`'s directed operations in numpy code. Overflow and NaN: a coefficient vector
that becomes non-finite, or a non-finite partial sum, turns that row's bound into ``+inf`` (the a-priori
bounds assume no overflow; an IEEE overflow never becomes finite again in a sum, and coefficients are
checked explicitly); ``0·inf`` is never formed. No NaN escapes; ``±inf`` is the answer where nothing
better is proved.

Why point coefficients rather than interval ones: the sign of every coefficient is known exactly, so the
upper/lower relaxation choice is never ambiguous and no interval widening accumulates over depth; the
price is a few matrix-vector products per layer (``|Wm| ma``), negligible next to the GEMMs.

Only float64. Activations: any class of :mod:`verinet.activations` (ReLU, leaky ReLU (``0 ≤ α ≤ 1``),
identity, sigmoid and tanh): each one gives its lines and offsets through ``relax_f64``.

Modules: :mod:`~verinet.bounds.linear.prep` (per-network float data and rounding constants),
:mod:`~verinet.bounds.linear.relaxation` (input data, lines and error weights per box and layer),
:mod:`~verinet.bounds.linear.backsub` (steps 1–7), :mod:`~verinet.bounds.linear.tightening` (refined
pre-activation bounds, sign constraints, box tightening) and :mod:`~verinet.bounds.linear.propagate` (the
public functions, re-exported here).
"""

# the private names are the ones the other bound modules (alpha, jacobian_bounds) and the tests use
from verinet.bounds.linear.backsub import (_backsub, _concretize, _relax_step, _split_kernel,  # noqa: F401
                                           _split_terms, _start_rows)
from verinet.bounds.linear.prep import _consts, _LayerPrep, _prepare, _Prepared  # noqa: F401
from verinet.bounds.linear.propagate import (Refine, _propagate, linear_objective_bounds,  # noqa: F401
                                             linear_propagate, linear_propagate_fixed)
from verinet.bounds.linear.relaxation import (_Input, _input_data, _nonneg_matvec_up, _Relax,  # noqa: F401
                                              _relaxation, _weights)
from verinet.bounds.linear.tightening import (_farkas_empty, _farkas_lower, _meet, _refine_pre,  # noqa: F401
                                              _tighten_box, _tighten_box_kernel, _tighten_by_signs)

__all__ = ["Refine", "linear_objective_bounds", "linear_propagate", "linear_propagate_fixed"]
