"""Detection experiment (paper Figure 3) on canvases of scikit-learn's handwritten digits.

The configurations `gradeng experiment detection` runs by default; they ship inside the package
so that a non-editable install runs them. ``experiments/detection/config.py`` in a checkout is
the user-editable entry point (it re-exports `get_config`; copy it, change it, pass ``--config``).

Quick (six losses, one seed, 400 steps; about 5 min on a quiet 2-core CPU, 8 shared with other jobs,
jax 0.10.2; part of `gradeng reproduce`)::

    gradeng experiment detection --quick

Full (the 1:3 OHEM variant too, three seeds, 6000 steps; meant for a GPU)::

    gradeng experiment detection --out runs/detection

Imbalance at these anchor sets (training canvases after matching): quick 1,312 anchors per
64×64 canvas, 3.1 positive anchors per object, background:object anchors 119:1; full 3,024
anchors per 96×96 canvas, 175:1 (SSD on VOC is several hundred to one).

Both write ``<out>/runs/<loss>/seed<k>/{config.json,metrics.jsonl,checkpoint.npz,result.json}``
and the figure ``figures/detection_map[_quick].png`` with its CSV and final-mAP table.

Engineering variant (warm-up, periodic, batch-adaptive and GHM-C coefficients next to
CE + OHEM, Maki and focal; same data, model and steps; part of `gradeng reproduce`)::

    gradeng experiment detection --variant engineering --quick

It writes ``figures/engineering_detection_map[_quick].*``; run into the same ``--out`` as the
paper variant, it reuses the baseline runs instead of training them again.

Converged variant (paper Figure 3 at convergence on the machine we have): the
paper's four losses (CE + OHEM 1:1, focal γ=2 with its prior initialisation, Maki γ=1, QCE) ×
3 seeds on 64×64 canvases with 1–3 digits and SSD's four aspect ratios (2, 1, 1/2, 1/3) per
anchor size: 2,624 anchors per canvas, 3.6 positive anchors per object, background:object
anchors 359:1 (SSD on VOC is several hundred to one), trained for 6,000 steps of batch 16 (at 2,000
steps CE + OHEM has levelled off but Maki and QCE still climb; about 2 hours on a quiet 2-core CPU,
0.08 s per step; resumable, and a finished shorter run is continued rather than retrained, so it
can run in the background across sessions)::

    gradeng experiment detection --variant converged --out runs/detection_converged

`--quick` gives its smoke version (one seed, 200 steps).

IoU variant (does an IoU-family box loss localise better than Smooth-L1 here?):
CE + OHEM with Smooth-L1 on the offsets, and with the IoU, GIoU, DIoU and CIoU losses of the
decoded boxes (λ = 2); data, model and steps of the paper variant::

    gradeng experiment detection --variant iou --quick

`DETECTION_LOSSES` is the one table of classification losses: catalog function, normalisation,
hyper-parameters, learning rate and λ, from the paper's Table 1 (Adam for all). The paper
trains with batch 128 for 37,000 iterations; the step counts here are far smaller.
"""

from __future__ import annotations

import dataclasses

import gradeng as ge
from gradeng.experiments.detection._config import (DataConfig, ExperimentConfig, FeatureMap, LossSpec,
                                       ModelConfig, TrainConfig)

