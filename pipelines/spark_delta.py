"""Real Delta tables for the local Spark engine without Delta's jars: a Spark 4 Python data source backed by the
`deltalake` package (the same library the local engine writes with, so both engines share one table format).

    spark.dataSource.register(DeltaSource)
    spark.read.format("delta").load(path)                       # the table's current version (pinned at planning)
    frame.write.format("delta").mode("append").save(path)       # one Delta commit per Spark write

Writing works like Delta on a cluster: every task writes its rows as parquet files into the table's folder and
reports them (path, size, row count); the driver commits them all in ONE Delta transaction (deltalake's
create_write_transaction), so a failed job commits no version (abort removes the files its finished tasks
reported; a file a task still wrote after the job failed is in no version, an orphan for a vacuum). An overwrite
replaces the schema (Spark's overwriteSchema), an append may add columns (mergeSchema), as pipelines/tables.py's
LocalTables writes. Reading gives each of the pinned version's files a Spark partition, each read with deltalake's
pyarrow dataset (the table's schema: columns added later read as nulls in older files).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql.datasource import (
    DataSource, DataSourceArrowWriter, DataSourceReader, InputPartition, WriterCommitMessage,
)

FORMAT = "delta"
FILES_PER_PARTITION = 1     # a Spark task per file: every write task made one, so reads are as parallel as writes


def is_delta_table(path: Path) -> bool:
    return (Path(path) / "_delta_log").is_dir()


class DeltaSource(DataSource):
    """`format("delta")` over a local path (option `path`, given by `load(path)` / `save(path)`)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    @property
    def path(self) -> str:
        path = self.options.get("path")
        if not path:
            raise ValueError("format('delta') needs a path: load(path) / save(path)")
        return os.path.abspath(path.removeprefix("file://").removeprefix("file:"))

    def schema(self):
        import pyarrow as pa
        from deltalake import DeltaTable
        from pyspark.sql.pandas.types import from_arrow_schema

        if not is_delta_table(Path(self.path)):
            raise FileNotFoundError(f"{self.path} is not a Delta table (no _delta_log)")
        # deltalake hands an arro3 schema; pyarrow takes it through the Arrow C interface.
        return from_arrow_schema(pa.schema(DeltaTable(self.path).schema().to_arrow()), prefer_timestamp_ntz=True)

    def reader(self, schema):
        return DeltaReader(self.path, schema)

    def writer(self, schema, overwrite: bool):
        return DeltaWriter(self.path, schema, overwrite)


@dataclass
class FilesPartition(InputPartition):
    files: list[str] = field(default_factory=list)


class DeltaReader(DataSourceReader):
    def __init__(self, path: str, schema):
        from deltalake import DeltaTable

        self.path, self.columns = path, [f.name for f in schema.fields]
        table = DeltaTable(path)
        self.version = table.version()      # every partition reads the same version, whatever commits meanwhile
        # named as the version's pyarrow dataset names its fragments (relative to the table): read() picks by name
        self.files = sorted(f.path for f in table.to_pyarrow_dataset().get_fragments())

    def partitions(self):
        chunks = [self.files[i:i + FILES_PER_PARTITION] for i in range(0, len(self.files), FILES_PER_PARTITION)]
        return [FilesPartition(chunk) for chunk in chunks] or [FilesPartition([])]

    def read(self, partition):
        import pyarrow.dataset as ds
        from deltalake import DeltaTable

        if not partition.files:
            return
        dataset = DeltaTable(self.path, version=self.version).to_pyarrow_dataset()
        wanted = set(partition.files)
        fragments = [f for f in dataset.get_fragments() if f.path in wanted]
        mine = ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
        yield from mine.to_batches(columns=self.columns)


@dataclass
class WrittenFile(WriterCommitMessage):
    path: str = ""          # relative to the table; "" when the task had no rows
    size: int = 0
    stats: str = ""


class DeltaWriter(DataSourceArrowWriter):
    """Tasks write files in the write's schema (made nullable, as Spark's file writers do); the driver commits."""

    def __init__(self, path: str, spark_schema, overwrite: bool):
        import pyarrow as pa
        from deltalake import DeltaTable
        from pyspark.sql.pandas.types import to_arrow_schema

        self.path, self.overwrite = path, overwrite
        incoming = to_arrow_schema(spark_schema, timezone="UTC", prefers_large_types=False)
        incoming = pa.schema([f.with_nullable(True) for f in incoming])
        if not overwrite and is_delta_table(Path(path)):   # append: existing columns keep the table's types
            current = pa.schema(DeltaTable(path).schema().to_arrow())
            incoming = pa.schema([current.field(f.name) if f.name in current.names else f for f in incoming])
        self.schema = incoming.serialize().to_pybytes()

    def write(self, iterator) -> WrittenFile:
        """One parquet file per task (none for a task with no rows), named as Delta writers name theirs."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.ipc.read_schema(pa.py_buffer(self.schema))
        name = f"part-{uuid.uuid4()}.c000.snappy.parquet"
        target = os.path.join(self.path, name)
        writer, rows, nulls = None, 0, dict.fromkeys(schema.names, 0)
        try:
            for batch in iterator:
                if not batch.num_rows:
                    continue
                batch = pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)
                if writer is None:
                    os.makedirs(self.path, exist_ok=True)
                    writer = pq.ParquetWriter(target, schema, compression="snappy")
                writer.write_batch(batch)
                rows += batch.num_rows
                for column, values in zip(schema.names, batch.columns):
                    nulls[column] += values.null_count
        except BaseException:
            if writer is not None:           # a failed task takes its half-written file with it
                writer.close()
                with contextlib.suppress(FileNotFoundError):
                    os.remove(target)
            raise
        if writer is not None:
            writer.close()
        if writer is None:
            return WrittenFile()
        return WrittenFile(name, os.path.getsize(target), json.dumps({"numRecords": rows, "nullCount": nulls}))

    def commit(self, messages) -> None:
        """The write's one Delta transaction (run by Spark in a Python process on the driver)."""
        import pyarrow as pa
        from deltalake import DeltaTable, Schema
        from deltalake.transaction import AddAction, create_table_with_add_actions

        schema = Schema.from_arrow(pa.ipc.read_schema(pa.py_buffer(self.schema)))
        now = int(time.time() * 1000)
        actions = [AddAction(m.path, m.size, {}, now, True, m.stats) for m in messages if m is not None and m.path]
        if not is_delta_table(Path(self.path)):
            create_table_with_add_actions(self.path, schema, actions, mode="error")
            return
        table = DeltaTable(self.path)
        if self.overwrite:
            table.create_write_transaction(actions, "overwrite", schema)
            return
        known = {f.name for f in table.schema().fields}
        new = [f for f in schema.fields if f.name not in known]
        if new:   # mergeSchema: deltalake commits added columns as their own version (Spark's Delta: in the write's)
            table.alter.add_columns(new)
            table = DeltaTable(self.path)
        if actions:
            table.create_write_transaction(actions, "append", table.schema())

    def abort(self, messages) -> None:
        """Files of a failed write belong to no version: removed now (a vacuum would later)."""
        for message in messages:
            if message is not None and message.path:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.path, message.path))
