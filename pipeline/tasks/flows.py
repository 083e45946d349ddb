import datetime as dt

import luigi

from pipeline import settings
from pipeline.tasks.base import NameParameter
from pipeline.tasks.deploy import DeployModel


class TrainValidateDeploy(luigi.WrapperTask):
    """The daily job: ingest -> validate -> split -> train -> evaluate -> gate -> deploy."""

    dataset = NameParameter("dataset", default=settings.DEFAULT_DATASET)
    model = NameParameter("model", default=settings.DEFAULT_MODEL)
    date = luigi.DateParameter(default=dt.date.today())

    def requires(self):
        return DeployModel(dataset=self.dataset, model=self.model, date=self.date)
