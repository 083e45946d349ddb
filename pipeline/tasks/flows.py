import datetime as dt

import luigi
from luigi.util import inherits

from pipeline import settings
from pipeline.tasks.model import DatasetModel
from pipeline.tasks.report import RunReport


@inherits(RunReport)
class TrainValidateDeploy(DatasetModel, luigi.WrapperTask):
    """The daily job: ingest -> validate -> split -> train -> evaluate -> gate -> deploy -> report.

    RunReport requires DeployModel and ValidateData, so a change to the data checks
    re-validates even when the split (which `checks` does not shape) is already there.
    Without --model, the dataset's deployment: its `models` (the best of several), else logreg.
    """

    bulk_complete = RunReport.bulk_complete  # RangeDaily --of TrainValidateDeploy

    def requires(self):
        return self.clone(RunReport)

    outcome_of = "deployment"

    def run_outcome(self) -> list[str] | None:
        """The deployment's outcome, for the run's outcome block when everything was complete."""
        return self.clone(RunReport).run_outcome()

    def outcome_name(self) -> str:
        return self.clone(RunReport).outcome_name()


class TrainValidateDeployAll(luigi.WrapperTask):
    """Every configured deployment (each dataset that names its `models`) in one run: one cron line.

    The datasets' tasks are independent: with --workers N they run side by side, and one
    dataset's failure does not stop the others (the run still exits non-zero).
    """

    date = luigi.DateParameter(default=dt.date.today(), description="the run's partition (default: today)")

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        return [date for date in parameter_tuples if cls(date=date).complete()]

    def requires(self):
        return [TrainValidateDeploy(dataset=dataset, date=self.date) for dataset in settings.deployments()]
