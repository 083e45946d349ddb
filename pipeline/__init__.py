"""A Luigi pipeline that retrains, validates and deploys scikit-learn models.

`luigi --module pipeline TASK` finds every task through the import below. Keep this import
light: no pandas or scikit-learn here, so a run that finds everything complete stays fast.
"""
from pipeline.tasks import *  # noqa: F403  (the task classes)
from pipeline.tasks import __all__  # noqa: F401
