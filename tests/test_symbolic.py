"""Tests for the symbolic derivation (`gradeng.symbolic._derive` and the modules it uses): derived losses, their checks, the property report, the CLI.

Expected values are derived by hand: L(p) = ∫_p^1 -g(t) dt, L(1) = 0.
"""

import json
import os

import hypothesis
import hypothesis.strategies as st
import mpmath
import pytest
import sympy as sp

from gradeng.cli import main
from gradeng.symbolic import P
from gradeng.symbolic import FormulaError, coefficient, parse_formula
from gradeng.symbolic import Derivation, derive
from gradeng.symbolic import DivergentIntegralError
from gradeng.symbolic import PropertyCheck, check_properties
from gradeng.symbolic import verify_numeric
from gradeng.symbolic import parameter_symbols
from tests.reference import same

Q = 1 - P
MAKI = coefficient("-(1-p)**gamma/p", name="maki", params={"gamma": "nonnegative"},
                   defaults={"gamma": 1})
FOCAL = coefficient("-(1-p)**gamma/p + gamma*(1-p)**(gamma-1)*log(p)", name="focal",
                    params={"gamma": "nonnegative"}, defaults={"gamma": 2})
POLY1 = coefficient("-1/p - epsilon", name="poly1", params={"epsilon": "real"},
                    defaults={"epsilon": 1})
GCE = coefficient("-p**(q-1)", name="gce", params={"q": "positive"}, defaults={"q": 0.7})


def derivative_matches(derivation):
  return same(sp.diff(derivation.loss, P), derivation.g)


def loss_at(derivation, p, digits=40, **params):
  """L(p) at ``digits`` digits, parameters substituted by name."""
  subs = {P: p, **{s: sp.nsimplify(params[s.name]) for s in derivation.loss.free_symbols
                   if s.name in params}}
  with mpmath.workdps(digits):
    return mpmath.mpf(str(sp.N(derivation.loss, digits, subs=subs)))


def quad_loss(g_of_t, p, digits=40):
  """∫_p^1 -g(t) dt by tanh-sinh quadrature at ``digits`` digits."""
  with mpmath.workdps(digits):
    p = mpmath.mpf(p)
    points = [p, (p + 1) / 2, 1] if p > 0.1 else [p, mpmath.sqrt(p), mpmath.mpf(1) / 2, 1]
    return mpmath.quad(lambda t: -g_of_t(t), points)


def by_name(checks):
  return {c.name: c for c in checks}


# ---------------------------------------------------------------------------------------------
# Closed forms


def test_cross_entropy():
  d = derive("-1/p")
  assert isinstance(d, Derivation)
  assert same(d.loss, -sp.log(P))
  assert d.method == "closed_form" and d.verified is True and d.verification == "symbolic"
  # LaTeX by SymPy's own printer (not a snapshot of one SymPy version's output).
  assert d.latex() == f"g(p) = {sp.latex(d.g)}, \\quad L(p) = {sp.latex(d.loss)}"
  assert d.stable_form is None and d.hypergeometric_form() is None


def test_focal_gamma_2():
  d = derive(FOCAL, gamma=2)
  assert d.params == {"gamma": 2}
  assert same(d.loss, -(1 - P)**2 * sp.log(P))
  assert d.verified is True and derivative_matches(d)


# FL for a symbolic γ: tests/test_derivations.py (the reports' run derives it).


@pytest.mark.parametrize("gamma", [0, 1, 2, 5])
def test_maki_integer_gamma(gamma):
  d = derive(MAKI, gamma=gamma)
  expected = -sp.log(P) - sum(Q**j / j for j in range(1, gamma + 1))
  assert same(d.loss, expected)
  assert d.verified is True and derivative_matches(d)
  if gamma == 0:  # cross-entropy: nothing to stabilise
    assert d.stable_form is None
    return
  j = sp.Symbol("j", integer=True, positive=True)
  assert d.stable_form == sp.Sum(Q**j / j, (j, gamma + 1, sp.oo))
  assert any(f"Σ_{{j>{gamma}}}" in note for note in d.notes)
  # The tail form equals the finite form (at moderate p, where the finite form is accurate).
  for p in (sp.Rational(1, 10), sp.Rational(1, 2), sp.Rational(9, 10)):
    assert abs(sp.N(d.stable_form - d.loss, 30, subs={P: p})) < 1e-25


