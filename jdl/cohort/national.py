"""Access to the national re-offending data: Parquet files queried through DuckDB.

The embedded default is the synthetic dataset written by ``jdl synth``; a site with real data
points :class:`NationalData` at its own folder of Parquet files with the same schema
(``people``, ``index_events``, ``offences``, ``employment``, ``benefits``, ``oasys`` and a
``manifest.json`` giving the extract date and data window).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from jdl.window import DataWindow

TABLES = ("people", "index_events", "offences", "employment", "benefits", "oasys")
# the OASys needs (methodology section 4), one column each in oasys.parquet, scored 0/1/2
OASYS_NEEDS = ("accommodation", "education_training_employment", "finance", "relationships",
               "lifestyle", "drugs", "alcohol", "emotional_wellbeing", "thinking_behaviour",
               "attitudes")


@dataclass(frozen=True)
class NationalData:
    """A folder of national-data Parquet files and its data window."""

    folder: Path
    window: DataWindow

    @classmethod
    def open(cls, folder: str | Path) -> "NationalData":
        """The national data in ``folder``; raises FileNotFoundError naming what is missing."""
        folder = Path(folder)
        missing = [f"{t}.parquet" for t in TABLES if not (folder / f"{t}.parquet").exists()]
        if not (folder / "manifest.json").exists():
            missing.append("manifest.json")
        if missing:
            raise FileNotFoundError(f"national data folder {folder} lacks: {', '.join(missing)} "
                                    f"(run `jdl synth` to build the synthetic default)")
        return cls(folder=folder, window=DataWindow.from_national(folder))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with one view per national table. DuckDB's progress
        bar is off: under load it shows in a notebook as a widget with a script of its own, which
        would make a report depend on the machine's speed and put a script in its page."""
        con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
        for table in TABLES:
            path = str(self.folder / f"{table}.parquet").replace("'", "''")
            con.execute(f"create view {table} as select * from read_parquet('{path}')")
        return con

    @contextmanager
    def session(self, **frames: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection (see :meth:`connect`) with each of ``frames`` registered under its keyword
        name as a table, closed when the block ends."""
        con = self.connect()
        try:
            for name, frame in frames.items():
                con.register(name, frame)
            yield con
        finally:
            con.close()
