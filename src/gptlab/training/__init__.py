"""The training machinery around the plain model: the LightningModule, optimizers and schedules,
callbacks, checkpoints, numerics, preemption, distributed glue and experiment tracking."""
