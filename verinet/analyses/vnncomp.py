"""VNN-COMP conventions: instance lists, one instance with its time limit, result files.

The competition (https://github.com/stanleybak/vnncomp2021, and its successors) runs each tool on the
rows ``onnx,vnnlib,timeout`` of a benchmark's ``instances.csv`` (paths relative to the CSV), calling
``prepare_instance.sh`` then ``run_instance.sh`` with the benchmark category, the two files, a result
file and the time limit. The result file's first line is ``sat``, ``unsat``, ``timeout``, ``unknown``
or ``error``; after ``sat`` the counterexample follows as ``((X_0 v) ... (Y_0 v) ...)``
(:meth:`verinet.analyses.verify.VerifyResult.to_text`).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from verinet.errors import QueryError, VerinetError

__all__ = ["Instance", "InstanceResult", "load_instance", "read_instances", "run_instance"]


@dataclass(frozen=True, slots=True)
class Instance:
    """One row of an instances CSV, with the paths resolved against the CSV's directory."""

    onnx: Path
    vnnlib: Path
    timeout: float


@dataclass(frozen=True, slots=True)
class InstanceResult:
    """Outcome of one instance: ``result`` (first line of the result file), wall time, full result text."""

    instance: Instance
    result: str
    seconds: float
    text: str
    message: str = ""


def read_instances(path: str | Path) -> list[Instance]:
    """The rows of a VNN-COMP ``instances.csv`` (``onnx,vnnlib,timeout``; blank lines skipped).

    Raises ``QueryError`` naming the file and line for a missing file or a malformed row.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise QueryError(f"cannot read {path}: {exc.strerror or exc}") from None
    out = []
    for line_no, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise QueryError(f"{path}:{line_no}: expected onnx,vnnlib,timeout, got {len(row)} fields")
        try:
            timeout = float(row[2])
        except ValueError:
            raise QueryError(f"{path}:{line_no}: timeout {row[2]!r} is not a number") from None
        if not timeout > 0:
            raise QueryError(f"{path}:{line_no}: timeout must be > 0, got {row[2]!r}")
        out.append(Instance(path.parent / row[0].strip(), path.parent / row[1].strip(), timeout))
    return out


def load_instance(onnx: str | Path, vnnlib: str | Path):
    """The network and the parsed property of an instance (the work of ``prepare_instance.sh``)."""
    from verinet.io import load_network
    from verinet.io.vnnlib import parse_vnnlib

    onnx, vnnlib = Path(onnx), Path(vnnlib)
    for p in (onnx, vnnlib):
        if not p.is_file():
            raise QueryError(f"file not found: {p}")
    if onnx.suffix.lower() == ".nnet":
        network = load_network(onnx, coordinates="normalized")
    else:
        network = load_network(onnx)
    return network, parse_vnnlib(vnnlib)


def run_instance(instance: Instance, *, timeout_scale: float = 1.0, timeout: float | None = None,
                 seed: int = 0, workers: int = 1) -> InstanceResult:
    """Decide one instance within its time limit (times ``timeout_scale``, or ``timeout`` if given), with
    ``workers`` processes evaluating the search's batches.

    Loading the files counts against the limit. A bad file gives ``result == "error"`` with the message
    (never an exception); a run that ends without an answer gives ``timeout`` or ``unknown``.
    Rigorous: ``unsat`` and ``sat`` carry the guarantees of :func:`verinet.analyses.verify.verify_vnnlib`.
    """
    from verinet.analyses.verify import verify_vnnlib

    t0 = time.perf_counter()
    limit = timeout if timeout is not None else instance.timeout * timeout_scale
    if not limit > 0:
        raise QueryError(f"time limit must be > 0, got {limit}")
    try:
        network, prop = load_instance(instance.onnx, instance.vnnlib)
        left = limit - (time.perf_counter() - t0)
        if left <= 0:
            return InstanceResult(instance, "timeout", time.perf_counter() - t0, "timeout\n")
        res = verify_vnnlib(network, prop, timeout=left, seed=seed, workers=workers)
    except (VerinetError, OSError) as exc:
        msg = str(exc)
        return InstanceResult(instance, "error", time.perf_counter() - t0, "error\n", msg)
    return InstanceResult(instance, res.result, time.perf_counter() - t0, res.to_text())
