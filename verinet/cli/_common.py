"""Shared pieces of the command line: error handling, exit codes, argument parsing."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from verinet.errors import VerinetError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_FALSIFIED = 10
EXIT_UNKNOWN = 20


class UserError(click.ClickException):
    """One line on stderr, exit code 3 (bad input)."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:  # one clear line, no traceback
        click.echo(f"verinet: error: {self.format_message()}", err=True)


class VerinetGroup(click.Group):
    """A click group that turns every user-facing error into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VerinetError as exc:
            raise UserError(str(exc)) from None
        except FileNotFoundError as exc:
            raise UserError(f"file not found: {exc.filename or exc}") from None
        except (ValueError, TypeError) as exc:  # invalid values that reached the library
            raise UserError(str(exc)) from None
        except MemoryError:
            raise UserError("out of memory: reduce --max-boxes or the region") from None


def emit_json(payload: dict) -> None:
    """Machine output on stdout."""
    click.echo(json.dumps(payload, indent=2, sort_keys=False))


def info(message: str, quiet: bool = False) -> None:
    """A log line on stderr."""
    if not quiet:
        click.echo(message, err=True)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
