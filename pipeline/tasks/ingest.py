import luigi

from pipeline import storage
from pipeline.sources import DVC_PREFIX
from pipeline.tasks.arrival import ArrivingFile
from pipeline.tasks.base import PipelineTask


class SourceFile(ArrivingFile):
    """A dataset's source file (a path or s3:// URL), made by something outside the pipeline."""

    path = luigi.Parameter()
    marker = luigi.Parameter(default="", significant=False, description="the dataset's ready_marker, if any")
    marker_setting = "ready_marker"

    def location(self) -> str:
        return self.path

    def marker_pattern(self) -> str:
        return self.marker

    def absent(self) -> str:
        return f"{self.path} does not exist (yet?); the run ends with the missing-data exit code"


class IngestData(PipelineTask):
    """Source (sklearn dataset, file or URL) -> raw/.../data.parquet, a snapshot.

    The manifest records where the data came from, its sha256, its content fingerprint, and
    its row and column counts. The source itself is only read.
    """

    stage = "raw"
    DATA = "data.parquet"

    def requires(self):
        """A source file is an external dependency: until it exists there is nothing to do."""
        spec = self.data_spec()
        source = spec["source"]
        if storage.is_http(source) or source.startswith(("sklearn:", DVC_PREFIX)):
            return []
        return [SourceFile(path=source, marker=spec.get("ready_marker", ""))]

    def key_requires(self):
        return []

    def spec(self):
        spec = self.data_spec()
        return {"source": spec["source"], "sep": spec.get("sep"), "na_values": spec.get("na_values"),
                **({"dvc": spec["dvc"]} if spec.get("dvc") else {})}

    def run(self):
        import pyarrow.parquet as pq

        from pipeline.sources import read_table

        source = self.spec()
        self.set_status_message(f"reading {source['source']}")
        table, info = read_table(**source)
        self.set_status_message(f"read {table.num_rows} rows; writing the snapshot")
        self.set_progress_percentage(60)
        with self.commit(source=info, fingerprint=info.pop("fingerprint"), rows=table.num_rows,
                         columns=table.column_names) as tmp:
            pq.write_table(table, tmp / self.DATA)  # straight from Arrow: no pandas round trip

    def snapshot(self) -> dict:
        """The committed snapshot's manifest: source, fingerprint, rows, columns."""
        return self.output().manifest()
