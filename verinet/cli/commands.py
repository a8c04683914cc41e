"""Registers every sub-command on the ``verinet`` group (one module per command)."""

from __future__ import annotations

import importlib

from verinet.cli import main

_COMMANDS = (
    ("info", "info"),
    ("lipschitz", "lipschitz"),
    ("demo", "demo"),
    ("check", "check"),
    ("report", "report"),
    ("robust", "robust"),
    ("verify", "verify"),
    ("vnncomp", "vnncomp"),
)

for _module, _name in _COMMANDS:
    main.add_command(getattr(importlib.import_module(f"verinet.cli.{_module}"), _name))
