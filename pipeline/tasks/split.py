from pipeline.tasks.base import PipelineTask, read_frame
from pipeline.tasks.ingest import IngestData
from pipeline.tasks.validate import ValidateData


class SplitData(PipelineTask):
    """validated snapshot -> split/.../train.parquet, test.parquet (fixed seed, stratified).

    Rows with a missing target are dropped here (ValidateData counted them). Each part keeps
    the snapshot's index: a row's position in the source.
    """

    stage = "split"
    PARTS = ("train", "test")

    @staticmethod
    def file(part: str) -> str:
        return f"{part}.parquet"

    def requires(self):
        return {"data": IngestData(dataset=self.dataset, date=self.date),
                "validated": ValidateData(dataset=self.dataset, date=self.date)}

    def key_requires(self):
        # Validation gates the split but does not shape it: editing `checks` re-validates
        # (TrainValidateDeploy requires ValidateData) without re-splitting and retraining.
        return self.requires()["data"]

    def spec(self):
        spec = self.data_spec()
        return {key: spec[key] for key in ("target", "problem", "split")}

    def run(self):
        from pipeline.ml.data import drop_missing_target, split_frame

        spec = self.spec()
        frame = drop_missing_target(read_frame(self.input()["data"] / IngestData.DATA), spec["target"], spec["problem"])
        parts = split_frame(frame, target=spec["target"], problem=spec["problem"], **spec["split"])
        with self.commit(rows={part: len(rows) for part, rows in zip(self.PARTS, parts)}) as tmp:
            for part, rows in zip(self.PARTS, parts):
                rows.to_parquet(tmp / self.file(part), index=True)

    def snapshot(self) -> dict:
        """The manifest of the snapshot this split was made from."""
        return self.requires()["data"].snapshot()
