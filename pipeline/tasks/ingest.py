from pipeline.settings import dataset_spec
from pipeline.tasks.base import PipelineTask


class IngestData(PipelineTask):
    """Source (sklearn dataset, file or URL) -> raw/.../data.parquet, a snapshot.

    The manifest records where the data came from, its sha256, its content fingerprint, and
    its row and column counts. The source itself is only read.
    """

    stage = "raw"

    def spec(self):
        spec = dataset_spec(self.dataset)
        return {"source": spec["source"], "sep": spec.get("sep"), "na_values": spec.get("na_values")}

    def run(self):
        from pipeline.ml.data import fingerprint_frame
        from pipeline.sources import read_source

        source = self.spec()
        self.set_status_message(f"reading {source['source']}")
        frame, info = read_source(source["source"], sep=source["sep"], na_values=source["na_values"])
        meta = {"source": info, "fingerprint": fingerprint_frame(frame), "rows": len(frame),
                "columns": [str(c) for c in frame.columns]}
        with self.commit(**meta) as tmp:
            frame.to_parquet(tmp / "data.parquet", index=False)
