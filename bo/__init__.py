"""Bayesian optimisation on top of the PFN (BoTorch ``Model`` / ``Posterior``): not implemented yet.

This package is reserved for the BoTorch integration; it has no public API in this version.
"""
