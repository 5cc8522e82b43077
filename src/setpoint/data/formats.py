"""Which files are tables: the suffixes setpoint reads as CSV or Parquet (no imports, so
the CLI can decide before anything heavy is loaded)."""

from __future__ import annotations

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_tabular(files: list[str]) -> bool:
    return all(f.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES) for f in files)
