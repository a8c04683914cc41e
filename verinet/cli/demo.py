"""``verinet demo``: a complete certified analysis on a network shipped with verinet."""

from __future__ import annotations

import shutil
from importlib import resources

import click

from verinet.cli._common import CONTEXT_SETTINGS, EXIT_CHECK_FAILED, info, save_failed, writable_dir

_DEMO_MODEL = "random02.json"


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--out", "out_dir", default="verinet-demo", show_default=True,
              help="Directory for the model copy, the certificate and the report.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def demo(out_dir: str, quiet: bool) -> None:
    """Certify the Lipschitz constant of a bundled network, check the certificate, write a report.

    The network is the 2-2-2 ReLU network "random02" of Zhou, Shaikh, Li & Farjudian (MSCS 2023),
    whose published local Lipschitz constant is 0.6144853028984674; float-based tools report about
    0.0433 for it. No arguments, no downloads.
    """
    from verinet.evidence.certificate import lipschitz_certificate, write_certificate
    from verinet.evidence.checker import check_certificate
    from verinet.analyses.lipschitz import lipschitz
    from verinet.io import load_network
    from verinet.io.jsonfmt import read_seed_query
    from verinet.region import Region
    from verinet.evidence.report import render_report

    out = writable_dir(out_dir, "--out")
    model = out / _DEMO_MODEL
    with resources.as_file(resources.files("verinet.data") / _DEMO_MODEL) as src:
        try:
            shutil.copyfile(src, model)
        except OSError as exc:
            save_failed("the model copy", model, exc)
    network = load_network(model)
    query = read_seed_query(model)
    region = Region.ball(query.center, query.radius, "inf")
    info(f"model   {model}  ({network.n_inputs} inputs, sha256 {network.sha256[:16]}…)", quiet)
    info(f"region  {region.describe()} around ({', '.join(query.center)})", quiet)
    result = lipschitz(network, region, norm="inf", output=0, tol=1e-15)
    click.echo(f"Lipschitz constant of output 0 (l∞ inputs) on the {region.describe()}: "
               f"[{result.lower!r}, {result.upper!r}]")
    click.echo(f"  {result.status.value} after {result.boxes} boxes in {result.seconds * 1e3:.1f} ms; "
               f"published value {query.expected}")
    cert = lipschitz_certificate(result, network)
    cert_path = out / "random02.certificate.json"
    try:
        write_certificate(cert, cert_path)
    except OSError as exc:
        save_failed("the certificate", cert_path, exc)
    check = check_certificate(cert_path)
    click.echo(f"certificate {cert_path}: {'valid' if check.valid else 'INVALID: ' + check.reason} "
               "(re-checked with exact rational arithmetic)")
    for fmt in ("md", "html"):
        path = out / f"random02.report.{fmt}"
        try:
            path.write_text(render_report(cert, fmt, check=check), encoding="utf-8")
        except OSError as exc:
            save_failed("the report", path, exc)
        click.echo(f"report      {path}")
    if not check.valid:
        raise SystemExit(EXIT_CHECK_FAILED)
