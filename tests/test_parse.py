"""Tests for the safe formula parser (`gradeng.symbolic._parse`)."""

import os
import tracemalloc

import hypothesis
import hypothesis.strategies as st
import pytest
import sympy as sp

from gradeng.runtime import NONNEGATIVE, Domain
from gradeng.symbolic import P
from gradeng.symbolic import FormulaError, coefficient, parse_formula
from gradeng.symbolic import expression, parameter_symbols, substitute

GAMMA = sp.Symbol("gamma", real=True)


@pytest.mark.parametrize("text, expected", [
    ("-1/p", -1 / P),
    ("-(1-p)**gamma/p", -(1 - P)**GAMMA / P),
    ("-(1-p)^gamma/p", -(1 - P)**GAMMA / P),  # `^` is a power with `**` precedence
    ("log(p)/p", sp.log(P) / P),
    ("ln(p)", sp.log(P)),
    ("log(p, 2)", sp.log(P) / sp.log(2)),
    ("-1/p - 0.1", -1 / P - sp.Rational(1, 10)),  # decimal literals are exact
    ("2.5*p", sp.Rational(5, 2) * P),
    ("+p - -p", 2 * P),
    ("sigmoid(p)", 1 / (1 + sp.exp(-P))),
    ("log1p(-p)", sp.log(1 - P)),
    ("expm1(p)", sp.exp(P) - 1),
    ("Gamma(p) + abs(p) + Abs(p)", sp.gamma(P) + 2 * P),
    ("sqrt(p)*exp(p)*sin(p)*cos(p)*tan(p)", sp.sqrt(P) * sp.exp(P) * sp.sin(P) * sp.cos(P)
     * sp.tan(P)),
    ("tanh(p)+sinh(p)+cosh(p)+atan(p)+asin(p)+acos(p)+erf(p)+erfc(p)+sign(p)",
     sp.tanh(P) + sp.sinh(P) + sp.cosh(P) + sp.atan(P) + sp.asin(P) + sp.acos(P) + sp.erf(P)
     + sp.erfc(P) + 1),
    ("min(p, 1/2) + max(p, 0, 1/3)", sp.Min(P, sp.Rational(1, 2)) + sp.Max(P, sp.Rational(1, 3))),
    ("pi*e*E", sp.pi * sp.E**2),
    ("10**300", sp.Integer(10)**300),
])
def test_parses_to_expected_sympy(text, expected):
  assert sp.simplify(parse_formula(text) - expected) == 0


def test_p_is_the_positive_coefficient_symbol():
  expr = parse_formula("p")
  assert expr is P and expr.is_positive


def test_parameters_get_assumptions_from_domains():
  expr = parse_formula("-(1-p)**gamma/p + q*epsilon",
                       domains={"gamma": NONNEGATIVE, "q": "positive"})
  symbols = {s.name: s for s in expr.free_symbols}
  assert symbols["gamma"].is_nonnegative is True
  assert symbols["q"].is_positive is True
  assert symbols["epsilon"].is_real is True and symbols["epsilon"].is_positive is None


def test_integer_domain_gives_integer_symbol():
  expr = parse_formula("p**n", domains={"n": Domain(lower=0, integer=True)})
  (n,) = expr.free_symbols - {P}
  assert n.is_integer and n.is_nonnegative


def test_unknown_name_names_it_and_lists_allowed():
  with pytest.raises(FormulaError, match=r"unknown name `x`.*parameters \['gamma'\].*pi.*log"):
    parse_formula("x*p", params=["gamma"])


def test_declared_parameter_is_accepted():
  assert parse_formula("gamma*p", params=["gamma"]) == GAMMA * P


@pytest.mark.parametrize("text, message", [
    ("p.real", r"attribute access \(`p.real`\)"),
    ("p[0]", "subscripting"),
    ("(lambda: 1)()", "lambda"),
    ("[p for p in range(3)]", "comprehension"),
    ("'p'", "strings"),
    ("b'p'", "strings"),
    ("1j*p", "complex"),
    ("True*p", "bool"),
    ("None", "NoneType"),
    ("log(p, base=2)", "keyword"),
    ("foo(p)", "call of `foo` is not allowed"),
    ("gamma(p)", "the Gamma function is `Gamma`"),
    ("__class__", "underscore"),
    ("p if p else 1", "conditional"),
    ("p < 1", "comparison"),
    ("p and 1", "boolean"),
    ("p // 2", "FloorDiv"),
    ("p % 2", "Mod"),
    ("~p", "Invert"),
    ("log", "without arguments"),
    ("log(p, 2, 3)", "1 to 2 argument"),
    ("exp()", "takes 1 argument"),
    ("max(p)", "2 or more"),
    ("1/0", "undefined or infinite"),
    ("1e400", "overflows"),
    ("p +", "cannot parse"),
    ("", "empty"),
    ("(" * 300 + "p" + ")" * 300, "cannot parse|nested"),
    ("-" * 500 + "p", "nested too deeply"),
    ("p" + "+p" * 1500, "at most 2000"),
])
def test_rejected_constructs_name_the_problem(text, message):
  with pytest.raises(FormulaError, match=message):
    parse_formula(text)


