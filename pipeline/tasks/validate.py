import logging

from pipeline.formats import write_json
from pipeline.tasks.base import PipelineTask, read_frame
from pipeline.tasks.ingest import IngestData

logger = logging.getLogger("pipeline")


class ValidateData(PipelineTask):
    """raw snapshot -> validated/.../report.json, or a failure naming the dataset, column and rule.

    Always checked: not empty, target present, no duplicate column names, no all-null or
    infinite columns, at least two classes for classification. Declared in config: `checks`.
    """

    stage = "validated"
    REPORT = "report.json"

    def requires(self):
        return IngestData(dataset=self.dataset, date=self.date)

    def spec(self):
        spec = self.data_spec()
        return {key: spec[key] for key in ("target", "problem", "checks", "roles", "encoding") if key in spec}

    def run(self):
        from pipeline.ml.data import describe_violations, validate_frame
        from pipeline.ml.errors import DataError

        frame = read_frame(self.input() / IngestData.DATA)
        report = {"dataset": self.dataset, **validate_frame(frame, **self.spec())}
        if not report["passed"]:
            raise DataError(describe_violations(self.dataset, report["violations"]))
        for warning in report["warnings"]:
            logger.warning("dataset '%s': %s", self.dataset, warning)
        with self.commit() as tmp:
            write_json(tmp / self.REPORT, report)
