"""``gradeng derive "<formula>"``: the loss, its check and its properties from a formula for g(p).

Example::

  gradeng derive "-(1-p)**gamma/p" --param gamma=2.5 --domain gamma=nonnegative
  gradeng derive "log(p)/p" --json
  gradeng derive "d - m" --variable d --reference m --param m=1   # contrastive, negative pairs
"""

from __future__ import annotations

import argparse
import fractions
import json
import math
import re
import sys
import time
from typing import Any

import sympy as sp

from gradeng.cli import UsageError
from gradeng.symbolic import coefficient
from gradeng.symbolic import Derivation, derive


def configure(parser: argparse.ArgumentParser) -> None:
  # Formulas usually start with a minus ("-1/p"): let argparse read any "-x..." that is not one
  # of our options as a value, as it does for negative numbers ("--" also works).
  if hasattr(parser, "_negative_number_matcher"):
    parser._negative_number_matcher = re.compile(r"^-[^-]")  # pylint: disable=protected-access
  parser.add_argument("formula", help='g(p) = dL/dp in p and named parameters, e.g. "-(1-p)**gamma/p"')
  parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="substitute a parameter value (exact: 2.5 -> 5/2; 1/3 allowed); repeatable")
  parser.add_argument("--domain", action="append", default=[], metavar="NAME=DOMAIN",
                      help="declare a parameter's domain (real, nonnegative, positive, "
                           "nonnegative_integer, unit_interval); undeclared ones are real")
  parser.add_argument("--name", default=None, help="name of the coefficient (default: the formula)")
  parser.add_argument("--variable", default="p", choices=("p", "s", "d"),
                      help="what g is the derivative with respect to: p (probability, L(1) = 0; "
                           "default), s (similarity in [-1, 1], L(-1) = 0) or d (distance >= 0, "
                           "L(0) = 0): a pair weight integrates to its loss the same way")
  parser.add_argument("--reference", default=None, metavar="EXPR",
                      help="another point where the loss is 0, e.g. a margin m (a formula in the "
                           "parameters)")
  parser.add_argument("--json", action="store_true", help="print one JSON object")
  parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                      help="give up on SymPy after SECONDS of wall time (the loss is then "
                           "integrated numerically); default: SymPy's own per-step limits")
  parser.add_argument("--quiet", action="store_true",
                      help="no progress lines or notes on stderr")


def _split(option: str, text: str) -> tuple[str, str]:
  name, sep, value = text.partition("=")
  if not sep or not name.strip() or not value.strip():
    raise UsageError(f"--{option} expects NAME=VALUE (e.g. gamma=2); got {text!r}.")
  return name.strip(), value.strip()


def parse_value(name: str, text: str) -> sp.Rational:
  """An exact rational from ``2``, ``2.5``, ``1e-3`` or ``5/2``."""
  try:
    return sp.Rational(fractions.Fraction(text))
  except (ValueError, ZeroDivisionError):
    raise UsageError(f"--param {name}: {text!r} is not a finite number (e.g. 2, 2.5, 5/2).") from None


def _pairs(option: str, items: list[str]) -> dict[str, str]:
  pairs: dict[str, str] = {}
  for item in items:
    name, value = _split(option, item)
    if name in pairs:
      raise UsageError(f"--{option} {name} given twice.")
    pairs[name] = value
  return pairs


def _holds(value: bool | None) -> str:
  return {True: "yes", False: "no", None: "?"}[value]


def _strict(value: Any) -> Any:
  """JSON has no infinities: ±inf and nan become the strings "inf", "-inf", "nan"."""
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value


