"""Reproduction of Kilbas & Paringer (2020): the §2.1 gradient budget, Figures 1-2 (and the
extended figures) and the per-loss derivation reports.

Example:
  >>> import gradeng.paper as paper
  >>> budget = paper.gradient_budget(paper.PAPER_GROUPS, [("ce", {}), ("focal", {"gamma": 2})])
"""

from gradeng.paper._budget import PAPER_GROUPS as PAPER_GROUPS
from gradeng.paper._budget import PAPER_LOSSES as PAPER_LOSSES
from gradeng.paper._budget import BudgetEntry as BudgetEntry
from gradeng.paper._budget import GradientBudget as GradientBudget
from gradeng.paper._budget import Group as Group
from gradeng.paper._budget import gradient_budget as gradient_budget
from gradeng.paper._budget import hard_share as hard_share
from gradeng.paper._derivations import render_report as render_report
from gradeng.paper._derivations import write_reports as write_reports
from gradeng.paper._figures import CATALOG_LOSSES as CATALOG_LOSSES
from gradeng.paper._figures import FIGURES as FIGURES
from gradeng.paper._figures import write_figure as write_figure
from gradeng.paper._figures import write_figures as write_figures

__all__ = [
    "PAPER_GROUPS", "PAPER_LOSSES", "BudgetEntry", "GradientBudget", "Group", "gradient_budget",
    "hard_share", "render_report", "write_reports", "CATALOG_LOSSES", "FIGURES", "write_figure",
    "write_figures",
]
