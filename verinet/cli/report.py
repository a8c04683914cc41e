"""``verinet report CERT``: a Markdown or HTML summary of a certificate for a review."""

from __future__ import annotations

from pathlib import Path

import click

from verinet.cli._common import CONTEXT_SETTINGS, big_file, info, save_failed, writable_output

__all__ = ["report"]


@click.command("report", context_settings=CONTEXT_SETTINGS)
@click.argument("cert", metavar="CERT")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default=None,
              help="Output format (default: from the extension of -o, else md).")
@click.option("-o", "--output", help="Write the report here (default: stdout).")
@click.option("--model", help="The model file, for the exact check (default: found as `verinet check` finds it).")
@click.option("--sample", type=click.IntRange(min=1), metavar="K",
              help="Check only K leaves exactly (faster for huge certificates; the report says so).")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def report(cert: str, fmt: str | None, output: str | None, model: str | None, sample: int | None,
           quiet: bool) -> None:
    """Render CERT as a human-readable report: the claim and its meaning, the model file and its
    SHA-256, the result of the exact checker, the limits of the claim, statistics and plots (when
    matplotlib is installed).

    The certificate is re-verified with the exact checker first: the report says "Certified" only when
    the checker accepts it, "NOT VALID: reason" when it rejects it, and "Not checked" when the model
    file is not available.

    HTML reports are self-contained (plots embedded). A Markdown report written with -o puts its plots
    next to it as PNG files; on stdout the plots are embedded as data URIs.

    \b
    Examples:
      verinet report net.certificate.json -o review.html
      verinet report net.certificate.json --format md > review.md
    """
    from verinet.evidence.certificate import load_certificate
    from verinet.evidence.checker import check_certificate
    from verinet.errors import CertificateError, ModelFormatError
    from verinet.evidence.report import render_report

    out = writable_output(output, "-o/--output")
    if fmt is None:
        fmt = "html" if out is not None and out.suffix.lower() in (".html", ".htm") else "md"
    doc = load_certificate(cert)
    quiet = quiet or not big_file(cert)  # progress lines only for slow (large) certificates
    info("checking the certificate with the exact checker ...", quiet)
    try:
        check = check_certificate(cert, model, sample=sample)
    except ModelFormatError as exc:
        check = f"model not available: {exc}"
    except CertificateError as exc:
        from verinet.evidence.checker import CheckResult

        check = CheckResult(False, str(exc))
    info(f"check: {check if isinstance(check, str) else check.reason}", quiet)
    if out is None:
        click.echo(render_report(doc, fmt, check=check), nl=False)
        return
    plot_dir = out.parent if fmt == "md" else None
    text = render_report(doc, fmt, check=check, plot_dir=plot_dir, plot_prefix=out.stem)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        save_failed("the report", out, exc)
    info(f"report written to {out}")
