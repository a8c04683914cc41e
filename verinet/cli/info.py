"""``verinet info MODEL``: architecture, size, input domain and provenance of a model file."""

from __future__ import annotations

import os

import click

from verinet.cli._common import big_file, emit_json
from verinet.cli._common import info as log

__all__ = ["info"]


@click.command("info")
@click.argument("model", metavar="MODEL")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON on stdout).")
def info(model: str, as_json: bool) -> None:
    """Describe MODEL (.onnx, .nnet, .json, .npz, .pt): layers, activations, parameter count,
    input domain, format, SHA-256, and whether the weights are exact float64 numbers.

    \b
    Examples:
      verinet info acas.nnet
      verinet info model.onnx --json
    """
    from verinet.analyses.info import ModelInfo
    from verinet.io import load_network

    if big_file(model):
        log(f"reading {model} ({os.path.getsize(model) / 2**20:.0f} MiB) ...")
    summary = ModelInfo.from_network(load_network(model))
    if as_json:
        emit_json(summary.to_json())
    else:
        click.echo(summary.to_text())