def test_malicious_formula_runs_nothing(tmp_path):
  target = tmp_path / "pwned"
  for text in [f"__import__('os').system('touch {target}')",
               f"eval(\"__import__('os').system('touch {target}')\")",
               "().__class__.__bases__[0].__subclasses__()",
               f"open('{target}', 'w')"]:
    with pytest.raises(FormulaError):
      parse_formula(text)
  assert not os.path.exists(target)


@pytest.mark.parametrize("text", ["9**9**9", "2**(10**9/3)", "(10**100)**(10**100)",
                                  "p**100000", "Gamma(10**7)", "99999**9999"])
def test_huge_powers_are_refused_before_they_are_computed(text):
  # Refused by the size check, not after building the number: the parse allocates almost
  # nothing (9**9**9 alone would take ~46 MB; 2**(10**9/3) far more).
  tracemalloc.start()
  try:
    with pytest.raises(FormulaError, match="too large"):
      parse_formula(text)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert peak < 4_000_000


def test_large_but_reasonable_powers_are_fine():
  assert parse_formula("10**3000") == sp.Integer(10)**3000
  assert parse_formula("(1-p)**50") == (1 - P)**50


def test_non_string_is_refused():
  with pytest.raises(FormulaError, match="must be a string"):
    parse_formula(3)


@pytest.mark.parametrize("bad", ["p", "pi", "log", "_x", "1a"])
def test_reserved_or_invalid_parameter_names(bad):
  with pytest.raises(FormulaError, match="parameter name"):
    parse_formula("p", params=[bad])


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(st.text(alphabet="p()+-*/^.0123456789eglosqrtxa_[]'\", ", max_size=40))
def test_random_text_either_parses_or_raises_formula_error(text):
  try:
    expr = parse_formula(text)
  except FormulaError:
    return
  assert isinstance(expr, sp.Expr)


@hypothesis.settings(max_examples=50, deadline=None)
@hypothesis.given(st.integers(-10**6, 10**6), st.integers(1, 10**6))
def test_rational_literals_are_exact(numerator, denominator):
  assert parse_formula(f"{numerator}/{denominator}*p") == sp.Rational(numerator, denominator) * P


def test_coefficient_declared_undeclared_and_defaults():
  coef = coefficient("-(1-p)**gamma/p + epsilon", name="maki_eps",
                     params={"gamma": "nonnegative"}, defaults={"gamma": 2})
  assert coef.name == "maki_eps"
  assert coef.params["gamma"] == NONNEGATIVE
  assert coef.params["epsilon"] == Domain()  # undeclared -> real
  assert coef.defaults == {"gamma": 2}
  assert parameter_symbols(coef)["gamma"].is_nonnegative
  assert substitute(coef, gamma=2, epsilon=0.5) == -(1 - P)**2 / P + sp.Rational(1, 2)


def test_coefficient_name_defaults_to_formula_and_accepts_sympy():
  assert coefficient(" -1/p ").name == "-1/p"
  assert expression(coefficient(-1 / P)) == -1 / P


@pytest.mark.parametrize("kwargs, message", [
    ({"defaults": {"gamma": -1}}, r"must be a real number in \[0, inf\)"),
    ({"defaults": {"delta": 1}}, "unknown parameter `delta`"),
    ({"params": {"gamma": "weird"}}, "Unknown parameter domain 'weird'"),
])
def test_coefficient_bad_defaults_and_domains(kwargs, message):
  kwargs = {"params": {"gamma": "nonnegative"}, **kwargs}
  with pytest.raises(ValueError, match=message):
    coefficient("-(1-p)**gamma/p", **kwargs)


def test_depth_is_nesting_not_the_length_of_a_sum():
  # a flat sum of 63 terms (314 characters) was refused as "nested too deeply".
  flat = " + ".join(f"p**{k}/{k + 1}" for k in range(63))
  assert len(sp.Add.make_args(parse_formula(flat))) == 63
  product = " * ".join(f"(1 + p/{k + 1})" for k in range(63))
  assert parse_formula(product).is_Mul
  with pytest.raises(FormulaError, match="nested too deeply"):
    parse_formula("exp(" * 70 + "p" + ")" * 70)
  with pytest.raises(FormulaError, match="nested too deeply"):
    parse_formula("(" * 40 + "p" + " + 1)**2" * 40)  # 80 levels of alternating + and **