@pytest.mark.parametrize("gamma", [20, 50])
def test_maki_large_integer_gamma_fast_and_verified(gamma):
  d = derive(MAKI, gamma=gamma)
  assert d.verified is True and d.verification == "symbolic"
  assert d.loss.count(sp.log) == 1 and len(sp.Add.make_args(d.loss)) >= gamma
  for p in ("0.05", "0.5", "0.9"):  # 80 digits: the finite form cancels many digits near p = 1
    want = quad_loss(lambda t: -(1 - t)**gamma / t, p, digits=80)
    with mpmath.workdps(80):
      assert abs(loss_at(d, sp.Rational(p), digits=80) - want) <= 1e-25 * abs(want)


def test_maki_gamma_1_is_cross_entropy_minus_one_minus_p():
  assert same(derive(MAKI, gamma=1).loss, -sp.log(P) - (1 - P))


def test_maki_real_gamma_closed_form_against_quadrature():
  gamma = mpmath.mpf(5) / 2
  d = derive(MAKI, gamma=2.5)
  assert d.params == {"gamma": sp.Rational(5, 2)}
  assert d.loss.is_real is not False and not d.loss.has(sp.I)
  assert d.verified is True
  for p in ("1e-6", "0.01", "0.3", "0.7", "0.99", "0.99999"):
    want = quad_loss(lambda t: -(1 - t)**gamma / t, p)
    with mpmath.workdps(40):
      assert abs(loss_at(d, sp.Rational(p)) - want) <= 1e-25 * abs(want)
      stable = (1 - mpmath.mpf(p))**(gamma + 1) * mpmath.lerchphi(1 - mpmath.mpf(p), 1, gamma + 1)
      assert abs(stable - want) <= 1e-25 * abs(want)
  assert d.stable_form == (1 - P)**sp.Rational(7, 2) * sp.lerchphi(1 - P, 1, sp.Rational(7, 2))


def test_maki_symbolic_gamma_lerch_and_hypergeometric_forms():
  d = derive(MAKI)
  gamma = parameter_symbols(MAKI)["gamma"]
  assert same(d.loss, Q**(gamma + 1) * sp.lerchphi(Q, 1, gamma + 1))
  assert d.verified is True
  hyper = d.hypergeometric_form()
  assert hyper == Q**(gamma + 1) * sp.hyper([1, gamma + 1], [gamma + 2], Q) / (gamma + 1)
  for g_value in ("0.3", "2.5", "7.1"):
    with mpmath.workdps(40):
      a = mpmath.mpf(g_value)  # exact to 40 digits, like the 3/10 substituted into L
    for p in ("0.001", "0.5", "0.999"):
      want = quad_loss(lambda t, a=a: -(1 - t)**a / t, p)
      with mpmath.workdps(40):
        q = 1 - mpmath.mpf(p)
        got = q**(a + 1) * mpmath.hyp2f1(1, a + 1, a + 2, q) / (a + 1)
        assert abs(got - want) <= 1e-25 * abs(want)
        assert abs(loss_at(d, sp.Rational(p), gamma=g_value) - want) <= 1e-25 * abs(want)


def test_qce():
  d = derive("log(p)/p")
  assert same(d.loss, sp.log(P)**2 / 2) and d.verified is True


def test_poly1_symbolic_epsilon():
  d = derive(POLY1)
  epsilon = parameter_symbols(POLY1)["epsilon"]
  assert same(d.loss, -sp.log(P) + epsilon * (1 - P))
  assert d.verified is True
  assert same(derive(POLY1, epsilon=-1).loss, derive(MAKI, gamma=1).loss)  # Maki γ=1 = Poly-1


def test_gce_positive_q():
  d = derive(GCE)
  q = parameter_symbols(GCE)["q"]
  assert same(d.loss, (1 - P**q) / q)
  assert d.verified is True
  assert same(derive(GCE, q=0.5).loss, 2 * (1 - sp.sqrt(P)))


def test_gce_real_q_is_piecewise_and_vanishes_at_one():
  d = derive("-p**(q-1)")  # q undeclared: real, q = 0 gives cross-entropy
  q = next(s for s in d.g.free_symbols if s.name == "q")
  assert isinstance(d.loss, sp.Piecewise)
  assert same(d.loss.subs(q, sp.Rational(1, 2)), 2 * (1 - sp.sqrt(P)))
  assert d.loss.subs(q, 0) == -sp.log(P)
  assert d.verified is True


