from pipeline.artifacts import write_json
from pipeline.settings import dataset_spec
from pipeline.tasks.base import PipelineTask, read_frame
from pipeline.tasks.ingest import IngestData


class ValidateData(PipelineTask):
    """raw snapshot -> validated/.../report.json, or a failure naming the dataset, column and rule.

    Always checked: not empty, target present, no duplicate column names, no all-null or
    infinite columns, at least two classes for classification. Declared in config: `checks`.
    """

    stage = "validated"

    def requires(self):
        return IngestData(dataset=self.dataset, date=self.date)

    def spec(self):
        spec = dataset_spec(self.dataset)
        return {key: spec[key] for key in ("target", "problem", "checks")}

    def run(self):
        from pipeline.ml.data import DataError, describe_violations, validate_frame

        frame = read_frame(self.input() / "data.parquet")
        report = {"dataset": self.dataset, **validate_frame(frame, **self.spec())}
        if not report["passed"]:
            raise DataError(describe_violations(self.dataset, report["violations"]))
        with self.commit() as tmp:
            write_json(tmp / "report.json", report)
