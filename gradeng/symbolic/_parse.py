"""Safe parsing of scale-coefficient formulas such as ``"-(1-p)**gamma/p"`` into SymPy.

The text is parsed by Python's `ast` (``mode="eval"``) and the tree is walked here, node by
node, building SymPy objects directly from a whitelist: numbers, names, unary ``+``/``-``,
binary ``+ - * / ** ^`` and calls of the functions in `FUNCTIONS`. Nothing in the text is ever
evaluated (no ``eval``, no ``sympify``/``parse_expr`` of the raw string), so a formula such as
``__import__('os').system('...')`` is rejected before anything runs.

Names: ``p`` is the probability of the true class (`gradeng.symbolic.P`, positive); ``pi``
and ``e``/``E`` are the constants; every other name is a hyper-parameter symbol. Note that
``gamma`` is a *parameter* (focal and Maki losses); the Gamma function is spelled ``Gamma``.
"""

from __future__ import annotations

import ast
import fractions
import math
import warnings
from collections.abc import Callable, Iterable, Mapping

import sympy as sp

from gradeng.runtime import InputError
from gradeng.runtime import Domain, ScaleCoefficient, as_domain
from gradeng.runtime import Variable
from gradeng.symbolic._variable import P, SymbolicVariable, as_variable

#: Longest formula accepted, in characters.
MAX_LENGTH = 2000
#: Deepest expression tree accepted (nesting of operators and calls).
MAX_DEPTH = 60
#: Largest number of bits a power of two numeric literals may produce (e.g. ``10**3000`` is fine,
#: ``9**9**9`` is refused before it is computed).
MAX_POWER_BITS = 20_000
#: Largest magnitude of a numeric exponent of a symbolic base (``(1-p)**50`` is fine).
MAX_EXPONENT = 10_000
#: Largest magnitude of a numeric argument of `Gamma` (which SymPy would expand exactly).
MAX_GAMMA_ARGUMENT = 1000

CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E, "E": sp.E}


class FormulaError(InputError):
  """A formula that cannot be parsed or uses something outside the whitelist.

  Example:
    >>> import gradeng as ge
    >>> issubclass(ge.FormulaError, ge.InputError)
    True
    >>> ge.parse_formula("p.real")
    Traceback (most recent call last):
    ...
    gradeng.symbolic._parse.FormulaError: attribute access (`p.real`) is not allowed in a formula.
  """


def _sigmoid(x: sp.Expr) -> sp.Expr:
  """σ(x) = 1 / (1 + exp(-x))."""
  return 1 / (1 + sp.exp(-x))