@hypothesis.settings(max_examples=8, deadline=None)
@hypothesis.given(st.integers(1, 4), st.integers(0, 6), st.integers(0, 3), st.integers(0, 3))
def test_random_polynomial_coefficients_integrate_exactly(a, n, b, k):
  """g = -a(1-p)^n/p - b p^k: L = a Σ_{j>n} (1-p)^j/j + b (1 - p^(k+1))/(k+1)."""
  d = derive(-a * Q**n / P - b * P**k)
  assert d.verified is True and d.method == "closed_form"
  expected = a * (-sp.log(P) - sum(Q**j / j for j in range(1, n + 1))) + b * (
      1 - P**(k + 1)) / (k + 1)
  for p in (sp.Rational(1, 7), sp.Rational(2, 3)):
    assert abs(sp.N((d.loss - expected).subs(P, p), 30)) < 1e-25


def test_numeric_parameters_become_exact():
  assert derive(POLY1, epsilon=0.1).params == {"epsilon": sp.Rational(1, 10)}
  assert derive(POLY1, epsilon=sp.Rational(2, 3)).params == {"epsilon": sp.Rational(2, 3)}


def test_derivations_are_cached():
  first = derive(MAKI, gamma=3)
  second = derive(MAKI, gamma=3)
  assert second.loss is first.loss and second.verification == first.verification


# ---------------------------------------------------------------------------------------------
# Divergence, no closed form, bad input


@pytest.mark.parametrize("formula", ["-1/(1-p)", "-1/(1-p)**2", "-p/(1-p)**3", "log(1-p)/(1-p)",
                                     "-1/(p*(1-p))"])
def test_divergent_at_one(formula):
  with pytest.raises(DivergentIntegralError, match="diverges at p = 1"):
    derive(formula)


def test_divergent_is_value_error_naming_formula():
  with pytest.raises(ValueError, match=r"g\(p\) = -1/\(1 - p\)"):
    derive("-1/(1-p)")


def test_no_closed_form_falls_back_to_numeric():
  d = derive("-p**p")
  assert d.loss is None and d.method == "numeric" and d.verified is None
  assert "numeric" in d.verification
  assert r"\text{(numeric)}" in d.latex()


def test_discontinuous_coefficient_is_refused():
  with pytest.raises(ValueError, match=r"not continuous on all of \(0, 1\)"):
    derive("1/(p - 1/2)")


@pytest.mark.parametrize("params, error, message", [
    ({"gamma": -1}, ValueError, r"`gamma` of `maki` must be a real number in \[0, inf\); got -1"),
    ({"gamma": float("nan")}, ValueError, "must be a real number"),
    ({"delta": 1}, ValueError, r"no parameter\(s\) \['delta'\]; it takes \['gamma'\]"),
    ({"gamma": "2"}, ValueError, "must be a number"),
])
def test_bad_parameters(params, error, message):
  with pytest.raises(error, match=message):
    derive(MAKI, **params)


def test_bad_formula_is_formula_error():
  with pytest.raises(FormulaError):
    derive("p.__class__")


# ---------------------------------------------------------------------------------------------
# Verification helpers


def test_numeric_verification_catches_a_wrong_loss():
  ok, text = verify_numeric(-1 / P, -sp.log(P), {})
  assert ok is True and text.startswith("numeric at 24 points")
  ok, text = verify_numeric(-1 / P, -sp.log(P) * (1 + sp.Rational(1, 10**15)), {})
  assert ok is False and "max rel err 1.0e-15" in text


def test_numeric_verification_raises_precision_through_cancellation():
  # -log p - Σ_{j≤50} (1-p)^j/j has dL/dp ~ 1e-59 at p = 0.93 from O(1) terms: 30 digits alone
  # would report a relative error of ~1e29.
  finite = -sp.log(P) - sum(Q**j / j for j in range(1, 51))
  ok, text = verify_numeric(-Q**50 / P, finite, {})
  assert ok is True and float(text.rsplit(" ", 1)[1]) < 1e-40
  ok, _ = verify_numeric(-Q**50 / P, finite + Q**50 / 50, {})  # one term short
  assert ok is False


# ---------------------------------------------------------------------------------------------
# Properties (hand-derived limits)

