"""``verinet robust local|global|params|radius``: robustness verdicts (exit 0 verified, 10 falsified,
20 unknown/timeout, 3 bad input)."""

from __future__ import annotations

import click

from verinet.cli._common import (
    CONTEXT_SETTINGS,
    EXIT_FALSIFIED,
    EXIT_OK,
    EXIT_UNKNOWN,
    VerinetGroup,
    emit_json,
    info,
    positive_seconds,
)

__all__ = ["robust"]

_NORM = click.option("--norm", type=click.Choice(["inf", "2", "1"]), default="inf", show_default=True,
                     help="Input norm.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
_QUIET = click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
_COORD = click.option("--coordinates", type=click.Choice(["raw", "normalized"]),
                      help=".nnet files: input coordinates (default raw).")


def _time_opt(default: float):
    return click.option("--time-limit", type=float, default=default, show_default=True, help="Seconds (> 0).",
                        callback=_check_seconds)


def _check_seconds(ctx, param, value):
    positive_seconds(value, "--time-limit")
    return value


def _progress(quiet: bool):
    last: dict = {}

    def show(stats: dict) -> None:
        last.update(stats)
        info(f"[{stats['seconds']:7.1f} s] {_stats_text(stats)}", quiet)
    show.last = last  # the latest report, printed if the run is interrupted
    return show


def _stats_text(stats: dict) -> str:
    return "  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()
                     if k != "seconds")


def _interruptible(call, last: dict, as_json: bool):
    """Run an analysis; on Ctrl-C print "unknown" with the last (sound) progress report and exit 20."""
    try:
        return call()
    except KeyboardInterrupt:
        info("interrupted")
        if as_json:
            emit_json({"verdict": "unknown", "interrupted": True, "progress": last})
        else:
            click.echo("unknown (interrupted)")
            if last:
                click.echo(f"  after {last.get('seconds', 0):.3g} s: {_stats_text(last)}")
        raise SystemExit(EXIT_UNKNOWN) from None


def _finish(verdict, payload: dict, lines: list[str], as_json: bool) -> None:
    from verinet.analyses.robustness import Verdict

    if as_json:
        emit_json(payload)
    else:
        click.echo("\n".join(lines))
    code = {Verdict.VERIFIED: EXIT_OK, Verdict.FALSIFIED: EXIT_FALSIFIED, None: EXIT_OK}.get(verdict, EXIT_UNKNOWN)
    click.get_current_context().exit(code)


def _mode(epsilon, label, output):
    from verinet.cli._query import parse_index, parse_number

    if epsilon is not None and label is not None:
        raise click.UsageError("give either --epsilon (regressor) or --label (classifier), not both")
    if output is not None and epsilon is None:
        raise click.UsageError("--output goes with --epsilon")
    eps = None if epsilon is None else parse_number(epsilon, "--epsilon")
    lab = None if label is None else parse_index(label, "--label")
    out = None if output is None else parse_index(output, "--output")
    return eps, lab, out


def _cex_lines(x, y, what="f(x)") -> list[str]:
    if x is None:
        return []
    return [f"  x = [{', '.join(map(str, (_num(v) for v in x)))}]",
            f"  {what} = [{', '.join(map(str, (_num(v) for v in y)))}]"]


def _num(v):
    return v if isinstance(v, float) else float(v)


@click.group("robust", cls=VerinetGroup, context_settings=CONTEXT_SETTINGS)
def robust() -> None:
    """Robustness verdicts: local (ball), certified radius, global (domain), parameters.

    Exit codes: 0 verified, 10 falsified (counterexample checked exactly), 20 unknown or timeout,
    3 bad input, 2 usage error.
    """


_CERT_FORMAT = click.option(
    "--certificate-format", "cert_format", type=click.Choice(["auto", "json", "npz"]), default="auto",
    show_default=True, help="json: leaves inline; npz: a small JSON document plus a binary <name>.leaves.npz "
    "companion; auto: npz from 20000 leaves on.")


