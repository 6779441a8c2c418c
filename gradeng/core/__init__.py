"""The core path: a scale coefficient g(p) to an injected JAX loss.

``_coefficient`` (ScaleCoefficient, parameter domains) → ``_parse`` (whitelisted formulas) →
``_derive`` (SymPy: L(p) = ∫_p^1 -g, with ``_integrate``, ``_verify``, ``_properties``,
``_mpeval``, ``_limits``; ``_symbolic`` re-exports them) → ``_jaxify`` (SymPy → JAX on
stable primitives) with ``_special`` (Maki tails) and ``_quadrature`` (when no closed form runs) →
``_inject`` (the custom derivative, heads) → ``_losses`` (the one factory) → ``_catalog`` (built-in
coefficients through that factory), ``_reductions`` (the paper's §3.3 normalisations) and
``_stateful`` (coefficients with state). The public names are re-exported from `gradeng`.
"""
