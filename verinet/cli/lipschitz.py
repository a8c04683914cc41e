"""``verinet lipschitz``: a verified Lipschitz constant on a region."""

from __future__ import annotations

import os

import click

from verinet.cli._common import (
    CONTEXT_SETTINGS,
    EXIT_UNKNOWN,
    big_file,
    emit_json,
    info,
    positive_seconds,
    save_failed,
    writable_output,
)
from verinet.errors import QueryError

_NORM_NAMES = {"inf": "l∞", "2": "l2", "1": "l1"}


def _parse_output(output: str | None, coef: str | None):
    if output is not None and coef is not None:
        raise click.UsageError("give either --output or --coef, not both")
    if coef is not None:
        from verinet.cli._query import parse_center

        return list(parse_center(coef, "--coef"))
    if output is None:
        return 0
    if output.strip().lower() == "all":
        return "all"
    try:
        return int(output)
    except ValueError:
        raise click.BadParameter(f"expected an output index or 'all', got {output!r}", param_hint="--output") from None


def _search_share(value: str, time_limit: float | None) -> float:
    """The ``search`` share of :func:`verinet.analyses.lipschitz.lipschitz` from ``--search`` (see its help)."""
    import math

    if value.strip().lower() == "off":
        return 0.0
    try:
        x = float(value)
    except ValueError:
        raise QueryError(f"--search must be a share in (0, 1), seconds >= 1 or 'off', got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise QueryError(f"--search must be a share in (0, 1), seconds >= 1 or 'off', got {value}")
    if x < 1:
        return x
    if time_limit is None:
        raise QueryError(f"--search {value} is in seconds and needs --time-limit (or give a share in (0, 1))")
    if x >= time_limit:
        raise QueryError(f"--search {value} s must be shorter than --time-limit {time_limit:g} s")
    return x / time_limit


def resolve_region(network, center: str | None, radius: str | None, box: str | None, domain: bool, norm: str):
    """The region of a query from the mutually exclusive ``--center/--radius``, ``--box`` and ``--domain``."""
    from verinet.cli._query import parse_box_file, parse_center
    from verinet.region import Region

    chosen = [center is not None or radius is not None, box is not None, domain]
    if sum(chosen) != 1:
        raise click.UsageError("give exactly one region: --center X --radius R, --box FILE, or --domain")
    if box is not None:
        region = parse_box_file(box)
    elif domain:
        region = Region.from_domain(network)
    else:
        if center is None or radius is None:
            raise click.UsageError("--center and --radius go together")
        from verinet.cli._query import parse_number

        region = Region.ball(parse_center(center, "--center"), parse_number(radius, "--radius"), norm)
    region.check_dim(network.n_inputs)
    return region


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model")
@click.option("--center", help="Centre of the ball: comma-separated numbers, or a .npy/.json/.txt file.")
@click.option("--radius", help="Radius of the ball (> 0; exact decimal).")
@click.option("--box", help='JSON file {"lower": [...], "upper": [...]}.')
@click.option("--domain", is_flag=True, help="Use the model's own input domain (.nnet files carry one).")
@click.option("--norm", type=click.Choice(["inf", "2", "1"]), default="inf", show_default=True, help="Input norm.")
@click.option("--output", help="Output index (default 0), or 'all' for the operator norm of the Jacobian.")
@click.option("--coef", help="Coefficients c of the combination cᵀy, comma-separated (e.g. a margin 1,-1).")
@click.option("--tol", type=float, default=1e-6, show_default=True, help="Relative gap at which to stop.")
@click.option("--time-limit", type=float, help="Seconds; the bounds reached are still sound.")
@click.option("--max-boxes", type=int, default=1_000_000, show_default=True, help="Budget of boxes.")
@click.option("--strategy", type=click.Choice(["influence", "widest", "bisect-all"]), default="influence",
              show_default=True, help="Split heuristic (bisect-all: the reference tool's).")
@click.option("--bounds", type=click.Choice(["auto", "interval", "linear"]), default="auto", show_default=True,
              help="Pre-activation bounds: interval, or sound linear (CROWN-style) bounds for deep networks.")
@click.option("--jacobian", type=click.Choice(["auto", "interval", "linear"]), default="auto", show_default=True,
              help="Per-box gradient bounds: interval chain rule, or also back-substitution through the backward "
                   "pass (tighter; auto: with linear bounds).")
@click.option("--search", "search_opt", metavar="FRACTION|SECONDS|off", default="0.05", show_default=True,
              help="Search for large gradients (rigorous lower bounds): a share in (0, 1) of --time-limit, or "
                   "seconds (>= 1, below --time-limit) per round; rounds at the start, at 1/4, 1/2, 3/4 of "
                   "the limit, and in the boxes with the largest upper bounds as they appear; off: none.")
@click.option("--neurons", type=click.Choice(["auto", "never"]), default="auto", show_default=True,
              help="Also split boxes on the sign of an unstable ReLU (auto), or on coordinates only (never).")
@click.option("--precision", type=int, help="Bits for arbitrary-precision arithmetic throughout (default: float64).")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="all cores",
              help="Processes that evaluate boxes on this machine (the result does not depend on it).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Evaluate boxes on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs verinet[dist]).")