@robust.command("local")
@click.argument("model")
@click.option("--center", required=True, help="Centre: comma-separated numbers or a .npy/.json/.txt file.")
@click.option("--radius", required=True, help="Radius of the ball (> 0; exact decimal).")
@_NORM
@click.option("--epsilon", help="Regressor: allowed output deviation |f(x) - f(center)|.")
@click.option("--output", help="Regressor: output index (default: every output).")
@click.option("--label", help="Classifier: the label that must stay the argmax (default: argmax at the centre).")
@_time_opt(30.0)
@click.option("--max-boxes", type=int, default=1_000_000, show_default=True, help="Budget of boxes.")
@_COORD
@click.option("--certificate", "cert_file", type=click.Path(dir_okay=False),
              help="Also write a certificate here (verified: a partition each of whose boxes proves the "
                   "property by interval bounds; falsified: the counterexample); check it with `verinet check`.")
@_CERT_FORMAT
@_JSON
@_QUIET
def local(model, center, radius, norm, epsilon, output, label, time_limit, max_boxes, coordinates, cert_file,
          as_json, quiet, cert_format="auto") -> None:
    """Is MODEL robust on the ball ||x - center|| <= radius?

    \b
    Examples:
      verinet robust local net.json --center 0.5,0.5 --radius 0.01 --epsilon 0.1
      verinet robust local clf.onnx --center x.npy --radius 0.03 --norm 2
    """
    from verinet.cli._query import load_model, parse_center, parse_number
    from verinet.analyses.robustness import local_robustness

    eps, lab, out = _mode(epsilon, label, output)
    net = load_model(model, coordinates)
    c, rad, prog = parse_center(center, "--center"), parse_number(radius, "--radius"), _progress(quiet)
    r = _interruptible(lambda: local_robustness(net, c, rad, norm=norm, epsilon=eps, label=lab, output=out,
                                                time_limit=time_limit, max_boxes=max_boxes, progress=prog),
                       prog.last, as_json)
    what = (f"label {r.label} stays the argmax" if r.mode == "classifier"
            else f"|f(x) - f(center)| <= {epsilon} for output(s) {', '.join(map(str, r.outputs))}")
    lines = [r.verdict.value, f"{r.region.describe()}: {what}"]
    if r.bound is not None:
        lines.append(f"  {'worst margin >=' if r.mode == 'classifier' else 'max deviation <='} {r.bound!r}")
    if r.lipschitz_bound is not None:
        lines.append(f"  Lipschitz bound L*r = {r.lipschitz_bound!r}")
    lines += _cex_lines(r.x, r.y)
    if r.note:
        lines.append(f"  note: {r.note}")
    lines.append(f"  {r.boxes} boxes, {r.seconds:.3g} s")
    if cert_file:
        _local_certificate(cert_file, r, net, quiet, cert_format)
    _finish(r.verdict, r.to_json(), lines, as_json)


def _local_certificate(path, r, net, quiet: bool, cert_format: str = "auto") -> None:
    """Write the certificate of a local robustness result (one error line if it cannot be built)."""
    from verinet.evidence.certificate import local_robustness_certificate, write_certificate

    write_certificate(local_robustness_certificate(r, net, format=cert_format), path)
    info(f"certificate written to {path}", quiet)


@robust.command("radius")
@click.argument("model")
@click.option("--center", required=True, help="Centre: comma-separated numbers or a .npy/.json/.txt file.")
@_NORM
@click.option("--epsilon", help="Regressor: allowed output deviation.")
@click.option("--output", help="Regressor: output index (default: every output).")
@click.option("--label", help="Classifier: label (default: argmax at the centre).")
@click.option("--r-max", default="1", show_default=True, help="Largest radius tried.")
@click.option("--tol", default="1e-3", show_default=True, help="Stop when the bracket is this narrow.")
@_time_opt(60.0)
@_COORD
@click.option("--certificate", "cert_file", type=click.Path(dir_okay=False),
              help="Also write a certificate here: a partition of the verified ball each of whose boxes proves "
                   "the property, and the counterexample of the falsified radius; check it with `verinet check`.")
