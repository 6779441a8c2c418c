"""A loss card: one self-contained HTML page about a loss given by its scale coefficient g(p).

``gradeng card FORMULA [--param NAME=VALUE ...] --out card.html`` writes one; so does
``gradeng evaluate`` (with its results). The page needs no network: math as inline SVG, plots
drawn by an inline script from precomputed float64 curves, a slider per parameter.
It builds on the symbolic side (`gradeng.symbolic`, SymPy and mpmath), like the experiments;
`import gradeng` does not load it.

Example:
  >>> import gradeng.symbolic.card as card
  >>> page = card.render_card("-(1-p)**gamma/p", params={"gamma": 2},
  ...                         slider_values={"gamma": [1, 3]})  # Maki, γ = 2
  >>> 'id="slider-gamma"' in page
  True
"""

from gradeng.symbolic.card._card import X_TICKS as X_TICKS
from gradeng.symbolic.card._card import render_card as render_card
from gradeng.symbolic.card._card import write_card as write_card
from gradeng.symbolic.card._data import GRID_POINTS as GRID_POINTS
from gradeng.symbolic.card._data import MAX_CURVE_SETS as MAX_CURVE_SETS
from gradeng.symbolic.card._data import P_GRID as P_GRID
from gradeng.symbolic.card._data import REFERENCES as REFERENCES
from gradeng.symbolic.card._data import slider_values as slider_values
from gradeng.symbolic.card._html import evaluation_html as evaluation_html
from gradeng.symbolic.card._html import json_html as json_html
from gradeng.symbolic.card._math import math_svg as math_svg

__all__ = [
    "render_card", "write_card", "slider_values", "evaluation_html", "json_html", "math_svg",
    "P_GRID",
    "GRID_POINTS", "REFERENCES", "X_TICKS", "MAX_CURVE_SETS",
]
