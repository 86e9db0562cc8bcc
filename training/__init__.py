"""SegGal's training subpackage: how the gallery's checkpoints are made.

* :mod:`training.train` — ``python -m training.train``: train one method on one task and training set,
  validate every epoch, keep ``best/`` and ``last/`` checkpoint folders (resumable, atomically written),
  optionally push the best one to the Hugging Face Hub. ``torchrun`` runs it data-parallel.
* :mod:`training.grid` — ``python -m training.grid``: the paper's 138 models (method × task × training
  set), run one after another or as a SLURM array, with each job's standardised running time.
"""