def as_json(derivation: Derivation) -> dict[str, Any]:
  """The derivation as a JSON-ready dict (keys coefficient, loss, latex, verified, properties…)."""
  coef = derivation.coefficient
  hypergeometric = derivation.hypergeometric_form()
  return {
      "coefficient": {
          "name": coef.name,
          "g": str(derivation.g),
          "parameters": {name: domain.describe() for name, domain in sorted(coef.params.items())},
          "values": {name: str(value) for name, value in sorted(derivation.params.items())},
      },
      "loss": None if derivation.loss is None else str(derivation.loss),
      "latex": derivation.latex(),
      "verified": derivation.verified,
      "verification": derivation.verification,
      "method": derivation.method,
      "stable_form": None if derivation.stable_form is None else str(derivation.stable_form),
      "hypergeometric_form": None if hypergeometric is None else str(hypergeometric),
      "notes": list(derivation.notes),
      "properties": [{"name": c.name, "holds": c.holds, "evidence": c.evidence,
                      "values": {k: _strict(v) for k, v in c.values.items()}}
                     for c in derivation.properties],
  }


def as_text(derivation: Derivation) -> str:
  """A short human-readable report."""
  coef = derivation.coefficient
  values = ", ".join(f"{k}={v}" for k, v in sorted(derivation.params.items()))
  x = derivation.variable.name
  lines = [f"coefficient  {coef.name}: g({x}) = {derivation.g}" + (f"  ({values})" if values else "")]
  if x != "p":
    lines.append(f"variable     {derivation.variable.describe()}")
  if derivation.loss is None:
    lines.append("loss         no closed form: numeric integration")
  else:
    lines.append(f"loss         L({x}) = {derivation.loss}")
  if derivation.stable_form is not None:
    lines.append(f"stable form  L({x}) = {derivation.stable_form}")
  lines.append(f"latex        {derivation.latex()}")
  lines.append(f"verified     {_holds(derivation.verified)} ({derivation.verification})")
  lines.extend(f"note         {note}" for note in derivation.notes)
  if not derivation.properties:  # the paper's properties are about p in (0, 1)
    return "\n".join(lines)
  lines.append("properties")
  width = max(len(c.name) for c in derivation.properties)
  lines.extend(f"  {c.name:<{width}}  {_holds(c.holds):<3}  {c.evidence}"
               for c in derivation.properties)
  return "\n".join(lines)


def _progress(quiet: bool):
  """A callback printing each SymPy step on stderr (one updating line on a terminal)."""
  if quiet:
    return None
  start = time.monotonic()
  terminal = sys.stderr.isatty()

  def report(step: str) -> None:
    line = f"derive: [{time.monotonic() - start:5.1f} s] {step}"
    if terminal:
      sys.stderr.write(f"\r\033[K{line[:120]}")
    else:
      sys.stderr.write(line + "\n")
    sys.stderr.flush()

  report.terminal = terminal  # type: ignore[attr-defined]
  return report


def run(args: argparse.Namespace) -> int:
  if args.timeout is not None and not args.timeout > 0:
    raise UsageError(f"--timeout must be a positive number of seconds; got {args.timeout:g}.")
  values = {name: parse_value(name, text) for name, text in _pairs("param", args.param).items()}
  domains = _pairs("domain", args.domain)
  coef = coefficient(args.formula, name=args.name, params=domains, variable=args.variable,
                     reference=args.reference)
  unknown = sorted(set(values) - set(coef.params))
  if unknown:
    raise UsageError(f"`{coef.name}` has no parameter(s) {unknown}; it takes "
                     f"{sorted(coef.params) or 'none'}.")
  undeclared = sorted(set(coef.params) - set(values) - set(domains))
  if undeclared and not args.quiet:
    names = ", ".join(f"`{name}`" for name in undeclared)
    sys.stderr.write(
        f"derive: note: {names} taken as parameter(s) (real, kept symbolic); give a value with "
        f"--param NAME=VALUE or a domain with --domain NAME=nonnegative (or check the "
        f"spelling: the variable is `{args.variable}`).\n")
  progress = _progress(args.quiet)
  derivation = derive(coef, timeout=args.timeout, progress=progress, **values)
  if progress is not None and progress.terminal:
    sys.stderr.write("\r\033[K")
  if args.json:
    print(json.dumps(as_json(derivation), ensure_ascii=False, allow_nan=False))
  else:
    print(as_text(derivation))
  return 0