A, B, C, D = ("|g| non-increasing as p → 1", "g → 0 as p → 1", "g bounded as p → 0",
              "L ≥ 0 on (0, 1)")


def test_properties_cross_entropy():
  props = by_name(derive("-1/p").properties)
  assert list(props) == [A, B, C, D]
  assert props[A].holds is True  # |g| = 1/p decreases
  assert props[B].holds is False and props[B].values["limit"] == -1.0
  assert props[C].holds is False and props[C].values["limit"] == float("-inf")
  assert props[D].holds is True
  assert "-1" in props[B].evidence and "-oo" in props[C].evidence


def test_properties_focal_gamma_2():
  props = by_name(derive(FOCAL, gamma=2).properties)
  assert props[A].holds is True
  assert props[B].holds is True and props[B].values["limit"] == 0.0
  assert props[C].holds is False and props[C].values["limit"] == float("-inf")  # the -1/p term
  assert props[D].holds is True


@pytest.mark.parametrize("gamma", [1, 2.5])
def test_properties_maki(gamma):
  props = by_name(derive(MAKI, gamma=gamma).properties)
  assert props[A].holds is True
  assert props[B].holds is True and props[B].values["limit"] == 0.0
  assert props[C].holds is False and props[C].values["limit"] == float("-inf")
  assert props[D].holds is True and props[D].values["min_loss"] >= 0


def test_properties_qce():
  props = by_name(derive("log(p)/p").properties)
  assert props[A].holds is True  # d|g|/dp = (log p - 1)/p² < 0 on (0, 1)
  assert props[B].holds is True and props[B].values["limit"] == 0.0  # log 1 = 0
  assert props[C].holds is False and props[C].values["limit"] == float("-inf")
  assert props[D].holds is True


def test_properties_without_closed_form():
  props = by_name(derive("-p**p").properties)
  # |g| = p^p has its minimum at p = 1/e and rises to 1 at p = 1.
  assert props[A].holds is False and 0.37 < props[A].values["at"] <= 1
  assert props[B].holds is False and props[B].values["limit"] == -1.0
  assert props[C].holds is True and props[C].values["limit"] == -1.0  # p^p -> 1 as p -> 0
  assert props[D].holds is True and props[D].values["method"] == "sign of g"


def test_properties_with_free_parameters_depend_on_them():
  for check in derive("-1/p - epsilon").properties:
    assert check.holds is None and "depends on parameters ['epsilon']" in check.evidence


def test_properties_at_defaults():
  props = by_name(derive(POLY1).properties)  # epsilon = 1 by default: g = -1/p - 1
  assert props[B].holds is False and props[B].values["limit"] == -2.0
  assert props[B].evidence.startswith("at the defaults epsilon=1")


def test_check_properties_standalone():
  constant = by_name(check_properties(sp.Integer(-1), 1 - P))
  assert constant[A].holds is True  # |g| constant: non-increasing
  assert constant[C].holds is True and constant[C].values["limit"] == -1.0
  positive = by_name(check_properties(1 / P))  # L = log p < 0: found by quadrature
  assert positive[D].holds is False and positive[D].values["method"] == "quadrature"
  assert positive[D].values["min_loss"] < 0
  assert isinstance(positive[A], PropertyCheck)


def test_monotonicity_violation_is_located():
  # g = -(p - 1/2)^2 - 1/10: |g| decreases up to p = 1/2, then increases.
  props = by_name(check_properties(-(P - sp.Rational(1, 2))**2 - sp.Rational(1, 10)))
  assert props[A].holds is False and props[A].values["at"] > 0.5
  assert props[B].holds is False and props[B].values["limit"] == pytest.approx(-0.35)


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_text(capsys):
  assert main(["derive", "-(1-p)**gamma/p", "--param", "gamma=2"]) == 0
  out = capsys.readouterr().out
  assert "g(p) = -(1 - p)**2/p" in out and "L(p) = " in out and "verified     yes (symbolic)" in out
  assert "g → 0 as p → 1" in out and "stable form" in out