@_JSON
@_QUIET
def radius(model, center, norm, epsilon, output, label, r_max, tol, time_limit, coordinates, as_json,
           quiet, cert_file=None) -> None:
    """Certified robustness radius around a centre: largest verified and smallest falsified radius."""
    from verinet.cli._query import load_model, parse_center, parse_number
    from verinet.analyses.robustness import certified_radius

    eps, lab, out = _mode(epsilon, label, output)
    net = load_model(model, coordinates)
    c, rmax, tol_q = parse_center(center, "--center"), parse_number(r_max, "--r-max"), parse_number(tol, "--tol")
    r = _interruptible(lambda: certified_radius(net, c, norm=norm, label=lab, epsilon=eps, output=out, r_max=rmax,
                                                tol=tol_q, time_limit=time_limit), {}, as_json)
    lines = [f"verified radius:  {'none' if r.verified_radius is None else float(r.verified_radius)!r}",
             f"falsified radius: {'none found' if r.falsified_radius is None else float(r.falsified_radius)!r}",
             f"  {len(r.probes)} probes, {r.seconds:.3g} s"]
    if r.verified_radius is not None:
        verdict = None
    else:
        from verinet.analyses.robustness import Verdict
        verdict = Verdict.FALSIFIED if r.falsified_radius is not None else Verdict.UNKNOWN
    if cert_file:
        from verinet.evidence.certificate import radius_certificate, write_certificate

        write_certificate(radius_certificate(r, net, c, output=out), cert_file)
        info(f"certificate written to {cert_file}", quiet)
    _finish(verdict, r.to_json(), lines, as_json)


def _refuse_certificate(command: str, why: str):
    """A ``--certificate`` option that refuses with one line (exit 2) instead of silently writing nothing."""

    def callback(ctx, param, value):
        if value is not None:
            raise click.UsageError(f"--certificate is not supported by `verinet robust {command}`: {why}")
        return value

    return click.option("--certificate", "cert_file", metavar="PATH", expose_value=False, callback=callback,
                        help=f"Not supported (refused with exit code 2): {why}")


@robust.command("global")
@click.argument("model")
@click.option("--box", help='Domain: JSON file {"lower": [...], "upper": [...]}.')
@click.option("--domain", is_flag=True, help="Domain: the model's own input domain.")
@click.option("--delta", required=True, help="Input distance δ.")
@click.option("--epsilon", required=True, help="Allowed output difference ε.")
@click.option("--output", help="Output index (default: every output).")
@_NORM
@_time_opt(60.0)
@_COORD
@_refuse_certificate("global", "its verdict rests on a bound search over pairs of inputs that the exact "
                               "checker cannot replay yet; certify the Lipschitz constant with `verinet "
                               "lipschitz --certificate` instead")
@_JSON
@_QUIET
def global_(model, box, domain, delta, epsilon, output, norm, time_limit, coordinates, as_json, quiet) -> None:
    """For all x, y in the domain with ||x - y|| <= δ: is |f(x) - f(y)| <= ε?"""
    from verinet.cli._query import domain_region, load_model, parse_index, parse_number
    from verinet.analyses.robustness import global_robustness

    net = load_model(model, coordinates)
    region = domain_region(net, box, domain)
    dq, eq, prog = parse_number(delta, "--delta"), parse_number(epsilon, "--epsilon"), _progress(quiet)
    k = None if output is None else parse_index(output, "--output")
    r = _interruptible(lambda: global_robustness(net, region, dq, eq, norm=norm, output=k, time_limit=time_limit,
                                                 progress=prog), prog.last, as_json)
    lines = [r.verdict.value, f"{region.describe()}: |f(x) - f(y)| <= {epsilon} when ||x - y|| <= {delta}"]
    if r.bound is not None:
        lines.append(f"  sup |f(x) - f(y)| <= {r.bound!r}")
    if r.lipschitz is not None:
        lines.append(f"  Lipschitz constant <= {r.lipschitz!r}")
    if r.x is not None:
        lines += [f"  x = {[_num(v) for v in r.x]}", f"  y = {[_num(v) for v in r.y]}",
                  f"  f(x) = {[_num(v) for v in r.values[0]]}", f"  f(y) = {[_num(v) for v in r.values[1]]}"]
    lines.append(f"  {r.boxes} boxes, {r.seconds:.3g} s")
    _finish(r.verdict, r.to_json(), lines, as_json)


