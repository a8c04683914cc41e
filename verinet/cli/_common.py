"""Shared pieces of the command line: error handling, exit codes, output paths.

Every failure is one line on stderr and a documented exit code (the table in ``verinet.cli`` and in the
README): ``verinet: error: ...`` for usage errors (2) and bad input (3, only for
:class:`~verinet.errors.VerinetInputError` and unreadable files), ``verinet: internal error: ...`` for
anything else (4): a defect in verinet, never blamed on the user's files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from verinet.errors import VerinetError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_INTERNAL = 4
EXIT_FALSIFIED = 10
EXIT_UNKNOWN = 20
EXIT_INTERRUPTED = 130

#: The documented exit codes (README "Exit codes"; checked against the README by the test suite).
EXIT_CODES = {
    EXIT_OK: "success; verified / unsat / certificate valid",
    EXIT_CHECK_FAILED: "the certificate checker rejected a certificate",
    EXIT_USAGE: "usage error (bad option or argument)",
    EXIT_BAD_INPUT: "bad input: missing or malformed model, property, box or certificate file; invalid query; "
                    "output file not writable",
    EXIT_INTERNAL: "internal error: a defect in verinet (please report it)",
    EXIT_FALSIFIED: "falsified / sat: a counterexample was found and confirmed",
    EXIT_UNKNOWN: "unknown, timeout, budget exhausted or interrupted analysis (sound bounds so far printed)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C) before there was anything to report",
}


class UserError(click.ClickException):
    """One line on stderr, exit code 3 (bad input)."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:  # one clear line, no traceback
        click.echo(f"verinet: error: {_one_line(self.format_message())}", err=True)


class InternalError(click.ClickException):
    """An exception verinet did not raise on purpose: one line on stderr, exit code 4."""

    exit_code = EXIT_INTERNAL

    def show(self, file=None) -> None:
        click.echo(f"verinet: internal error: {_one_line(self.format_message())} (a defect in verinet, not in "
                   "your input; please report it with the command line and verinet --version)", err=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class VerinetGroup(click.Group):
    """A click group that turns every error into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except VerinetError as exc:
            raise UserError(str(exc)) from None
        except FileNotFoundError as exc:
            raise UserError(f"file not found: {exc.filename or exc}") from None
        except MemoryError:
            raise UserError("out of memory: reduce --max-boxes or the region") from None
        except RecursionError:
            raise UserError("input nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - anything else is a defect: say so, in one line
            raise InternalError(f"{type(exc).__name__}: {exc}") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra) -> Any:
        """Like click's ``main``, but usage errors are one line and Ctrl-C exits 130 without "Aborted!"."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"verinet: error: {_one_line(exc.format_message())}{hint}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("verinet: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def positive_seconds(value: float | None, what: str) -> None:
    """A time budget must be a finite number of seconds > 0 (``None``: no limit)."""
    import math

    from verinet.errors import QueryError

    if value is not None and not (math.isfinite(value) and value > 0):
        raise QueryError(f"{what} must be a number of seconds > 0, got {value}")


def writable_output(path: str | None, what: str) -> Path | None:
    """Check before a long run that ``path`` can be written (its folder exists and is writable).

    Raises :class:`~verinet.errors.QueryError` naming the option, so that a run never computes for
    minutes and then loses its result to a typo in an output path.
    """
    if path is None:
        return None
    from verinet.errors import QueryError

    p = Path(os.path.expanduser(path))
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise QueryError(f"{what}: {p} is a directory")
    if not parent.is_dir():
        raise QueryError(f"{what}: folder {parent} does not exist")
    if (p.exists() and not os.access(p, os.W_OK)) or not os.access(parent, os.W_OK | os.X_OK):
        raise QueryError(f"{what}: cannot write {p} (permission denied)")
    return p


def writable_dir(path: str, what: str) -> Path:
    """Create ``path`` (a folder for outputs) if needed and check that it is writable."""
    from verinet.errors import QueryError

    p = Path(os.path.expanduser(path))
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QueryError(f"{what}: cannot create folder {p} ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise QueryError(f"{what}: cannot write into folder {p} (permission denied)")
    return p


def save_failed(what: str, path, exc: OSError) -> None:
    """Report on stderr that a result was printed but could not be saved (then exit 3)."""
    from verinet.errors import QueryError

    raise QueryError(f"the result above was not saved: cannot write {what} {path} ({exc.strerror or exc})")


def big_file(path, limit: int = 1 << 20) -> bool:
    """Whether a file is large enough (default 1 MiB) to announce a slow phase on stderr."""
    try:
        return os.path.getsize(path) >= limit
    except (OSError, ValueError, TypeError):
        return False


def emit_json(payload: dict) -> None:
    """Machine output on stdout."""
    click.echo(json.dumps(payload, indent=2, sort_keys=False))


def info(message: str, quiet: bool = False) -> None:
    """A log line on stderr."""
    if not quiet:
        click.echo(message, err=True)
