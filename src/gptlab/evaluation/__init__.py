"""Evaluations beside the loss: HellaSwag (in the loop and on checkpoints) and the
lm-evaluation-harness model type (:mod:`gptlab.evaluation.harness`)."""
