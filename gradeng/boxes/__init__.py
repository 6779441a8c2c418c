"""Box-regression losses: IoU, GIoU, DIoU, CIoU on (x1, y1, x2, y2) boxes, and the SSD offset
decoding they are applied through.
"""

from gradeng.boxes._iou import KINDS as KINDS
from gradeng.boxes._iou import BOX_LOSSES as BOX_LOSSES
from gradeng.boxes._iou import decode_offsets as decode_offsets
from gradeng.boxes._iou import box_iou as box_iou
from gradeng.boxes._iou import iou_loss as iou_loss
from gradeng.boxes._iou import giou_loss as giou_loss
from gradeng.boxes._iou import diou_loss as diou_loss
from gradeng.boxes._iou import ciou_loss as ciou_loss

__all__ = [
    "KINDS",
    "BOX_LOSSES",
    "decode_offsets",
    "box_iou",
    "iou_loss",
    "giou_loss",
    "diou_loss",
    "ciou_loss",
]
