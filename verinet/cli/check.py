"""``verinet check CERT``: re-verify a certificate with the independent exact checker."""

from __future__ import annotations

import click

from verinet.cli._common import CONTEXT_SETTINGS, EXIT_CHECK_FAILED, big_file, emit_json, info

__all__ = ["check"]


@click.command("check", context_settings=CONTEXT_SETTINGS)
@click.argument("cert", metavar="CERT")
@click.option("--model", help="The model file (default: the file named in the certificate, next to the "
                               "certificate, else where it was read from when the certificate was written).")
@click.option("--property", "prop",
              help="VNN-LIB certificates: the property file (default: the file named in the certificate, "
                   "next to the certificate).")
@click.option("--sample", type=click.IntRange(min=1),
              help="Re-verify only K leaves exactly (the largest bound plus random ones); coverage, the "
                   "witness and every recorded bound are still checked in full.", metavar="K")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the leaf sample.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="VNN-LIB certificates and .npz leaf tables: re-verify the leaves in this many processes.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def check(cert: str, model: str | None, prop: str | None, sample: int | None, seed: int, as_json: bool,
          workers: int = 1, quiet: bool = False) -> None:
    """Re-verify CERT with exact rational arithmetic, independently of the analysis that wrote it.

    Prints "valid" (exit 0) or "invalid: <first reason>" (exit 1); a missing or malformed certificate,
    leaf table (.npz companion) or model file gives one line on stderr and exit 3. A companion whose
    SHA-256 differs from the one the certificate names is rejected (exit 1) before it is read.

    \b
    Examples:
      verinet check net.certificate.json
      verinet check big.certificate.json --sample 200 --model ../models/net.onnx
    """
    from verinet.evidence.checker import check_certificate

    info(f"checking {cert} with exact rational arithmetic ...", quiet or not big_file(cert))
    result = check_certificate(cert, model, sample=sample, seed=seed, property_path=prop,
                               progress=_progress(quiet), workers=workers)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(str(result))
    if not result.valid:
        raise SystemExit(EXIT_CHECK_FAILED)


def _progress(quiet: bool):
    """``progress(done, total)`` printing a line on stderr at most every 2 seconds."""
    import time

    from verinet.cli._common import info

    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 2.0 or done == total and total >= 100:
            info(f"checked {done} of {total} leaves", quiet)
            last[0] = now
    return progress