#: Paper Table 1 (plus plain CE, whose collapse to background the paper reports, SSD's 1:3 OHEM
#: ratio, and focal with RetinaNet's prior initialisation of the class head, π = 0.01, part of
#: focal loss's own recipe). "hard:easy 1:1" = one hard negative kept per positive anchor.
DETECTION_LOSSES: dict[str, LossSpec] = {
    spec.name: spec for spec in (
        LossSpec("ce_ohem", "CE + OHEM 1:1", ge.cross_entropy_loss, {}, "ohem",
                 learning_rate=1e-3, loc_weight=1.0, neg_pos_ratio=1.0),
        LossSpec("ce_ohem_1to3", "CE + OHEM 1:3", ge.cross_entropy_loss, {}, "ohem",
                 learning_rate=1e-3, loc_weight=1.0, neg_pos_ratio=3.0),
        LossSpec("focal", "focal (γ=2)", ge.focal_loss, {"gamma": 2.0}, "positives",
                 learning_rate=4e-4, loc_weight=1.0),
        LossSpec("focal_prior", "focal (γ=2), prior π=0.01", ge.focal_loss, {"gamma": 2.0},
                 "positives", learning_rate=4e-4, loc_weight=1.0, prior=0.01),
        LossSpec("maki", "Maki (γ=1)", ge.maki_loss, {"gamma": 1}, "positives",
                 learning_rate=1e-3, loc_weight=0.2),
        LossSpec("qce", "QCE", ge.qce_loss, {}, "elements",
                 learning_rate=1e-3, loc_weight=0.1),
        LossSpec("ce", "CE, no OHEM", ge.cross_entropy_loss, {}, "positives",
                 learning_rate=1e-3, loc_weight=1.0),
        # Beyond the paper (its §7): coefficients with state, each next to the loss it modifies
        # and with that loss's normalisation, learning rate and λ. Their step counts (the 1s
        # here) are set by `get_config` as fractions of the training length (`_ENGINEERING_STEPS`).
        LossSpec("warmup_ohem", "CE + OHEM, warm-up coefficient", None,
                 {"base": "ce", "bound": 2.0, "warmup_steps": 1}, "ohem",
                 learning_rate=1e-3, loc_weight=1.0, neg_pos_ratio=1.0,
                 stateful=ge.warmup_coefficient),
        # The warm-up question at a high learning rate (10× Table 1): plain, with learning-rate
        # warm-up, and with the warm-up coefficient instead.
        LossSpec("ce_ohem_high_lr", "CE + OHEM, lr 1e-2", ge.cross_entropy_loss, {}, "ohem",
                 learning_rate=1e-2, loc_weight=1.0, neg_pos_ratio=1.0),
        LossSpec("lr_warmup_ohem_high_lr", "CE + OHEM, lr 1e-2, LR warm-up", ge.cross_entropy_loss,
                 {}, "ohem", learning_rate=1e-2, loc_weight=1.0, neg_pos_ratio=1.0,
                 lr_warmup_steps=1),
        LossSpec("warmup_ohem_high_lr", "CE + OHEM, lr 1e-2, warm-up coefficient", None,
                 {"base": "ce", "bound": 2.0, "warmup_steps": 1}, "ohem",
                 learning_rate=1e-2, loc_weight=1.0, neg_pos_ratio=1.0,
                 stateful=ge.warmup_coefficient),
        LossSpec("periodic_ohem", "CE + OHEM, periodic (SGDR) coefficient", None,
                 {"base": "ce", "period": 1}, "ohem",
                 learning_rate=1e-3, loc_weight=1.0, neg_pos_ratio=1.0,
                 stateful=ge.periodic_coefficient),
        LossSpec("adaptive_maki", "Maki, batch-adaptive γ", None,
                 {"base": "maki", "gamma_init": 1.0, "gamma_max": 5.0, "momentum": 0.9},
                 "positives", learning_rate=1e-3, loc_weight=0.2,
                 stateful=ge.adaptive_gamma_coefficient),
        LossSpec("adaptive_maki_class", "Maki, per-class adaptive γ", None,
                 {"base": "maki", "gamma_init": 1.0, "gamma_max": 5.0, "momentum": 0.9,
                  "per_class": True, "num_classes": 11},
                 "positives", learning_rate=1e-3, loc_weight=0.2,
                 stateful=ge.adaptive_gamma_coefficient),
        LossSpec("ghm", "GHM-C (CE, 10 bins)", None, {"base": "ce", "bins": 10, "momentum": 0.75},
                 "elements", learning_rate=1e-3, loc_weight=1.0, stateful=ge.ghm_coefficient),
        # CE + OHEM with an IoU-family localisation loss of the decoded boxes instead of
        # Smooth-L1 on the offsets; λ = 2 (an IoU loss is in [0, 2] per box, Smooth-L1 sums four
        # offsets; 2 is the weight mmdetection uses for GIoU).
        *(LossSpec(f"ce_ohem_{box}", f"CE + OHEM, {box.upper()} loss", ge.cross_entropy_loss, {},
                   "ohem", learning_rate=1e-3, loc_weight=2.0, neg_pos_ratio=1.0, box_loss=box)
          for box in ("iou", "giou", "diou", "ciou")),
        # the coefficient learned by meta-gradients on the toy trainings
        # (figures/learned/full/results.json, weights rounded as its formula prints them) and
        # the hand-designed loss it is closest to, Maki γ = 8; Maki's Table-1 lr, λ and norm.
        LossSpec("learned_meta", "learned Maki mixture (meta-gradient)", ge.maki_mixture_loss,
                 {"weights": (0.0001, 0.0001, 0.0006, 0.0024, 0.0069, 0.0464, 0.9435),
                  "exponents": (0, 1, 2, 3, 4, 6, 8)},
                 "positives", learning_rate=1e-3, loc_weight=0.2),
        LossSpec("maki_8", "Maki (γ=8)", ge.maki_loss, {"gamma": 8}, "positives",
                 learning_rate=1e-3, loc_weight=0.2),
    )
}

