"""The command line turns input errors into one-line usage errors and lets bugs show a traceback."""

import argparse

import pytest

import gradeng as ge
from gradeng import cli


@pytest.fixture
def fake_command(monkeypatch):
  """A sub-command whose ``run`` raises whatever the test puts in ``raised``."""
  raised = {}

  class Module:
    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
      del parser

    @staticmethod
    def run(args):
      raise raised["error"]

  monkeypatch.setitem(cli.COMMANDS, "fake", ("fake_module", "a test command"))
  monkeypatch.setattr(cli.importlib, "import_module",
                      lambda name: Module if name == "fake_module" else __import__(name))
  return raised


@pytest.mark.parametrize("error", [ge.InputError("`gamma` must be ≥ 0; got -1."),
                                   cli.UsageError("`gamma` must be ≥ 0; got -1.")])
def test_input_errors_exit_2_with_one_line(fake_command, capsys, error):
  fake_command["error"] = error
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["fake"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err == "gradeng fake: error: `gamma` must be ≥ 0; got -1.\n"


@pytest.mark.parametrize("error", [ValueError("internal shape bug"), KeyError("x"), TypeError("t")])
def test_bugs_keep_their_traceback(fake_command, error):
  fake_command["error"] = error
  with pytest.raises(type(error)):
    cli.main(["fake"])


def test_missing_optional_dependency_names_the_extra(fake_command, capsys):
  fake_command["error"] = ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["fake"])
  assert exit_info.value.code == 2
  assert "pip install 'gradeng[paper]'" in capsys.readouterr().err
  fake_command["error"] = ModuleNotFoundError("No module named 'nope'", name="nope")  # a bug
  with pytest.raises(ModuleNotFoundError):
    cli.main(["fake"])


def test_library_input_checks_raise_input_error():
  with pytest.raises(ge.InputError, match=r"`gamma` of `focal` must be a real number in \[0, inf\); got -1"):
    ge.focal_loss(ge_array(0.0), ge_array(1), gamma=-1)
  with pytest.raises(ge.InputError, match="Unknown loss 'nope'"):
    ge.get_coefficient("nope")
  assert issubclass(ge.InputError, ValueError)  # `except ValueError` keeps working


def test_real_command_bad_library_input_is_a_usage_error(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["budget", "--loss", "focal:gamma=-1"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("gradeng budget: error: ") and "gamma" in err and err.count("\n") == 1


def ge_array(x):
  import jax.numpy as jnp

  return jnp.asarray(x)


def test_every_experiment_is_a_sub_command(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["experiment", "--help"])
  assert exit_info.value.code == 0
  listed = capsys.readouterr().out
  from gradeng.experiments import EXPERIMENTS

  assert list(EXPERIMENTS) == ["toy", "detection", "engineering", "ordinal", "learn", "embedding",
                              "crowded", "longtail"]
  assert all(f"    {name}" in listed for name in EXPERIMENTS)


def test_a_mistyped_option_prints_the_sub_commands_usage(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["experiment", "ordinal", "--quik"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("usage: gradeng experiment ordinal") and "unrecognized arguments: --quik" in err


def test_experiments_without_seeds_refuse_seeds(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["experiment", "learn", "--quick", "--seeds", "0", "--out", "/nonexistent/x"])
  assert exit_info.value.code == 2
  assert "--seeds" in capsys.readouterr().err
