from pipeline.settings import dataset_spec
from pipeline.tasks.base import PipelineTask, read_frame
from pipeline.tasks.ingest import IngestData
from pipeline.tasks.validate import ValidateData


class SplitData(PipelineTask):
    """validated snapshot -> split/.../train.parquet, test.parquet (fixed seed, stratified).

    Rows with a missing target are dropped here (ValidateData counted them).
    """

    stage = "split"

    def requires(self):
        return {"data": IngestData(dataset=self.dataset, date=self.date),
                "validated": ValidateData(dataset=self.dataset, date=self.date)}

    def key_requires(self):
        # Validation gates the split but does not shape it: editing `checks` re-validates
        # (TrainValidateDeploy requires ValidateData) without re-splitting and retraining.
        return self.requires()["data"]

    def spec(self):
        spec = dataset_spec(self.dataset)
        return {key: spec[key] for key in ("target", "problem", "split")}

    def run(self):
        from pipeline.ml.data import drop_missing_target, split_frame

        spec = self.spec()
        frame = drop_missing_target(read_frame(self.input()["data"] / "data.parquet"), spec["target"])
        train, test = split_frame(frame, target=spec["target"], problem=spec["problem"], **spec["split"])
        with self.commit(rows={"train": len(train), "test": len(test)}) as tmp:
            train.to_parquet(tmp / "train.parquet", index=True)  # the index is the source row
            test.to_parquet(tmp / "test.parquet", index=True)