QUICK_LOSSES = ("ce_ohem", "focal", "focal_prior", "maki", "qce", "ce")
PAPER_LOSSES = ("ce_ohem", "ce_ohem_1to3", "focal", "focal_prior", "maki", "qce", "ce")
#: the engineering variant: the stateful coefficients next to the baselines they modify.
ENGINEERING_LOSSES = ("ce_ohem", "maki", "focal", "warmup_ohem", "ce_ohem_high_lr",
                      "lr_warmup_ohem_high_lr", "warmup_ohem_high_lr", "periodic_ohem",
                      "adaptive_maki", "adaptive_maki_class", "ghm")
#: step parameters as fractions of the training length: warm-up (of the coefficient or of the
#: learning rate) over the first quarter, SGDR period a quarter (four cosine cycles).
_ENGINEERING_STEPS = {
    "warmup_ohem": ("warmup_steps", 0.25),
    "warmup_ohem_high_lr": ("warmup_steps", 0.25),
    "lr_warmup_ohem_high_lr": ("lr_warmup_steps", 0.25),
    "periodic_ohem": ("period", 0.25),
}
#: the converged CPU variant: the paper's four losses (focal with its own prior initialisation).
CONVERGED_LOSSES = ("ce_ohem", "focal_prior", "maki", "qce")
#: the IoU variant: Smooth-L1 against the IoU-family box losses, CE + OHEM throughout.
IOU_LOSSES = ("ce_ohem", "ce_ohem_iou", "ce_ohem_giou", "ce_ohem_diou", "ce_ohem_ciou")
#: the learned-coefficient variant: the learned loss on detection, a task it never saw.
LEARNED_LOSSES = ("learned_meta", "maki_8")
VARIANTS = ("paper", "engineering", "converged", "iou", "learned")
#: what `gradeng reproduce` (quick) trains of the quick paper variant, so that the whole command
#: stays within 15 minutes on a 2-core CPU: the paper's four Figure-3 losses (focal with its prior
#: initialisation). Each run is the same (data, model, steps, seed) as that loss's run of
#: ``gradeng experiment detection --quick``, so the two share runs. The engineering variant's
#: detection runs are left to ``gradeng experiment detection --quick --variant engineering``
#: (measured at 16 min with them on a slower day; `gradeng reproduce --full` trains it).
REPRODUCE_QUICK_LOSSES = {
    "paper": ("ce_ohem", "focal_prior", "maki", "qce"),
}


def _losses(names, steps):
  specs = []
  for name in names:
    spec = DETECTION_LOSSES[name]
    if name in _ENGINEERING_STEPS:
      key, fraction = _ENGINEERING_STEPS[name]
      value = max(1, round(fraction * steps))
      spec = (dataclasses.replace(spec, lr_warmup_steps=value) if key == "lr_warmup_steps" else
              dataclasses.replace(spec, params={**spec.params, key: value}))
    specs.append(spec)
  return tuple(specs)


def get_config(quick: bool = False, variant: str = "paper") -> ExperimentConfig:
  """The quick (CPU smoke) or full (GPU) experiment.

  ``variant="paper"``: the paper's losses (Figure 3). ``variant="engineering"``: the same data,
  model and training with the stateful coefficients of `gradeng` next to CE + OHEM, Maki and
  focal; baseline runs are shared with the paper variant when both use one output directory.
  """
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
  if variant == "converged":
    return _converged_config(quick)
  config = _get_config(quick)
  if variant == "engineering":
    config = dataclasses.replace(
        config, name=f"{config.name}, engineering",
        losses=_losses(ENGINEERING_LOSSES, config.train.steps),
        figure_stem=config.figure_stem.replace("detection_map", "engineering_detection_map"))
  if variant == "learned":
    config = dataclasses.replace(
        config, name=f"{config.name}, learned coefficient",
        losses=_losses(LEARNED_LOSSES, config.train.steps),
        figure_stem=config.figure_stem.replace("detection_map", "learned_detection_map"))
  if variant == "iou":
    config = dataclasses.replace(
        config, name=f"{config.name}, IoU losses", losses=_losses(IOU_LOSSES, config.train.steps),
        figure_stem=config.figure_stem.replace("detection_map", "iou_detection_map"))
  return config


