"""Crowded scenes (issue 12 §1): set prediction with Hungarian matching (the matching and the set
loss so far; the crowded canvases and the SSD-vs-set-head comparison are still to come)."""

from gradeng.experiments.crowded._matching import hungarian_match as hungarian_match
from gradeng.experiments.crowded._matching import matching_cost as matching_cost
from gradeng.experiments.crowded._matching import set_loss as set_loss
