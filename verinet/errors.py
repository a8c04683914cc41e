"""Errors a user can cause, each mapped to one clear line and an exit code by the command line."""

from __future__ import annotations

__all__ = ["VerinetError", "ModelFormatError", "QueryError", "PropertyFormatError", "CertificateError"]


class VerinetError(Exception):
    """Base class of all user-facing errors (bad files, bad queries)."""

    exit_code = 3


class ModelFormatError(VerinetError, ValueError):
    """A model file is missing, malformed, or uses something verinet does not support."""


class QueryError(VerinetError, ValueError):
    """A query is invalid: empty or inverted box, radius <= 0, wrong dimension, bad output index."""


class PropertyFormatError(VerinetError, ValueError):
    """A VNN-LIB property file is missing or malformed."""


class CertificateError(VerinetError, ValueError):
    """A certificate file is missing or malformed (not: a well-formed certificate that fails checking)."""
