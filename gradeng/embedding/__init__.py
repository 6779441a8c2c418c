"""Embedding losses in the gradient view: geometry, margin softmax heads, pair and triplet
weights, center loss.

Each loss is written through the weight it puts on a pair, a similarity or a feature (its
"scale coefficient" on that variable), injected as the backward pass where that is the point.
"""

from gradeng.embedding._geometry import NORM_EPS as NORM_EPS
from gradeng.embedding._geometry import l2_normalize as l2_normalize
from gradeng.embedding._geometry import cosine_similarity_matrix as cosine_similarity_matrix
from gradeng.embedding._geometry import pairwise_distances as pairwise_distances
from gradeng.embedding._geometry import safe_norm as safe_norm
from gradeng.embedding._geometry import compute_dtype as compute_dtype
from gradeng.embedding._geometry import check_labels as check_labels
from gradeng.embedding._geometry import check_embeddings as check_embeddings
from gradeng.embedding._margins import cosine_logits as cosine_logits
from gradeng.embedding._margins import normface_logits as normface_logits
from gradeng.embedding._margins import cosface_logits as cosface_logits
from gradeng.embedding._margins import arcface_logits as arcface_logits
from gradeng.embedding._margins import arcface_target as arcface_target
from gradeng.embedding._margins import sphereface_logits as sphereface_logits
from gradeng.embedding._margins import sphereface_psi as sphereface_psi
from gradeng.embedding._margins import sphereface_lambda as sphereface_lambda
from gradeng.embedding._pairs import PairRule as PairRule
from gradeng.embedding._pairs import PAIR_RULES as PAIR_RULES
from gradeng.embedding._pairs import TRIPLET_MINING as TRIPLET_MINING
from gradeng.embedding._pairs import TRIPLET_RULES as TRIPLET_RULES
from gradeng.embedding._pairs import pair_loss as pair_loss
from gradeng.embedding._pairs import pair_masks as pair_masks
from gradeng.embedding._pairs import contrastive_loss as contrastive_loss
from gradeng.embedding._pairs import binomial_deviance_loss as binomial_deviance_loss
from gradeng.embedding._pairs import multi_similarity_loss as multi_similarity_loss
from gradeng.embedding._pairs import circle_loss as circle_loss
from gradeng.embedding._pairs import triplet_conditions as triplet_conditions
from gradeng.embedding._pairs import triplet_margin_loss as triplet_margin_loss
from gradeng.embedding._pairs import triplet_loss as triplet_loss
from gradeng.embedding._center import CenterState as CenterState
from gradeng.embedding._center import CenterLoss as CenterLoss
from gradeng.embedding._center import make_center_loss as make_center_loss
from gradeng.embedding._center import center_update as center_update
from gradeng.embedding._center import trained_center_loss as trained_center_loss

__all__ = [
    "NORM_EPS",
    "l2_normalize",
    "cosine_similarity_matrix",
    "pairwise_distances",
    "safe_norm",
    "compute_dtype",
    "check_labels",
    "check_embeddings",
    "cosine_logits",
    "normface_logits",
    "cosface_logits",
    "arcface_logits",
    "arcface_target",
    "sphereface_logits",
    "sphereface_psi",
    "sphereface_lambda",
    "PairRule",
    "PAIR_RULES",
    "TRIPLET_MINING",
    "TRIPLET_RULES",
    "pair_loss",
    "pair_masks",
    "contrastive_loss",
    "binomial_deviance_loss",
    "multi_similarity_loss",
    "circle_loss",
    "triplet_conditions",
    "triplet_margin_loss",
    "triplet_loss",
    "CenterState",
    "CenterLoss",
    "make_center_loss",
    "center_update",
    "trained_center_loss",
]
