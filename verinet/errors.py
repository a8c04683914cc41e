"""Errors a user can cause, each mapped to one clear line and an exit code by the command line.

Only :class:`VerinetInputError` and its subclasses mean "bad input" (exit code 3 on the command line).
Any other exception that reaches the command line is a defect in verinet: it is reported as an internal
error (exit code 4) with a request to report it, never as a problem with the user's files.
"""

from __future__ import annotations

__all__ = [
    "VerinetError",
    "VerinetInputError",
    "ModelFormatError",
    "QueryError",
    "PropertyFormatError",
    "CertificateError",
    "NumberFormatError",
]


class VerinetError(Exception):
    """Base class of all errors verinet raises on purpose."""

    exit_code = 3


class VerinetInputError(VerinetError, ValueError):
    """A user error: a bad file, option or query (a ``ValueError``, so ``except ValueError`` still works)."""


class ModelFormatError(VerinetInputError):
    """A model file is missing, malformed, or uses something verinet does not support."""


class QueryError(VerinetInputError):
    """A query is invalid: empty or inverted box, radius <= 0, wrong dimension, bad output index."""


class PropertyFormatError(VerinetInputError):
    """A VNN-LIB property file is missing or malformed."""


class CertificateError(VerinetInputError):
    """A certificate file is missing or malformed (not: a well-formed certificate that fails checking)."""


class NumberFormatError(VerinetInputError):
    """A number written as text is malformed, not finite, or beyond verinet's size limits."""
