"""The ``verinet`` command line: a thin layer over the public API.

Results go to stdout, logs and progress to stderr. Exit codes (also in the README):

====  =====================================================================
0     success; for a decision: verified / property holds (``unsat``) / certificate valid
10    falsified: a counterexample was found and confirmed rigorously (``sat``)
20    unknown, timeout, budget exhausted, or an analysis interrupted (Ctrl-C; sound bounds so far printed)
1     the certificate checker rejected a certificate
2     usage error (bad option or argument)
3     bad input: missing or malformed model, property, box or certificate file; invalid query or value;
      output file not writable
4     internal error: a defect in verinet (never used for bad input)
130   interrupted (Ctrl-C) before there was anything to report
====  =====================================================================
"""

from __future__ import annotations

import click

from verinet import __version__
from verinet.cli._common import CONTEXT_SETTINGS, VerinetGroup

__all__ = ["main"]


@click.group(cls=VerinetGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="verinet")
def main() -> None:
    """verinet: rigorous Lipschitz constants and robustness verdicts for neural networks.

    Every bound printed is sound for the exact real semantics of the weights as written in the
    model file, floating-point rounding included.

    \b
    Examples:
      verinet demo
      verinet info model.onnx
      verinet lipschitz net.json --center 0.5,0.5 --radius 0.01 --norm inf
      verinet verify acas.onnx prop_3.vnnlib --timeout 116
    """


def _register() -> None:
    from verinet.cli import commands  # noqa: F401  (importing registers the sub-commands)


_register()
