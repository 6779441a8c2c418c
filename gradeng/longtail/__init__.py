"""Long-tail losses in the gradient view: per-class re-weighting of the injected derivative.

Most long-tail losses are defined through their gradient. Each one here is a catalog loss
(``base``: cross-entropy, focal, Maki, …, through `gradeng.runtime.apply_kernel`'s injected
derivative) with a class-level modification, and each exposes the weight that a class's logit
receives — the class analogue of w(p) = p·g(p):

* multiplicative weights on the gradient (``alpha``/``where`` of the catalog path, or a per-logit
  factor): `class_balanced_weights`, `drw_weights`, `equalization_logit_weights`,
  `eqlv2_logit_weights`, `equalized_focal_logit_weights`;
* pair weights S_{yj} on the negative classes' exponentials of a softmax (logit offsets):
  `logit_adjusted_logit_weights`, `balanced_softmax_logit_weights`, `ldam_logit_weights`,
  `seesaw_logit_weights`.

The statistics-driven ones (`ldam_drw`, `eqlv2`, `seesaw`, `equalized_focal`) are
`gradeng.runtime.StatefulLoss` pairs whose state is a NamedTuple of arrays. `write_derivations`
and `write_gradient_figure` generate ``derivations/longtail_*.md`` and
``figures/longtail/gradients.png`` (``python -m gradeng.longtail``).
"""

from gradeng.longtail._balanced import class_balanced_weights as class_balanced_weights
from gradeng.longtail._balanced import class_balanced_loss as class_balanced_loss
from gradeng.longtail._balanced import drw_weights as drw_weights
from gradeng.longtail._adjusted import logit_adjustments as logit_adjustments
from gradeng.longtail._adjusted import adjust_logits as adjust_logits
from gradeng.longtail._adjusted import logit_adjusted_loss as logit_adjusted_loss
from gradeng.longtail._adjusted import logit_adjusted_logit_weights as logit_adjusted_logit_weights
from gradeng.longtail._adjusted import balanced_softmax_loss as balanced_softmax_loss
from gradeng.longtail._adjusted import balanced_softmax_logit_weights as balanced_softmax_logit_weights
from gradeng.longtail._adjusted import ldam_margins as ldam_margins
from gradeng.longtail._adjusted import ldam_loss as ldam_loss
from gradeng.longtail._adjusted import ldam_logit_weights as ldam_logit_weights
from gradeng.longtail._adjusted import ldam_drw as ldam_drw
from gradeng.longtail._equalization import equalization_logit_weights as equalization_logit_weights
from gradeng.longtail._equalization import equalization_loss as equalization_loss
from gradeng.longtail._equalization import EQLv2State as EQLv2State
from gradeng.longtail._equalization import eqlv2_logit_weights as eqlv2_logit_weights
from gradeng.longtail._equalization import eqlv2 as eqlv2
from gradeng.longtail._equalization import EqualizedFocalState as EqualizedFocalState
from gradeng.longtail._equalization import equalized_focal_gammas as equalized_focal_gammas
from gradeng.longtail._equalization import equalized_focal_logit_weights as equalized_focal_logit_weights
from gradeng.longtail._equalization import equalized_focal as equalized_focal
from gradeng.longtail._seesaw import SeesawState as SeesawState
from gradeng.longtail._seesaw import seesaw_log_weights as seesaw_log_weights
from gradeng.longtail._seesaw import seesaw_logit_weights as seesaw_logit_weights
from gradeng.longtail._seesaw import seesaw as seesaw
from gradeng.longtail._report import exponential_profile as exponential_profile
from gradeng.longtail._report import write_derivations as write_derivations
from gradeng.longtail._report import write_gradient_figure as write_gradient_figure

__all__ = [
    "class_balanced_weights", "class_balanced_loss", "drw_weights",
    "logit_adjustments", "adjust_logits", "logit_adjusted_loss", "logit_adjusted_logit_weights",
    "balanced_softmax_loss", "balanced_softmax_logit_weights",
    "ldam_margins", "ldam_loss", "ldam_logit_weights", "ldam_drw",
    "equalization_logit_weights", "equalization_loss",
    "EQLv2State", "eqlv2_logit_weights", "eqlv2",
    "EqualizedFocalState", "equalized_focal_gammas", "equalized_focal_logit_weights", "equalized_focal",
    "SeesawState", "seesaw_log_weights", "seesaw_logit_weights", "seesaw",
    "exponential_profile", "write_derivations", "write_gradient_figure",
]