def _log(x: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
  """log(x), or log(x) / log(base) with a second argument."""
  return sp.log(x) if base is None else sp.log(x) / sp.log(base)


def _gamma_function(x: sp.Expr) -> sp.Expr:
  """Γ(x), refusing huge numeric arguments that SymPy would expand into exact factorials."""
  if x.is_Number and abs(x) > MAX_GAMMA_ARGUMENT:
    raise FormulaError(
        f"`Gamma` of {x} is too large to expand; numeric arguments must be at most "
        f"{MAX_GAMMA_ARGUMENT} in magnitude.")
  return sp.gamma(x)


# name -> (builder, smallest and largest number of arguments; None for no upper bound)
FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int | None]] = {
    "log": (_log, 1, 2),
    "ln": (sp.log, 1, 1),
    "exp": (sp.exp, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "sin": (sp.sin, 1, 1),
    "cos": (sp.cos, 1, 1),
    "tan": (sp.tan, 1, 1),
    "sinh": (sp.sinh, 1, 1),
    "cosh": (sp.cosh, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "asin": (sp.asin, 1, 1),
    "acos": (sp.acos, 1, 1),
    "atan": (sp.atan, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "Abs": (sp.Abs, 1, 1),
    "sign": (sp.sign, 1, 1),
    "erf": (sp.erf, 1, 1),
    "erfc": (sp.erfc, 1, 1),
    "sigmoid": (_sigmoid, 1, 1),
    # log1p/expm1 are kept as their mathematical definitions so that SymPy can integrate them;
    # numerically stable evaluation is the job of the JAX translation.
    "log1p": (lambda x: sp.log(1 + x), 1, 1),
    "expm1": (lambda x: sp.exp(x) - 1, 1, 1),
    "Gamma": (_gamma_function, 1, 1),
    "min": (sp.Min, 2, None),
    "Min": (sp.Min, 2, None),
    "max": (sp.Max, 2, None),
    "Max": (sp.Max, 2, None),
}

_BINARY: dict[type, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}

_FAMILY: dict[type, str] = {ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product",
                            ast.Div: "product"}

_CONSTRUCT_NAMES: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripting",
    ast.Lambda: "a lambda expression",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "an assignment expression",
    ast.Starred: "a starred argument",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


def _describe(node: ast.AST) -> str:
  """``construct (`source`)`` for error messages; the source is re-printed, never run."""
  construct = _CONSTRUCT_NAMES.get(type(node), f"a `{type(node).__name__}` node")
  try:
    source = ast.unparse(node)
  except Exception:  # pylint: disable=broad-except  # unparse of odd trees; message only
    return construct
  return f"{construct} (`{source[:60]}{'...' if len(source) > 60 else ''}`)"


def allowed_names_message(params: Iterable[str] | None = None) -> str:
  """The sentence listing what a formula may use (for error messages)."""
  parameters = "any other name is a parameter" if params is None else (
      f"the parameters {sorted(params)}")
  return (f"allowed: p, {parameters}, constants {sorted(CONSTANTS)}, and functions "
          f"{sorted(FUNCTIONS)}")


def sympy_assumptions(domain: Domain) -> dict[str, bool]:
  """Assumptions that help SymPy integrate (e.g. ``nonnegative`` for γ ≥ 0)."""
  assumptions: dict[str, bool] = {"real": True}
  if domain.integer:
    assumptions["integer"] = True
  if domain.lower is not None and domain.lower >= 0:
    assumptions["positive" if (domain.lower > 0 or domain.lower_open) else "nonnegative"] = True
  return assumptions


def _parameter_symbol(name: str, domains: Mapping[str, Domain | str]) -> sp.Symbol:
  """The symbol for parameter ``name`` with assumptions from its domain (real if undeclared)."""
  if name in domains:
    return sp.Symbol(name, **sympy_assumptions(as_domain(domains[name])))
  return sp.Symbol(name, real=True)


def _check_power(base: sp.Expr, exponent: sp.Expr) -> None:
  """Refuse powers too large to build: numeric**numeric beyond `MAX_POWER_BITS` bits, or a
  numeric exponent beyond `MAX_EXPONENT`."""
  if not exponent.is_Number:
    return
  if exponent.is_Rational and abs(exponent) > MAX_EXPONENT:
    raise FormulaError(
        f"exponent {exponent} is too large; numeric exponents must be at most {MAX_EXPONENT} "
        "in magnitude.")
  if base.is_Rational and exponent.is_Rational and abs(exponent) > 1:
    size = max(abs(base.p), abs(base.q), 2)
    bits = float(abs(exponent)) * math.log2(size)
    if bits > MAX_POWER_BITS:
      raise FormulaError(
          f"the power {base}**{exponent} is too large (~{bits:.3g} bits; at most "
          f"{MAX_POWER_BITS}).")


def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
  _check_power(base, exponent)
  return base**exponent


class _Builder:
  """Walks a parsed formula tree and builds the SymPy expression (never evaluating code)."""

  def __init__(self, params: frozenset[str] | None, domains: Mapping[str, Domain | str],
               variable: SymbolicVariable):
    self.params = params
    self.domains = domains
    self.variable = variable
    self.symbols: dict[str, sp.Symbol] = {}

  def build(self, node: ast.AST, depth: int = 0) -> sp.Expr:
    if depth > MAX_DEPTH:
      raise FormulaError(f"formula is nested too deeply (more than {MAX_DEPTH} levels).")
    if isinstance(node, ast.Expression):
      return self.build(node.body, depth + 1)
    if isinstance(node, ast.Constant):
      return self._constant(node.value)
    if isinstance(node, ast.Name):
      return self._name(node.id)
    if isinstance(node, ast.UnaryOp):
      return self._unary(node, depth)
    if isinstance(node, ast.BinOp):
      return self._binary(node, depth)
    if isinstance(node, ast.Call):
      return self._call(node, depth)
    raise FormulaError(f"{_describe(node)} is not allowed in a formula.")

  def _constant(self, value: object) -> sp.Expr:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      kind = "strings" if isinstance(value, (str, bytes)) else f"{type(value).__name__} constants"
      raise FormulaError(f"{kind} are not allowed in a formula (got {value!r}); use real numbers.")
    if isinstance(value, float) and not math.isfinite(value):
      raise FormulaError(f"a number in the formula overflows to {value!r}; numbers must be finite "
                         "(at most ~1.8e308 in magnitude).")
    # Decimal literals are exact: 0.1 is 1/10, 2.5 is 5/2 (as written, not as a binary float).
    return sp.Integer(value) if isinstance(value, int) else sp.Rational(repr(value))

  def _name(self, name: str) -> sp.Expr:
    if name.startswith("_"):
      raise FormulaError(f"names starting with an underscore (`{name}`) are not allowed.")
    if name == self.variable.name:
      return self.variable.symbol
    if name in CONSTANTS:
      return CONSTANTS[name]
    if name in FUNCTIONS:
      raise FormulaError(f"function `{name}` is used without arguments; write `{name}(...)`.")
    if self.params is not None and name not in self.params:
      raise FormulaError(f"unknown name `{name}`; {allowed_names_message(self.params)}.")
    if name not in self.symbols:
      self.symbols[name] = _parameter_symbol(name, self.domains)
    return self.symbols[name]

  def _unary(self, node: ast.UnaryOp, depth: int) -> sp.Expr:
    operand = self.build(node.operand, depth + 1)
    if isinstance(node.op, ast.USub):
      return -operand
    if isinstance(node.op, ast.UAdd):
      return operand
    raise FormulaError(f"the unary operator `{type(node.op).__name__}` is not allowed.")

  def _binary(self, node: ast.BinOp, depth: int) -> sp.Expr:
    # A chain of one associative operation (a + b - c + ..., a * b / c ...) is one level of the
    # expression tree (one SymPy Add or Mul), however long: depth counts nesting, not length.
    family = _FAMILY.get(type(node.op))

    def child_depth(child: ast.AST) -> int:
      same = (isinstance(child, ast.BinOp) and family is not None
              and _FAMILY.get(type(child.op)) == family)
      return depth if same else depth + 1

    left = self.build(node.left, child_depth(node.left))
    right = self.build(node.right, child_depth(node.right))
    if isinstance(node.op, ast.Pow):
      return _power(left, right)
    if type(node.op) in _BINARY:
      return _BINARY[type(node.op)](left, right)
    raise FormulaError(
        f"the operator `{type(node.op).__name__}` is not allowed; use + - * / ** (or ^).")

  def _call(self, node: ast.Call, depth: int) -> sp.Expr:
    if not isinstance(node.func, ast.Name):
      raise FormulaError(f"{_describe(node.func)} is not allowed in a formula; only the "
                         f"functions {sorted(FUNCTIONS)} may be called.")
    name = node.func.id
    if name not in FUNCTIONS:
      hint = ("; `gamma` is a parameter, the Gamma function is `Gamma`" if name == "gamma" else "")
      raise FormulaError(
          f"call of `{name}` is not allowed{hint}; functions: {sorted(FUNCTIONS)}.")
    if node.keywords:
      raise FormulaError(f"keyword arguments are not allowed (in the call of `{name}`).")
    builder, least, most = FUNCTIONS[name]
    count = len(node.args)
    if count < least or (most is not None and count > most):
      wanted = f"{least}" if least == most else (
          f"{least} or more" if most is None else f"{least} to {most}")
      raise FormulaError(f"`{name}` takes {wanted} argument(s); got {count}.")
    args = [self.build(arg, depth + 1) for arg in node.args]
    return builder(*args)


def _check_param_names(params: Iterable[str], variable: str = P.name) -> frozenset[str]:
  names = frozenset(params)
  for name in names:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
      raise FormulaError(f"parameter name {name!r} is not a valid name (letters, digits, `_`; "
                         "not starting with `_`).")
    if name == variable or name in CONSTANTS or name in FUNCTIONS:
      raise FormulaError(f"parameter name `{name}` is reserved (the variable `{variable}`, "
                         "constants and functions).")
  return names


def parse_formula(text: str, params: Iterable[str] | None = None,
                  domains: Mapping[str, Domain | str] | None = None,
                  variable: Variable | SymbolicVariable | str | None = None) -> sp.Expr:
  """Parse a scale-coefficient formula g(p) into a SymPy expression, evaluating nothing.

  Args:
    text: the formula in ``p`` and parameters, Python syntax (``**`` or ``^`` for powers),
      e.g. ``"-(1-p)**gamma/p"`` (Maki) or ``"log(p)/p"`` (QCE).
    params: the allowed parameter names; ``None`` allows any name as a parameter.
    domains: parameter name -> `Domain` (or domain name) used for the symbols' SymPy
      assumptions (e.g. ``nonnegative`` for γ ≥ 0, which helps integration); parameters not in
      it are ``real``.
    variable: the variable of the formula (`gradeng.runtime.Variable`, `SymbolicVariable` or ``"p"``,
      ``"s"``, ``"d"``); default p.

  Returns:
    g as a SymPy expression in the variable's symbol (`gradeng.symbolic.P` for p) and
    the parameter symbols.

  Raises:
    FormulaError: syntax errors, names outside the whitelist, attribute access, subscripts,
      strings, keyword arguments, oversized powers, results that are undefined (e.g. ``1/0``).

  Example:
    >>> from gradeng import parse_formula
    >>> parse_formula("-(1-p)^gamma/p", domains={"gamma": "nonnegative"})
    -(1 - p)**gamma/p
  """
  if not isinstance(text, str):
    raise FormulaError(f"a formula must be a string; got {type(text).__name__}.")
  if len(text) > MAX_LENGTH:
    raise FormulaError(f"formula is {len(text)} characters long; at most {MAX_LENGTH} allowed.")
  if not text.strip():
    raise FormulaError("formula is empty.")
  variable = read_variable(variable, domains)
  allowed = None if params is None else _check_param_names(params, variable.name)
  # `^` means a power (as in maths, with the precedence of `**`), never Python's xor.
  source = text.strip().replace("^", "**")
  try:
    tree = ast.parse(source, mode="eval")
  except SyntaxError as error:
    raise FormulaError(f"cannot parse {text!r}: {error.msg}.") from None
  except (RecursionError, MemoryError, ValueError):
    raise FormulaError(f"cannot parse {text!r}: too complex.") from None
  try:
    expr = _Builder(allowed, domains or {}, variable).build(tree)
  except RecursionError:
    raise FormulaError(f"formula is nested too deeply: {text!r}.") from None
  if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
    raise FormulaError(f"formula {text!r} is undefined or infinite ({expr}).")
  return expr


def read_variable(spec: Variable | SymbolicVariable | str | None,
                  domains: Mapping[str, Domain | str] | None = None) -> SymbolicVariable:
  """A `SymbolicVariable` from a runtime `gradeng.runtime.Variable` (its reference formula, e.g.
  a margin ``"m"``, parsed with the parameters' ``domains``), a name or itself.

  Args:
    spec: a runtime `Variable`, a `SymbolicVariable`, a name (``"p"``, ``"s"``, ``"d"``, …) or
      ``None`` (p).
    domains: parameter name -> `Domain` (or domain name), for a reference formula.

  Returns:
    The `SymbolicVariable`, with exact bounds and reference.

  Example:
    >>> from gradeng.runtime import Variable
    >>> from gradeng.symbolic import read_variable
    >>> read_variable("s").reference
    -1
    >>> margin = Variable("s", -1, 1, "m", "similarity with a margin")
    >>> read_variable(margin, {"m": "nonnegative"}).reference
    m
  """
  if isinstance(spec, Variable) and isinstance(spec.reference, str):
    reference = parse_formula(spec.reference, domains=domains)
    return as_variable(spec.with_reference(0)).with_reference(reference)
  return as_variable(spec)


# ---------------------------------------------------------------------------------------------
# Parameter values and loss specifications on the command line (one syntax for every command)


def parse_value(text: str, what: str = "value") -> sp.Rational:
  """An exact rational from ``2``, ``2.5``, ``1e-3`` or ``5/2`` (``what`` names it in errors).

  Args:
    text: the number as text.
    what: what the value is, for the error message.

  Returns:
    A SymPy ``Rational`` (decimals read exactly).

  Raises:
    FormulaError: anything else (names, expressions, infinities).

  Example:
    >>> from gradeng.symbolic import parse_value
    >>> parse_value("2.5"), parse_value("1e-3"), parse_value("5/2")
    (5/2, 1/1000, 5/2)
    >>> parse_value("gamma", "`gamma`")
    Traceback (most recent call last):
    ...
    gradeng.symbolic._parse.FormulaError: `gamma`: 'gamma' is not a finite number (e.g. 2, 2.5, 1e-3, 5/2).
  """
  try:
    return sp.Rational(fractions.Fraction(text.strip()))
  except (ValueError, ZeroDivisionError, TypeError):
    raise FormulaError(f"{what}: {text!r} is not a finite number (e.g. 2, 2.5, 1e-3, 5/2)."
                       ) from None


def parse_loss_spec(text: str) -> tuple[str, dict[str, tuple[sp.Rational, ...]]]:
  """``NAME[:KEY=VALUE[|VALUE...][,KEY=...]]`` -> (NAME, {KEY: values}).

  The one syntax of a loss with parameters on the command line (``gradeng budget --loss``,
  ``gradeng simulate --set losses=...``): ``focal:gamma=2``, ``maki:gamma=1|2|4`` (several
  values: a sweep), ``"-(1-p)**gamma/p:gamma=1/3"``. NAME is a catalog name or a formula for
  g(p) (formulas contain no ``:``); values are parsed by `parse_value` (``1/3`` is exact).

  Args:
    text: the specification.

  Returns:
    ``(name, params)``: the catalog name or formula, and parameter name -> tuple of exact values.

  Raises:
    FormulaError: a malformed specification, naming the bad part and the expected form.

  Example:
    >>> from gradeng.symbolic import parse_loss_spec
    >>> parse_loss_spec("maki:gamma=1|2|4")
    ('maki', {'gamma': (1, 2, 4)})
    >>> parse_loss_spec("focal:gamma=2,alpha=1/4")
    ('focal', {'gamma': (2,), 'alpha': (1/4,)})
    >>> parse_loss_spec("ce")
    ('ce', {})
  """
  name, colon, rest = text.strip().partition(":")
  if not name.strip():
    raise FormulaError(f"loss {text!r} has no name; expected NAME or NAME:KEY=VALUE, e.g. "
                       "focal:gamma=2.")
  params: dict[str, tuple[sp.Rational, ...]] = {}
  items = [item.strip() for item in rest.split(",")] if colon else []
  for item in items:
    key, eq, values = item.partition("=")
    key = key.strip()
    if not eq or not key.isidentifier() or not values.strip():
      raise FormulaError(f"malformed parameter {item!r} in loss {text!r}; expected KEY=VALUE "
                         "(e.g. focal:gamma=2, or gamma=1|2 for several values).")
    if key in params:
      raise FormulaError(f"parameter `{key}` given twice in loss {text!r}.")
    params[key] = tuple(parse_value(v, f"`{key}` in loss {text!r}") for v in values.split("|"))
  return name.strip(), params
