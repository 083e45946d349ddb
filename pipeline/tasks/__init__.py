"""Luigi wiring only: requires / output / run. The ML lives in pipeline.ml."""
from pipeline import settings
from pipeline.errors import ConfigError
from pipeline.tasks import events  # noqa: F401  (the FAILED / MISSING DATA lines, alerts, durations)
from pipeline.tasks.deploy import DeployModel
from pipeline.tasks.evaluate import EvaluateModel
from pipeline.tasks.flows import TrainValidateDeploy, TrainValidateDeployAll
from pipeline.tasks.gate import ValidateModel
from pipeline.tasks.ingest import IngestData
from pipeline.tasks.predict import BatchPredict, IncomingData, ProductionModel
from pipeline.tasks.report import RunReport
from pipeline.tasks.split import SplitData
from pipeline.tasks.train import CrossValidate, TrainModel
from pipeline.tasks.validate import ValidateData

try:
    settings.use_private_lock_dir()  # before Luigi takes its pid lock
except ConfigError as exc:  # imported by luigi before it handles errors: one line and the config-error exit
    import sys

    import luigi.retcodes

    print(f"error: {exc}", file=sys.stderr)
    sys.exit(luigi.retcodes.retcode().scheduling_error)

__all__ = ["IngestData", "ValidateData", "SplitData", "CrossValidate", "TrainModel", "EvaluateModel", "ValidateModel",
           "DeployModel", "RunReport", "TrainValidateDeploy",
           "TrainValidateDeployAll", "BatchPredict", "IncomingData", "ProductionModel"]
