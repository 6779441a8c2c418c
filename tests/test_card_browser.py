"""The loss card in a real headless Chromium (Debian's package, driven by Playwright): the page
loads offline with no console error, every plot is drawn, the slider redraws the curve with the
right values; a screenshot is kept under pytest's tmp_path.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; .ci/run installs it) and the
``playwright`` package (the ``test`` extra; it drives the system browser and downloads none).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
  pytest.skip("no Chromium: install it with `apt-get install -y chromium` (.ci/run does)",
              allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")

from gradeng.symbolic import card  # noqa: E402  (after the skips)

MAKI = "-(1-p)**gamma/p"
GAMMAS = (1.0, 2.0, 3.0)
#: The colour of this loss's curve (gradeng.symbolic.card's first colour, #d62728).
USER_RGB = (0xD6, 0x27, 0x28)


@pytest.fixture(scope="module")
def card_file(tmp_path_factory):
  out = tmp_path_factory.mktemp("card") / "maki.html"
  return card.write_card(MAKI, params={"gamma": 2}, out=out, slider_values={"gamma": GAMMAS},
                         evaluation={"toy": {"accuracy": {"mean": 0.9, "ci": [0.88, 0.92]}}})


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
  # Chromium writes its crash-report settings and dconf cache under $HOME: give it one of ours.
  home = tmp_path_factory.mktemp("chromium-home")
  env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
         "XDG_CACHE_HOME": str(home / ".cache")}
  with sync_api.sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, env=env)
    yield browser
    browser.close()


def _points(d: str) -> np.ndarray:
  """(x, y) of every point of an SVG path made of M and L commands."""
  return np.array([[float(x), float(y)] for x, y in
                   re.findall(r"[ML](-?[0-9.]+) (-?[0-9.]+)", d)]).reshape(-1, 2)


def _maki_loss(gamma: float, p: float) -> float:
  return -math.log(p) - sum((1 - p) ** j / j for j in range(1, int(gamma) + 1))


def _red_pixels(png: bytes) -> int:
  import io

  import matplotlib.image

  pixels = (matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3] * 255).astype(int)
  return int(np.sum(np.all(np.abs(pixels - np.array(USER_RGB)) <= 40, axis=-1)))


@pytest.mark.slow
def test_card_in_chromium(card_file, browser, tmp_path):
  page = browser.new_page(viewport={"width": 1200, "height": 900})
  problems, requests = [], []
  page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type in ("error", "warning") else None)
  page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
  page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
  page.on("request", lambda r: requests.append(r.url))
  page.goto(card_file.as_uri())
  page.wait_for_selector("body[data-drawn=true]", timeout=10_000)

  # No network: the only request is the file itself.
  assert requests == [card_file.as_uri()]

  # Every plot is drawn: 4 curves (this loss, CE, focal, Maki) of all 161 points, each with
  # visible pixels; this loss's red curve shows in each plot's own screenshot.
  plots = page.query_selector_all("svg.plot")
  assert [p.get_attribute("data-quantity") for p in plots] == ["g", "L", "w"]
  for plot in plots:
    curves = plot.query_selector_all("path.curve")
    assert len(curves) == 4
    for curve in curves:
      assert curve.get_attribute("data-points") == str(card.GRID_POINTS)
      assert len(_points(curve.get_attribute("d"))) == card.GRID_POINTS
      box = curve.bounding_box()
      assert box["width"] > 200 and box["height"] > 0  # laid out across the plot (CE's w is flat)
    assert _red_pixels(plot.screenshot()) > 200

  # The drawn curve is the data: L at p = 1/2 (the grid's middle point) read back from the
  # path's pixel coordinates through the plot's axis range, against Maki γ=2 by hand.
  data = json.loads(page.inner_text("#card-data"))
  lo, hi = data["ranges"]["L"]
  top, bottom = 10, 280 - 36  # the script's plot frame (T, H - B)

  def loss_at_half() -> float:
    y = _points(page.get_attribute("#plot-L path.user", "d"))[card.GRID_POINTS // 2, 1]
    return hi - (y - top) / (bottom - top) * (hi - lo)

  pixel = (hi - lo) / (bottom - top) / 100  # the path's 2 decimals
  assert loss_at_half() == pytest.approx(_maki_loss(2, 0.5), abs=pixel)

  # Moving the slider (keyboard, as a user would) redraws every plot's curve.
  before = {q: page.get_attribute(f"#plot-{q} path.user", "d") for q in "gLw"}
  slider = page.locator("#slider-gamma")
  slider.focus()
  page.keyboard.press("ArrowRight")
  assert slider.input_value() == "2"
  assert page.inner_text(".sliders output") == "3"
  after = {q: page.get_attribute(f"#plot-{q} path.user", "d") for q in "gLw"}
  assert all(before[q] != after[q] for q in "gLw")
  assert loss_at_half() == pytest.approx(_maki_loss(3, 0.5), abs=pixel)
  for q in "gLw":
    assert page.get_attribute(f"#plot-{q} path.user", "data-points") == str(card.GRID_POINTS)

  screenshot = tmp_path / "card.png"
  page.screenshot(path=screenshot, full_page=True)
  print(f"card screenshot: {screenshot}")
  assert screenshot.stat().st_size > 10_000
  assert problems == []
  page.close()
