"""Lightning callbacks of a training run: the progress line, text samples, a target loss, HellaSwag.
(The checkpoint callbacks live with the checkpoints: :mod:`gptlab.checkpoints`.)"""

from gptlab.training.callbacks.hellaswag import HellaSwag
from gptlab.training.callbacks.progress import StepProgressBar
from gptlab.training.callbacks.samples import TextSamples
from gptlab.training.callbacks.target import TargetLoss

__all__ = ["HellaSwag", "StepProgressBar", "TargetLoss", "TextSamples"]
