"""Report section for ``vnnlib`` certificates (VNN-LIB verdicts): what was proved, on which files, the
split tree's size and the limits of the claim. Used by :func:`verinet.evidence.report.render_report`."""

from __future__ import annotations

__all__ = ["render_vnnlib"]

_TONE = {"unsat": "ok", "sat": "bad"}


def _atom_text(atom: dict) -> str:
    text = ""
    for j, c in enumerate(atom.get("coef", [])):
        c = str(c)
        if c in ("0", "-0"):
            continue
        neg = c.startswith("-")
        mag = c[1:] if neg else c
        term = f"Y_{j}" if mag == "1" else f"{mag}·Y_{j}"
        text += (" − " if neg else " + ") + term if text else ("−" if neg else "") + term
    return f"{text or '0'} {'<' if atom.get('strict') else '≤'} {atom.get('rhs')}"


def render_vnnlib(doc, cert: dict, mpl, check) -> None:
    """Fill ``doc`` (a :class:`verinet.evidence.report._Doc`) with the sections of a ``vnnlib`` certificate."""
    from verinet.evidence.prooftree import vnnlib_statement
    from verinet.evidence.report import _check_block, _model_rows, _vector

    q, claim, ev = cert["query"], cert["claim"], cert.get("evidence", {})
    result = claim.get("result", "?")
    prop = q.get("property", {})
    cases = q.get("cases", [])
    pfile = prop.get("file", "?")
    # the sentence is rebuilt from the query, never copied from the document's own prose
    head = {"unsat": "Proved (unsat)", "sat": "Counterexample (sat)"}.get(result, f"No claim ({result})")
    doc.callout(f"**{head}.** {vnnlib_statement(result, len(cases), pfile)}", _TONE.get(result, "warn"))
    doc.h2("What was analysed")
    rows = _model_rows(cert) + [
        ("Property file", f"`{pfile}`"),
        ("Property SHA-256", f"`{prop.get('sha256', '?')}`"),
        ("Cases", f"{len(cases)} (input box with its unsafe output set)"),
    ]
    for k, case in enumerate(cases[:4]):
        unsafe = case.get("unsafe", [])
        conj = " ∨ ".join("(" + " ∧ ".join(_atom_text(a) for a in c) + ")" for c in unsafe[:3])
        more = f" ∨ … ({len(unsafe)} conjunctions)" if len(unsafe) > 3 else ""
        rows.append((f"Case {k}", f"inputs from `{_vector(case.get('lower', []))}` to "
                                  f"`{_vector(case.get('upper', []))}`; unsafe: {conj}{more}"))
    if len(cases) > 4:
        rows.append(("…", f"{len(cases) - 4} more case(s) in the certificate"))
    rows.append(("Bounds used by the search", f"{q.get('bounds', '?')}"))
    rows.append(("Semantics", cert.get("semantics", "?")))
    doc.table(rows)
    doc.h2("Limits of the claim")
    doc.items([
        (f"It is about the exact real-number function defined by the weights **as written in** "
         f"`{cert['model'].get('file')}` (SHA-256 above); float32 or quantised executions, re-exported files "
         "and preprocessing outside the file are not covered."),
        (f"It covers exactly the input boxes and unsafe sets of `{pfile}` as verinet's VNN-LIB reader parses "
         "them (exact decimals; `<` and `>` strict); the checker compares the file's SHA-256 and its parsed "
         "cases with the recorded query, and shares that reader and the model reader with the analysis."),
        "Nothing is claimed for inputs outside the case boxes.",
        "A result of unknown or timeout makes no claim either way.",
    ])
    doc.h2("Evidence")
    if result == "unsat":
        ev_cases = ev.get("cases", [])
        leaves = [leaf for c in ev_cases if isinstance(c, dict) for leaf in c.get("leaves", [])]
        split = sum(1 for leaf in leaves if leaf.get("fixed"))
        linear = sum(1 for leaf in leaves if leaf.get("proof") == "linear")
        doc.p(f"The split tree of each case: {len(leaves)} leaf part(s) in all ("
              + ", ".join(f"case {k}: {len(c.get('leaves', []))}" for k, c in enumerate(ev_cases[:8]))
              + (", …" if len(ev_cases) > 8 else "") + f"); {split} of them fix ReLU signs (neuron splits), "
              f"{linear} were closed by linear bounds in the search, the others by interval bounds. On every "
              "leaf each unsafe conjunction has an atom proved false.")
        doc.p(f"How the checker re-derives it: {ev.get('checking', '?')}.")
    elif result == "sat":
        cx = ev.get("counterexample", {})
        doc.p(f"Counterexample: the input `{_vector(cx.get('x', []), 8)}` (exact coordinates in the "
              "certificate); the checker evaluates the network exactly there and tests the unsafe set.")
    doc.p("Re-check it independently: `verinet check CERTIFICATE` (the model and property files next to it, "
          "or `--model` / `--property`).")
    _check_block(doc, check)
