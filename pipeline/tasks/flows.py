import luigi
from luigi.util import inherits

from pipeline.tasks.report import RunReport


@inherits(RunReport)
class TrainValidateDeploy(luigi.WrapperTask):
    """The daily job: ingest -> validate -> split -> train -> evaluate -> gate -> deploy -> report.

    RunReport requires DeployModel and ValidateData, so a change to the data checks
    re-validates even when the split (which `checks` does not shape) is already there.
    """

    bulk_complete = RunReport.bulk_complete  # RangeDaily --of TrainValidateDeploy

    def requires(self):
        return self.clone(RunReport)
