"""``verinet vnncomp prepare|run|batch``: the VNN-COMP tool interface and whole-benchmark runs."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from verinet.cli._common import CONTEXT_SETTINGS, EXIT_BAD_INPUT, EXIT_OK, info

__all__ = ["vnncomp"]


@click.group("vnncomp", context_settings=CONTEXT_SETTINGS)
def vnncomp() -> None:
    """VNN-COMP conventions: prepare_instance.sh / run_instance.sh, and --batch runs of instances.csv.

    \b
    Examples:
      verinet vnncomp prepare mnistfc net.onnx prop.vnnlib
      verinet vnncomp run mnistfc net.onnx prop.vnnlib out.txt 120
      verinet vnncomp batch mnistfc_instances.csv --out verdicts.csv
    """


@vnncomp.command("prepare", context_settings=CONTEXT_SETTINGS)
@click.argument("category")
@click.argument("onnx", type=click.Path(dir_okay=False))
@click.argument("vnnlib", type=click.Path(dir_okay=False))
def prepare(category, onnx, vnnlib) -> None:
    """Check that ONNX and VNNLIB load (what prepare_instance.sh does). Exit 0 if so, 3 with one line if not.

    CATEGORY (the benchmark name) is accepted for the competition's calling convention and not used.
    """
    from verinet.analyses.vnncomp import load_instance

    load_instance(onnx, vnnlib)
    click.get_current_context().exit(EXIT_OK)


@vnncomp.command("run", context_settings=CONTEXT_SETTINGS)
@click.argument("category")
@click.argument("onnx", type=click.Path(dir_okay=False))
@click.argument("vnnlib", type=click.Path(dir_okay=False))
@click.argument("result_file", metavar="RESULTS", type=click.Path(dir_okay=False))
@click.argument("timeout", type=float)
@click.option("--workers", type=click.IntRange(min=1), default=None, show_default="the cores, at most 4",
              help="Processes that evaluate the search's batches (the verdicts do not depend on it).")
def run(category, onnx, vnnlib, result_file, timeout, workers=None) -> None:
    """Decide one instance within TIMEOUT seconds and write RESULTS (what run_instance.sh does).

    RESULTS gets sat (then the counterexample), unsat, timeout, unknown, or error for a bad file (also
    reported in one line on stderr, exit code 3). Otherwise the exit code is 0: the answer is in the file.
    """
    from verinet.errors import QueryError
    from verinet.analyses.verify import default_workers
    from verinet.analyses.vnncomp import Instance, run_instance

    r = run_instance(Instance(Path(onnx), Path(vnnlib), timeout), workers=workers or default_workers())
    try:
        Path(result_file).write_text(r.text)
    except OSError as exc:
        raise QueryError(f"cannot write {result_file}: {exc.strerror or exc}") from None
    info(f"{r.result} in {r.seconds:.3g} s")
    if r.result == "error":
        click.echo(f"verinet: error: {r.message}", err=True)
        click.get_current_context().exit(EXIT_BAD_INPUT)
    click.get_current_context().exit(EXIT_OK)


@vnncomp.command("batch", context_settings=CONTEXT_SETTINGS)
@click.argument("instances", type=click.Path(dir_okay=False))
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="CSV of onnx,vnnlib,timeout,result,seconds (default: stdout).")
@click.option("--results-dir", type=click.Path(file_okay=False),
              help="Also write one VNN-COMP result file per instance here.")
@click.option("--timeout-scale", type=float, default=1.0, show_default=True,
              help="Multiply every instance's time limit by this factor.")
@click.option("--timeout", type=float, help="Use this time limit (seconds) for every instance instead.")
@click.option("--workers", type=click.IntRange(min=1), default=None, show_default="the cores, at most 4",
              help="Processes that evaluate the search's batches (the verdicts do not depend on it).")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def batch(instances, out_file, results_dir, timeout_scale, timeout, quiet, workers=None) -> None:
    """Run every row of an INSTANCES csv (onnx,vnnlib,timeout; paths relative to it) and tabulate verdicts.

    Exit code 0 when every instance ran (whatever the verdicts), 3 for an unreadable csv or when some
    instance could not be loaded (its row says error).
    """
    from verinet.errors import QueryError
    from verinet.analyses.verify import default_workers
    from verinet.analyses.vnncomp import read_instances, run_instance

    workers = workers or default_workers()
    if not timeout_scale > 0:
        raise QueryError(f"--timeout-scale must be > 0, got {timeout_scale}")
    if timeout is not None and not timeout > 0:
        raise QueryError(f"--timeout must be > 0, got {timeout}")
    rows = read_instances(instances)
    res_dir = Path(results_dir) if results_dir else None
    if res_dir is not None:
        res_dir.mkdir(parents=True, exist_ok=True)
    lines = [["onnx", "vnnlib", "timeout", "result", "seconds"]]
    errors = 0
    for k, inst in enumerate(rows):
        r = run_instance(inst, timeout_scale=timeout_scale, timeout=timeout, workers=workers)
        limit = timeout if timeout is not None else inst.timeout * timeout_scale
        lines.append([inst.onnx.name, inst.vnnlib.name, f"{limit:g}", r.result, f"{r.seconds:.2f}"])
        info(f"[{k + 1}/{len(rows)}] {inst.onnx.name} {inst.vnnlib.name}: {r.result} in {r.seconds:.2f} s"
             + (f" ({r.message})" if r.message else ""), quiet)
        errors += r.result == "error"
        if res_dir is not None:
            (res_dir / f"{k:04d}_{inst.onnx.stem}_{inst.vnnlib.stem}.txt").write_text(r.text)
    text = "".join(",".join(row) + "\n" for row in lines)
    if out_file:
        try:
            with open(out_file, "w", newline="") as fh:
                csv.writer(fh, lineterminator="\n").writerows(lines)
        except OSError as exc:
            raise QueryError(f"cannot write {out_file}: {exc.strerror or exc}") from None
    else:
        click.echo(text, nl=False)
    click.get_current_context().exit(EXIT_BAD_INPUT if errors else EXIT_OK)
