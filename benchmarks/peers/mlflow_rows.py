"""Copies of one MLflow run's rows, for the peer scripts that fill an MLflow SQLite store
fast: the first run goes through MlflowClient (so every column is MLflow's own), the others
are its runs and tags rows with a new id, name and times, written straight into the tables."""

import sqlite3


class RunTemplate:
    """The ``runs`` row and ``tags`` rows of run ``run_id``, ready to copy."""

    def __init__(self, con: sqlite3.Connection, run_id: str) -> None:
        self.run_id = run_id
        self.cols = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
        found = con.execute("SELECT * FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        self.row = dict(zip(self.cols, found, strict=True))
        self.tag_cols = [r[1] for r in con.execute("PRAGMA table_info(tags)")]
        self.tags = [
            dict(zip(self.tag_cols, row, strict=True))
            for row in con.execute("SELECT * FROM tags WHERE run_uuid = ?", (run_id,))
        ]
        self.insert_run = (
            f"INSERT INTO runs ({', '.join(self.cols)}) VALUES ({', '.join('?' * len(self.cols))})"
        )
        self.insert_tags = (
            f"INSERT INTO tags ({', '.join(self.tag_cols)}) "
            f"VALUES ({', '.join('?' * len(self.tag_cols))})"
        )

    def run_row(self, rid: str, name: str, start: int, end: int) -> tuple:
        row = dict(self.row, run_uuid=rid, name=name, start_time=start, end_time=end)
        row["artifact_uri"] = self.row["artifact_uri"].replace(self.run_id, rid)
        return tuple(row[c] for c in self.cols)

    def tag_rows(self, rid: str, run_name: str | None = None) -> list[tuple]:
        """The template's tags for run ``rid`` (``mlflow.runName`` set to ``run_name`` when
        given)."""
        out = []
        for t in self.tags:
            copy = {**t, "run_uuid": rid}
            if run_name is not None and t["key"] == "mlflow.runName":
                copy["value"] = run_name
            out.append(tuple(copy[c] for c in self.tag_cols))
        return out