@click.option("--certificate", help="Write a checkable certificate here.")
@click.option("--certificate-format", "cert_format", type=click.Choice(["auto", "json", "npz"]), default="auto",
              show_default=True, help="json: leaves inline; npz: a small JSON document plus a binary "
              "<name>.leaves.npz companion (schema 3); auto: npz from 20000 leaves on.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def lipschitz(model, center, radius, box, domain, norm, output, coef, tol, time_limit, max_boxes, strategy,
              bounds, jacobian, search_opt, neurons, precision, workers, scheduler, certificate, as_json,
              quiet, cert_format="auto") -> None:
    """Verified bounds [lower, upper] on the Lipschitz constant of MODEL on a region.

    The output uses |·| for one output or a combination, and the input norm for --output all.

    \b
    Examples:
      verinet lipschitz net.json --center 0.5,0.5 --radius 1e-3
      verinet lipschitz acas.nnet --domain --output all --time-limit 60
      verinet lipschitz clf.onnx --center x.npy --radius 0.01 --coef 1,-1 --norm 2
    """
    from verinet.analyses.lipschitz import lipschitz as run
    from verinet.io import load_network

    if not tol >= 0:  # also rejects NaN
        raise QueryError(f"--tol must be >= 0, got {tol}")
    positive_seconds(time_limit, "--time-limit")
    search = _search_share(search_opt, time_limit)
    if max_boxes < 1:
        raise QueryError(f"--max-boxes must be >= 1, got {max_boxes}")
    cert_path = writable_output(certificate, "--certificate")
    info(f"reading {model} ...", quiet or not big_file(model))
    network = load_network(model)
    region = resolve_region(network, center, radius, box, domain, norm)
    out = _parse_output(output, coef)

    last: dict = {}

    def progress(stats: dict) -> None:
        last.update(stats)
        rate = stats.get("boxes_per_second", 0.0)
        info(f"[{stats['seconds']:7.1f} s] boxes {stats['boxes']:>9} ({rate:7.0f}/s)  "
             f"lower {stats['lower']:.17g}  upper {stats['upper']:.17g}", quiet)

    try:
        result = run(network, region, norm=norm, output=out, tol=tol, time_limit=time_limit,
                     max_boxes=max_boxes, strategy=strategy, bounds=bounds, jacobian=jacobian, neurons=neurons,
                     search=search,
                     precision=precision, workers=workers, scheduler=scheduler, progress=progress)
    except KeyboardInterrupt:
        _interrupted(last, as_json)
        raise SystemExit(EXIT_UNKNOWN) from None
    code = EXIT_UNKNOWN if result.status.value in ("time_limit", "box_limit") else 0
    if as_json:
        emit_json(result.to_json())
    else:
        _print_result(result, region, norm)
    if cert_path is not None:
        from verinet.evidence.certificate import lipschitz_certificate, write_certificate

        hush = quiet or len(result.partition) < 100_000  # progress lines only for large certificates
        info(f"building the certificate ({len(result.partition)} leaves) ...", hush)
        cert = lipschitz_certificate(result, network, format=cert_format)
        try:
            write_certificate(cert, cert_path, progress=lambda msg: info(msg, hush))
        except OSError as exc:
            save_failed("the certificate", cert_path, exc)
        info(f"certificate written to {cert_path}", quiet)
    if code:
        raise SystemExit(code)


def _print_result(result, region, norm: str) -> None:
    what = "all outputs (operator norm)" if result.output == "all" else (
        f"output {result.output}" if not result.output.startswith("c=") else f"combination {result.output[2:]}")
    click.echo(f"Lipschitz constant of {what}, {_NORM_NAMES[norm]} input norm, on the {region.describe()}:")
    click.echo(f"  lower  {result.lower!r}")
    click.echo(f"  upper  {result.upper!r}")
    if result.lower == 0 and result.upper < _TINY:
        # the gradient enclosure is {0} up to rounding: the network is constant on the region
        click.echo(f"  {result.status.value}: the constant is 0 on this region up to float rounding (the upper "
                   f"bound {result.upper!r} is rounding error), {result.boxes} boxes, {result.seconds:.3g} s")
        return
    click.echo(f"  {result.status.value}: relative gap {result.gap:.3g}, {result.boxes} boxes, {result.seconds:.3g} s")


def _interrupted(last: dict, as_json: bool) -> None:
    """Ctrl-C during the search: the bounds of the last progress report are sound; print them."""
    if not last:
        info("interrupted before the first bounds were reported")
        if as_json:
            emit_json({"status": "interrupted", "lower": None, "upper": None})
        else:
            click.echo("interrupted: no bounds yet")
        return
    if as_json:
        emit_json({"status": "interrupted", "lower": last["lower"], "upper": last["upper"],
                   "boxes": last["boxes"], "seconds": last["seconds"]})
        return
    click.echo(f"interrupted after {last['seconds']:.3g} s and {last['boxes']} boxes; sound bounds so far:")
    click.echo(f"  lower  {last['lower']!r}")
    click.echo(f"  upper  {last['upper']!r}")


#: below the smallest normal float64 an upper bound with lower bound 0 is pure rounding error
_TINY = 2.2250738585072014e-308
