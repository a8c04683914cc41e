"""``verinet report CERT``: a Markdown or HTML summary of a certificate for a review."""

from __future__ import annotations

from pathlib import Path

import click

from verinet.cli._common import CONTEXT_SETTINGS, info

__all__ = ["report"]


@click.command("report", context_settings=CONTEXT_SETTINGS)
@click.argument("cert", metavar="CERT", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default=None,
              help="Output format (default: from the extension of -o, else md).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here (default: stdout).")
def report(cert: str, fmt: str | None, output: str | None) -> None:
    """Render CERT as a human-readable report: the claim and its meaning, the model file and its
    SHA-256, the limits of the claim, statistics and plots (when matplotlib is installed).

    HTML reports are self-contained (plots embedded). A Markdown report written with -o puts its plots
    next to it as PNG files; on stdout the plots are embedded as data URIs.

    \b
    Examples:
      verinet report net.certificate.json -o review.html
      verinet report net.certificate.json --format md > review.md
    """
    from verinet.report import render_report

    if fmt is None:
        fmt = "html" if output and Path(output).suffix.lower() in (".html", ".htm") else "md"
    if output is None:
        click.echo(render_report(cert, fmt), nl=False)
        return
    out = Path(output)
    plot_dir = out.parent if fmt == "md" else None
    out.write_text(render_report(cert, fmt, plot_dir=plot_dir, plot_prefix=out.stem), encoding="utf-8")
    info(f"report written to {out}")
