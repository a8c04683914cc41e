"""The questions users ask, built on the bounds: Lipschitz constants, verification of VNN-LIB properties, robustness, and the searches for witnesses and counterexamples."""
