"""The README's tour runs as written and its printed claims hold."""

import pathlib
import re

import jax.numpy as jnp
import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs_and_trains():
  block = re.search(r"## A 20-line tour\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
  namespace: dict = {}
  exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
  assert str(namespace["d"].loss) == "(1 - p)**(gamma + 1)*lerchphi(1 - p, 1, gamma + 1)"
  assert namespace["d"].verified is True
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(256, 64)), jnp.float32)
  y = jnp.asarray(np.argmax(np.asarray(x[:, :10]), axis=1))
  params, state = namespace["params"], namespace["state"]
  losses = []
  for _ in range(30):
    params, state, loss = namespace["step"](params, state, x, y)
    losses.append(float(loss))
  assert losses[-1] < 0.8 * losses[0]
