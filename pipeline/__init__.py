"""A Luigi pipeline that retrains, validates and deploys scikit-learn models.

`luigi --module pipeline TASK` finds every task through the imports below. Keep this import
light: no pandas or scikit-learn here, so a run that finds everything complete stays fast.
"""
from pipeline.tasks import (
                            DeployModel,
                            EvaluateModel,
                            IngestData,
                            SplitData,
                            TrainModel,
                            TrainValidateDeploy,
                            ValidateData,
                            ValidateModel,
)

__all__ = ["IngestData", "ValidateData", "SplitData", "TrainModel", "EvaluateModel",
           "ValidateModel", "DeployModel", "TrainValidateDeploy"]
