"""``verinet lipschitz``: a verified Lipschitz constant on a region."""

from __future__ import annotations

import os

import click

from verinet.cli._common import CONTEXT_SETTINGS, emit_json, info
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
        region = Region.ball(parse_center(center), radius.strip(), norm)
    region.check_dim(network.n_inputs)
    return region


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--center", help="Centre of the ball: comma-separated numbers, or a .npy/.json/.txt file.")
@click.option("--radius", help="Radius of the ball (> 0; exact decimal).")
@click.option("--box", type=click.Path(dir_okay=False), help='JSON file {"lower": [...], "upper": [...]}.')
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
@click.option("--neurons", type=click.Choice(["auto", "never"]), default="auto", show_default=True,
              help="Also split boxes on the sign of an unstable ReLU (auto), or on coordinates only (never).")
@click.option("--precision", type=int, help="Bits for arbitrary-precision arithmetic throughout (default: float64).")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="all cores",
              help="Processes that evaluate boxes on this machine (the result does not depend on it).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Evaluate boxes on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs verinet[dist]).")
@click.option("--certificate", type=click.Path(dir_okay=False), help="Write a checkable certificate here.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def lipschitz(model, center, radius, box, domain, norm, output, coef, tol, time_limit, max_boxes, strategy,
              bounds, neurons, precision, workers, scheduler, certificate, as_json, quiet) -> None:
    """Verified bounds [lower, upper] on the Lipschitz constant of MODEL on a region.

    The output uses |·| for one output or a combination, and the input norm for --output all.

    \b
    Examples:
      verinet lipschitz net.json --center 0.5,0.5 --radius 1e-3
      verinet lipschitz acas.nnet --domain --output all --time-limit 60
      verinet lipschitz clf.onnx --center x.npy --radius 0.01 --coef 1,-1 --norm 2
    """
    from verinet.lipschitz import lipschitz as run
    from verinet.loaders import load_network

    if tol < 0:
        raise QueryError(f"--tol must be >= 0, got {tol}")
    network = load_network(model)
    region = resolve_region(network, center, radius, box, domain, norm)
    out = _parse_output(output, coef)

    def progress(stats: dict) -> None:
        rate = stats.get("boxes_per_second", 0.0)
        info(f"[{stats['seconds']:7.1f} s] boxes {stats['boxes']:>9} ({rate:7.0f}/s)  "
             f"lower {stats['lower']:.17g}  upper {stats['upper']:.17g}", quiet)

    result = run(network, region, norm=norm, output=out, tol=tol, time_limit=time_limit, max_boxes=max_boxes,
                 strategy=strategy, bounds=bounds, neurons=neurons, precision=precision, workers=workers,
                 scheduler=scheduler, progress=progress)
    if certificate:
        from verinet.certificate import lipschitz_certificate, write_certificate

        write_certificate(lipschitz_certificate(result, network), certificate)
        info(f"certificate written to {certificate}", quiet)
    if as_json:
        emit_json(result.to_json())
        return
    what = "all outputs (operator norm)" if result.output == "all" else (
        f"output {result.output}" if not result.output.startswith("c=") else f"combination {result.output[2:]}")
    click.echo(f"Lipschitz constant of {what}, {_NORM_NAMES[norm]} input norm, on the {region.describe()}:")
    click.echo(f"  lower  {result.lower!r}")
    click.echo(f"  upper  {result.upper!r}")
    click.echo(f"  {result.status.value}: relative gap {result.gap:.3g}, {result.boxes} boxes, {result.seconds:.3g} s")
