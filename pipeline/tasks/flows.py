import luigi
from luigi.util import inherits

from pipeline.tasks.deploy import DeployModel
from pipeline.tasks.validate import ValidateData


@inherits(DeployModel)
class TrainValidateDeploy(luigi.WrapperTask):
    """The daily job: ingest -> validate -> split -> train -> evaluate -> gate -> deploy.

    ValidateData is required directly too, so a change to the data checks re-validates even
    when the split (which `checks` does not shape) is already there.
    """

    def requires(self):
        return [self.clone(DeployModel), self.clone(ValidateData)]
