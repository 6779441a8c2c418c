"""LaTeX to inline SVG with matplotlib's mathtext: math that renders with no network and no fonts
on the reader's side (each glyph is an SVG path)."""

from __future__ import annotations

import io
import re

#: What mathtext's SVG carries that an inline SVG must not: the XML prolog and doctype, the
#: metadata (a creation date: the card would not be byte-stable), a ``*{...}`` style that would
#: apply to the whole page, comments and namespace declarations (HTML needs none).
_DROP = (re.compile(r"\A.*?(?=<svg)", re.S), re.compile(r"<metadata>.*?</metadata>\s*", re.S),
         re.compile(r"<style[^>]*>.*?</style>\s*", re.S), re.compile(r"<!--.*?-->\s*", re.S),
         re.compile(r'\s+xmlns(:\w+)?="[^"]*"'), re.compile(r'\s+version="[^"]*"'))


def math_svg(latex: str, *, id_prefix: str, size: float = 13.0) -> str:
  """The formula ``latex`` (without ``$``) as an inline ``<svg class="math">`` element.

  Glyphs are paths (``svg.fonttype`` "path"), so the page needs no font; element ids are
  prefixed with ``id_prefix`` so that several formulas can share one page. The output depends
  only on ``latex``, ``id_prefix`` and ``size`` (no date, no random ids).

  Args:
    latex: a formula in the subset of LaTeX that matplotlib's mathtext reads, without ``$``.
    id_prefix: prefix of every id inside the SVG (letters, digits, ``-``), unique per page.
    size: font size in points.

  Returns:
    The ``<svg ...>...</svg>`` text.

  Raises:
    ValueError: mathtext cannot parse ``latex``.

  Example:
    >>> from gradeng.symbolic.card import math_svg
    >>> svg = math_svg(r"g(p) = -\\frac{1}{p}", id_prefix="m0-")
    >>> svg.startswith('<svg class="math"'), "http" in svg
    (True, False)
  """
  import matplotlib
  from matplotlib import mathtext
  from matplotlib.font_manager import FontProperties

  if not re.fullmatch(r"[A-Za-z0-9-]*", id_prefix):
    raise ValueError(f"`id_prefix` must be letters, digits and '-'; got {id_prefix!r}.")
  buffer = io.BytesIO()
  with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "gradeng",
                              "mathtext.fontset": "dejavusans"}):
    mathtext.math_to_image(f"${latex}$", buffer, format="svg", prop=FontProperties(size=size))
  svg = buffer.getvalue().decode("utf-8")
  for pattern in _DROP:
    svg = pattern.sub("", svg)
  svg = svg.replace("xlink:href=", "href=")
  svg = re.sub(r'\bid="', f'id="{id_prefix}', svg)
  svg = re.sub(r'href="#', f'href="#{id_prefix}', svg)
  svg = re.sub(r'url\(#', f'url(#{id_prefix}', svg)
  return svg.replace("<svg ", '<svg class="math" role="img" ', 1).strip()