def _get_config(quick: bool) -> ExperimentConfig:
  if quick:
    return ExperimentConfig(
        name="quick",
        data=DataConfig(canvas_size=64, digit_sizes=(8, 12, 16, 24), num_train=1500,
                        num_test=200, seed=0),
        model=ModelConfig(widths=(16, 32, 48, 64), feature_maps=(
            FeatureMap(4, (7.0, 10.0), (0.8, 0.5)),
            FeatureMap(8, (14.0, 20.0), (0.8, 0.5)),
            FeatureMap(16, (28.0,), (0.8, 0.5)),
        )),
        train=TrainConfig(steps=400, batch_size=32, eval_every=100, checkpoint_every=100),
        losses=tuple(DETECTION_LOSSES[name] for name in QUICK_LOSSES),
        seeds=(0,),
        figure_stem="detection_map_quick",
    )
  return ExperimentConfig(
      name="full",
      data=DataConfig(canvas_size=96, digit_sizes=(8, 12, 16, 24, 32), num_train=8000,
                      num_test=1000, seed=0),
      model=ModelConfig(widths=(32, 64, 96, 128), feature_maps=(
          FeatureMap(4, (8.0, 12.0), (1.0, 0.6)),
          FeatureMap(8, (17.0, 24.0), (1.0, 0.6)),
          FeatureMap(16, (32.0, 44.0), (1.0, 0.6)),
      )),
      train=TrainConfig(steps=6000, batch_size=64, eval_every=250, checkpoint_every=500),
      losses=tuple(DETECTION_LOSSES[name] for name in PAPER_LOSSES),
      seeds=(0, 1, 2),
      figure_stem="detection_map",
  )


#: SSD's aspect ratios on Pascal VOC (2, 1, 1/2, 1/3): digits are tall, so the wide anchors are
#: nearly all background, as many of SSD's are on VOC.
_SSD_RATIOS = (2.0, 1.0, 0.5, 1 / 3)


def _converged_config(quick: bool) -> ExperimentConfig:
  """Paper Figure 3 trained to convergence on a 2-core CPU (see the module docstring)."""
  return ExperimentConfig(
      name="converged (quick smoke)" if quick else "converged",
      data=DataConfig(canvas_size=64, digit_sizes=(8, 12, 16, 24), min_objects=1, max_objects=3,
                      num_train=3000, num_test=300, seed=0),
      model=ModelConfig(widths=(16, 32, 48, 64), feature_maps=(
          FeatureMap(4, (7.0, 10.0), _SSD_RATIOS),
          FeatureMap(8, (14.0, 20.0), _SSD_RATIOS),
          FeatureMap(16, (28.0,), _SSD_RATIOS),
      )),
      train=(TrainConfig(steps=200, batch_size=16, eval_every=100, checkpoint_every=100) if quick
             else TrainConfig(steps=6000, batch_size=16, eval_every=250, checkpoint_every=250)),
      losses=tuple(DETECTION_LOSSES[name] for name in CONVERGED_LOSSES),
      seeds=(0,) if quick else (0, 1, 2),
      figure_stem="detection_map_converged" + ("_quick" if quick else ""),
  )


def reproduce_config(quick: bool, variant: str = "paper") -> ExperimentConfig:
  """The configuration `gradeng reproduce` runs: `get_config`, restricted in quick mode to
  `REPRODUCE_QUICK_LOSSES` (figures and tables under ``<figure_stem>_reproduce``, so they never
  overwrite those of the full quick variant)."""
  config = get_config(quick, variant)
  if not quick:
    return config
  if variant not in REPRODUCE_QUICK_LOSSES:
    raise ValueError(f"`gradeng reproduce` (quick) trains no {variant!r} runs; it trains "
                     f"{sorted(REPRODUCE_QUICK_LOSSES)}.")
  names = REPRODUCE_QUICK_LOSSES[variant]
  return dataclasses.replace(config, name=f"{config.name} (reproduce subset)",
                             losses=tuple(s for s in config.losses if s.name in names),
                             figure_stem=f"{config.figure_stem}_reproduce")


def override(config: ExperimentConfig, **train_fields) -> ExperimentConfig:
  """``config`` with some `TrainConfig` fields replaced (e.g. ``steps=200``)."""
  return dataclasses.replace(config, train=dataclasses.replace(config.train, **train_fields))
