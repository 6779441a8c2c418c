"""Ordinal targets: a Gaussian-blurred label distribution for a softmax head and the expected
class of its prediction.
"""

from gradeng.ordinal._ordinal import gaussian_label_distribution as gaussian_label_distribution
from gradeng.ordinal._ordinal import expected_class as expected_class

__all__ = [
    "gaussian_label_distribution",
    "expected_class",
]
