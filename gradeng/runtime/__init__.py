"""The runtime: JAX only. Heads, the injected derivative, special functions, the catalog,
stateful coefficients and reductions. Never imports SymPy or mpmath."""
