"""Proof certificates, their independent exact checkers, and the reports that render them."""