def test_cli_json(capsys):
  assert main(["derive", "log(p)/p", "--json", "--name", "qce"]) == 0
  result = json.loads(capsys.readouterr().out)
  assert {"coefficient", "loss", "latex", "verified", "properties"} <= set(result)
  assert result["coefficient"]["name"] == "qce"
  assert same(parse_formula(result["loss"]), sp.log(P)**2 / 2) and result["verified"] is True
  assert [p["holds"] for p in result["properties"]] == [True, True, False, True]
  assert all(set(p) >= {"name", "holds", "evidence"} for p in result["properties"])
  assert result["properties"][2]["values"]["limit"] == "-inf"  # strict JSON: no -Infinity


def test_cli_json_with_param_and_domain(capsys):
  assert main(["derive", "-(1-p)**gamma/p", "--param", "gamma=5/2", "--domain",
               "gamma=nonnegative", "--json"]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["coefficient"]["values"] == {"gamma": "5/2"}
  assert result["coefficient"]["parameters"] == {"gamma": "a real number in [0, inf)"}
  assert "lerchphi" in result["stable_form"] and "hyper" in result["hypergeometric_form"]


def test_cli_numeric(capsys):
  assert main(["derive", "-p**p"]) == 0
  assert "no closed form: numeric integration" in capsys.readouterr().out


def test_cli_malicious_formula_runs_nothing(capsys, tmp_path):
  target = tmp_path / "pwned"
  with pytest.raises(SystemExit) as exit_info:
    main(["derive", f"__import__('os').system('touch {target}')"])
  assert exit_info.value.code == 2
  assert not os.path.exists(target)
  err = capsys.readouterr().err
  assert err.startswith("gradeng derive: error: attribute access") and err.count("\n") == 1


def test_cli_divergent(capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["derive", "-1/(1-p)"])
  assert exit_info.value.code == 2
  assert "diverges" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--param", "gamma"], "--param expects NAME=VALUE"),
    (["--param", "=2"], "--param expects NAME=VALUE"),
    (["--param", "gamma=abc"], "not a finite number"),
    (["--param", "gamma=1/0"], "not a finite number"),
    (["--param", "gamma=1", "--param", "gamma=2"], "given twice"),
    (["--param", "delta=1"], "no parameter"),
    (["--param", "gamma=-1", "--domain", "gamma=nonnegative"], r"must be a real number in \[0"),
    (["--domain", "gamma=weird"], "Unknown parameter domain"),
])
def test_cli_bad_options(capsys, argv, message):
  with pytest.raises(SystemExit) as exit_info:
    main(["derive", "-(1-p)**gamma/p", *argv])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("gradeng derive: error:")
  assert pytest.importorskip("re").search(message, err)


def test_cli_progress_timeout_and_undeclared_names(capsys):
  # `gradeng derive` on this formula ran 62 s silently, and `pp`
  # silently became a parameter.
  assert main(["derive", "-log(1+p**7+sin(p)**3)/p**1.5", "--timeout", "1"]) == 0
  captured = capsys.readouterr()
  assert "gave up after 1 s (wall clock)" in captured.out
  assert "derive: [" in captured.err  # progress lines
  assert main(["derive", "-(1-p)**2/pp"]) == 0
  err = capsys.readouterr().err
  assert "`pp` taken as parameter" in err and "--param" in err
  with pytest.raises(SystemExit) as exit_info:
    main(["derive", "-1/p", "--timeout", "0"])
  assert exit_info.value.code == 2


def test_infinite_limits_have_the_right_sign():
  # SymPy gives lim_{p→1⁻} -1/sqrt(1-p) = +oo; g is negative there.
  checks = by_name(derive("-1/sqrt(1-p)").properties)
  assert checks[B].holds is False and checks[B].values["limit"] == float("-inf")
  assert "= -oo" in checks[B].evidence


def test_loss_sign_tolerance_is_stated():
  # `L ≥ 0: yes` was printed next to min L = -5.3e-51 with no word on why.
  check = by_name(derive("-(1-p)**50/p").properties)[D]
  assert check.holds is True and check.values["min_loss"] < 0
  assert 0 < check.values["tolerance"] < 1e-18
  assert "count as 0" in check.evidence
  assert "count as 0" not in by_name(derive("-1/p").properties)[D].evidence


def test_parameters_found_in_a_formula_are_reported():
  # `-(1-p)**2/pp` silently had a parameter `pp`.
  d = derive("-(1-p)**2/pp")
  assert any("parameters found in the formula: ['pp']" in note for note in d.notes)
  assert not any("parameters found" in note for note in derive("-(1-p)**2/p").notes)
