"""``verinet verify MODEL PROPERTY``: decide a VNN-LIB property (VNN-COMP result format)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from verinet.cli._common import (
    CONTEXT_SETTINGS,
    EXIT_FALSIFIED,
    EXIT_OK,
    EXIT_UNKNOWN,
    big_file,
    emit_json,
    info,
    positive_seconds,
    save_failed,
    writable_output,
)

__all__ = ["verify"]


@click.command("verify", context_settings=CONTEXT_SETTINGS)
@click.argument("model")
@click.argument("prop", metavar="PROPERTY")
@click.option("--timeout", type=float, default=116.0, show_default=True,
              help="Seconds for the whole property, reading the files included.")
@click.option("--result", "result_file", help="Also write the result here.")
@click.option("--coordinates", type=click.Choice(["raw", "normalized"]), default="normalized", show_default=True,
              help=".nnet files: coordinates of the property (VNN-LIB ACAS Xu properties are normalised).")
@click.option("--bounds", type=click.Choice(["auto", "alpha", "linear", "interval"]), default="auto", show_default=True,
              help="Enclosures behind the proofs: sound linear back-substitution, with optimised ReLU slopes "
                   "(alpha; auto uses them for high-dimensional inputs), or interval propagation.")
@click.option("--neurons", type=click.Choice(["auto", "never"]), default="auto", show_default=True,
              help="Also split boxes on the sign of an unstable ReLU (auto), or on coordinates only (never).")
@click.option("--certificate", "cert_file",
              help="Also write a proof certificate here (unsat: the split tree; sat: the counterexample); "
                   "re-verify it with `verinet check`.")
@click.option("--certificate-format", "cert_format", type=click.Choice(["auto", "json", "npz"]), default="auto",
              show_default=True, help="json: leaves inline; npz: a small JSON document plus one binary "
              "<name>.case<k>.leaves.npz companion per case (schema 3); auto: npz from 20000 leaves on.")
@click.option("--workers", type=click.IntRange(min=1), default=None, show_default="the cores, at most 4",
              help="Processes that evaluate the search's batches (the verdicts do not depend on it).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def verify(model, prop, timeout, result_file, coordinates, bounds, neurons, cert_file, as_json, quiet,
           cert_format="auto", workers=None) -> None:
    """Decide the VNN-LIB PROPERTY on MODEL: prints unsat, sat (with the counterexample), unknown or timeout.

    The first line is the answer; for sat the counterexample follows as ((X_0 v) ... (Y_0 v)), checked
    in exact arithmetic. Exit codes: 0 unsat, 10 sat, 20 unknown/timeout, 3 bad input.

    \b
    Examples:
      verinet verify ACASXU_run2a_1_9_batch_2000.onnx prop_3.vnnlib
      verinet verify acas.nnet prop_4.vnnlib --timeout 30 --result out.txt
      verinet verify acas.onnx prop_3.vnnlib --certificate prop_3.cert.json && verinet check prop_3.cert.json
    """
    from verinet.cli._query import load_model
    from verinet.errors import QueryError
    from verinet.analyses.verify import Verdict, default_workers, verify_vnnlib
    from verinet.io.vnnlib import parse_vnnlib

    t0 = time.perf_counter()
    positive_seconds(timeout, "--timeout")
    out_path = writable_output(result_file, "--result")
    cert_path = writable_output(cert_file, "--certificate")
    method = {"interval": "ibp"}.get(bounds, bounds)
    if cert_path is not None and method in ("auto", "alpha"):
        # the checker re-derives each leaf with fixed-slope linear bounds: optimised slopes would give
        # leaves it may not re-prove
        info("note: --certificate uses plain linear bounds (--bounds linear), which the checker re-derives",
             quiet or method == "auto")
        method = "linear"
    net = load_model(model, coordinates)
    info(f"reading {prop} ...", quiet or not big_file(prop))
    prop_obj = parse_vnnlib(Path(prop))

    def progress(stats: dict) -> None:
        info(f"[{stats['seconds']:7.1f} s] boxes {stats['boxes']:>9}  open {stats['open']:>8}  "
             f"margin >= {stats['margin']:.6g}", quiet)

    # the budget includes reading the model and the property
    recorder = None
    if cert_path is not None:
        from verinet.evidence.prooftree import SplitTreeRecorder

        recorder = SplitTreeRecorder()
    try:
        res = verify_vnnlib(net, prop_obj, timeout=max(timeout - (time.perf_counter() - t0), 0.01),
                            bounds=method, neurons=neurons, progress=progress, recorder=recorder,
                            workers=workers or default_workers())
    except KeyboardInterrupt:
        info("interrupted: no proof and no counterexample yet")
        click.echo("unknown")
        raise SystemExit(EXIT_UNKNOWN) from None
    text = res.to_text()
    if as_json:
        emit_json(res.to_json())
    else:
        click.echo(text, nl=False)
    info(f"{res.result} in {res.seconds:.3g} s ({res.boxes} boxes)", quiet)
    if out_path is not None:
        try:
            out_path.write_text(text)
        except OSError as exc:
            save_failed("the result", out_path, exc)
    if cert_path is not None:
        try:
            _write_certificate(cert_path, res, net, prop_obj, recorder,
                               "interval" if method == "ibp" else "linear", quiet, cert_format)
        except OSError as exc:
            save_failed("the certificate", cert_path, exc)
    code = {Verdict.VERIFIED: EXIT_OK, Verdict.FALSIFIED: EXIT_FALSIFIED}.get(res.verdict, EXIT_UNKNOWN)
    click.get_current_context().exit(code)


def _write_certificate(path, res, net, prop_obj, recorder, bounds: str, quiet: bool, fmt: str = "auto") -> None:
    """Write the proof certificate of ``res`` (progress on stderr)."""
    from verinet.evidence.certificate import write_certificate
    from verinet.evidence.prooftree import vnnlib_certificate

    t = time.perf_counter()
    cert = vnnlib_certificate(res, net, prop_obj, recorder, bounds=bounds, format=fmt,
                              progress=lambda k: info(f"certificate: {k} leaves written", quiet))
    write_certificate(cert, path, progress=lambda msg: info(msg, quiet or cert['statistics']['leaves'] < 100_000))
    info(f"certificate ({cert['statistics']['leaves']} leaves) written to {path} in "
         f"{time.perf_counter() - t:.3g} s", quiet)
