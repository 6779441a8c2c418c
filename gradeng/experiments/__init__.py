"""Experiments built on the core: toy imbalance sweeps (`toy`), the detection experiment
(`detection`, paper Figure 3) and the stateful-coefficient study (`engineering`). Each has a
``_reproduce`` hook that `gradeng reproduce` runs."""