@robust.command("params")
@click.argument("model")
@click.option("--box", help='Domain: JSON file {"lower": [...], "upper": [...]}.')
@click.option("--domain", is_flag=True, help="Domain: the model's own input domain.")
@click.option("--relative", help="Every parameter moves by at most this fraction of its magnitude.")
@click.option("--absolute", help="Every parameter moves by at most this amount.")
@click.option("--quantize", type=click.Choice(["float16", "bfloat16", "int8"]), help="Quantise the parameters.")
@click.option("--weights-only", is_flag=True, help="Keep the biases exact.")
@click.option("--epsilon", help="Question: does every output stay within ε of the original?")
@click.option("--output", help="Output index (default: every output).")
@_NORM
@click.option("--no-lipschitz", is_flag=True, help="Skip the Lipschitz bound of the perturbed family.")
@_time_opt(30.0)
@_COORD
@_refuse_certificate("params", "its claim is about a family of perturbed networks, which the exact checker "
                               "(one model file, exact weights) cannot re-verify")
@_JSON
@_QUIET
def params(model, box, domain, relative, absolute, quantize, weights_only, epsilon, output, norm, no_lipschitz,
           time_limit, coordinates, as_json, quiet) -> None:
    """Effect of perturbing or quantising the weights: output change and Lipschitz bound on a domain."""
    from verinet.cli._query import domain_region, load_model, parse_index, parse_number
    from verinet.analyses.robustness import Perturbation, parameter_robustness

    chosen = [v is not None for v in (relative, absolute, quantize)]
    if sum(chosen) != 1:
        raise click.UsageError("give exactly one of --relative, --absolute, --quantize")
    if quantize is not None:
        pert = Perturbation.quantize(quantize, biases=not weights_only)
    elif relative is not None:
        pert = Perturbation.relative(parse_number(relative, "--relative"), biases=not weights_only)
    else:
        pert = Perturbation.absolute(parse_number(absolute, "--absolute"), biases=not weights_only)
    net = load_model(model, coordinates)
    region = domain_region(net, box, domain)
    eq = None if epsilon is None else parse_number(epsilon, "--epsilon")
    k, prog = None if output is None else parse_index(output, "--output"), _progress(quiet)
    r = _interruptible(lambda: parameter_robustness(net, region, perturbation=pert, epsilon=eq, norm=norm, output=k,
                                                    time_limit=time_limit, lipschitz=not no_lipschitz,
                                                    progress=prog), prog.last, as_json)
    lines = [r.verdict.value if r.verdict is not None else r.status_text, f"{pert.describe()} on the {region.describe()}:",
             f"  output change <= {r.change_upper!r}  (>= {r.change_lower!r} observed)"]
    if r.lipschitz_upper is not None:
        lines.append(f"  Lipschitz constant of every perturbed network <= {r.lipschitz_upper!r}")
    if r.x is not None:
        lines += [f"  x = {[_num(v) for v in r.x]}", f"  f(x) = {[_num(v) for v in r.values[0]]}",
                  f"  f_quantized(x) = {[_num(v) for v in r.values[1]]}"]
    lines.append(f"  {r.boxes} boxes, {r.seconds:.3g} s")
    _finish(r.verdict, r.to_json(), lines, as_json)
