# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3
"""Cython media kernels (placeholder; filled in by the kernels work)."""
