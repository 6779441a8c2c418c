"""Reproduction of Kilbas & Paringer (2020): the §2.1 gradient budget, Figures 1-2 and the
per-loss derivation reports. Public names are re-exported from `gradeng`."""
