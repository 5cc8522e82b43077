"""A step's output: a cached one counts only while its bytes are still stored, whatever
kind it is; and what a step returns must be of the type it declares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Protocol, TypeVar, Union, runtime_checkable

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import setpoint as sp
from conftest import module_from_source
from setpoint.client.local import LocalClient
from setpoint.core.errors import PipelineError

GONE = ["an earlier execution had the same key, but its outputs are gone"]

TABLES = """
import pandas as pd
import setpoint as sp
from sklearn.linear_model import LogisticRegression

@sp.step
def read(path: str) -> pd.DataFrame:
    return pd.read_csv(path)

@sp.step
def total(data: pd.DataFrame, scale: int = 1) -> dict:
    return {"sum": int(data["x"].sum()) * scale, "rows": len(data)}

@sp.step
def train(data: pd.DataFrame) -> object:
    return LogisticRegression().fit(data[["x"]], data["y"])

@sp.step
def predict(model: object, data: pd.DataFrame) -> list:
    return [int(p) for p in model.predict(data[["x"]])]

@sp.pipeline(project="outs")
def summed(path: str, scale: int = 1):
    total(read(path), scale=scale)

@sp.pipeline(project="outs")
def fitted(path: str):
    data = read(path)
    predict(train(data), data)
"""


def _csv(tmp_path: Path) -> str:
    path = tmp_path / "data.csv"
    pd.DataFrame({"x": [-3, -2, -1, 1, 2, 3], "y": [0, 0, 0, 1, 1, 1]}).to_csv(path, index=False)
    return str(path)


def _lose(local: LocalClient, digest: str) -> None:
    """What a disk fault then `setpoint gc --verify --delete --min-age 0` do to a blob."""
    path = Path(local.blobs._path(digest))
    path.write_bytes(b"not what was stored")
    report = local.gc(dry_run=False, min_age_s=0, verify=True)
    assert digest in report.corrupted and not path.exists()


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_a_cached_table_whose_data_is_gone_is_made_again(
    client: Any, local: LocalClient, tmp_path: Path
) -> None:
    m = module_from_source(tmp_path, "outs_table", TABLES)
    path = _csv(tmp_path)
    first = sp.run_pipeline(m.summed, path=path)
    assert first.value("total") == {"sum": 0, "rows": 6}
    _lose(local, sp.get_dataset(first.steps[0].output["ref"]).digest)
    again = sp.run_pipeline(m.summed, path=path, scale=2)  # `total` must load the table
    assert [s.status for s in again.steps] == ["ran", "ran"]
    assert again.steps[0].why == GONE
    assert again.value("total") == {"sum": 0, "rows": 6}
    assert again.value("read")["x"].tolist() == [-3, -2, -1, 1, 2, 3]
    assert [s.status for s in sp.run_pipeline(m.summed, path=path).steps] == ["cached"] * 2


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_a_cached_model_whose_files_are_gone_is_made_again(
    client: Any, local: LocalClient, tmp_path: Path
) -> None:
    m = module_from_source(tmp_path, "outs_model", TABLES)
    path = _csv(tmp_path)
    first = sp.run_pipeline(m.fitted, path=path)
    assert first.value("predict") == [0, 0, 0, 1, 1, 1]
    version = sp.get_model_version(first.steps[1].output["ref"])
    files = client.list_model_files(version.name, version.version, version.project)
    model_file = next(f for f in files if f.path != "model.json")
    _lose(local, model_file.digest)
    again = sp.run_pipeline(m.fitted, path=path)
    assert [s.status for s in again.steps][:2] == ["cached", "ran"]
    assert again.steps[1].why == GONE
    assert again.value("predict") == [0, 0, 0, 1, 1, 1]
    assert again.value("train").predict(pd.DataFrame({"x": [5]})).tolist() == [1]


class Point:
    pass


T = TypeVar("T")


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None: ...


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        (int, np.int64(3)),
        (int, True),  # a bool is an int, for Python's typing too
        (float, 3),
        (float, np.float32(0.5)),
        (complex, 2.5),
        (dict[str, float], {"a": "not a float: items are not checked"}),
        (list[int], [1]),
        (tuple[int, ...], (1, 2)),
        (int | None, None),
        (Optional[pd.DataFrame], None),  # noqa: UP045 (the spelling under test)
        (Union[int, str], "x"),  # noqa: UP007
        (Any, {"x": [1]}),
        (object, Point()),
        (T, 1.5),
        (Closable, 1),  # a protocol is not second-guessed
        (Literal["a"], "b"),
        (Annotated[int, "units"], 3),
        (pd.DataFrame, pd.DataFrame({"x": [1]})),
        (pl.DataFrame, pl.DataFrame({"x": [1]})),
        (pa.Table, pa.table({"x": [1]})),
        (np.ndarray, np.zeros(2)),
        ("NotResolved", 1),
        (None, 1),
        (type(None), None),
    ],
)
def test_a_result_of_its_declared_type_is_taken(hint: Any, value: Any) -> None:
    from setpoint.pipelines.dag import check_returned

    check_returned("s", hint, value)


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (pd.DataFrame, {"x": [1, 2]}, "declared to return pandas.DataFrame but returned dict"),
        (int, 1.5, "declared to return int but returned float"),
        (int, np.float64(2.0), "declared to return int but returned numpy.float64"),
        (float, "1.5", "declared to return float but returned str"),
        (dict[str, float], [1.0], r"declared to return dict\[str, float\] but returned list"),
        (int | None, "3", r"declared to return int \| None but returned str"),
        (Annotated[int, "units"], "3", "declared to return int but returned str"),
        (pl.DataFrame, pd.DataFrame(), "return polars.DataFrame but returned pandas.DataFrame"),
        (pa.Table, pd.DataFrame(), "return pyarrow.Table but returned pandas.DataFrame"),
        (np.ndarray, [1], "declared to return numpy.ndarray but returned list"),
        (Point, 1, r"declared to return [\w.]*Point but returned int"),
        # `-> None` returning a value: it was stored, and handed on
        (type(None), {"a": 1}, "declared to return None but returned dict"),
    ],
)
def test_a_result_of_another_type_is_refused(hint: Any, value: Any, message: str) -> None:
    from setpoint.pipelines.dag import check_returned

    with pytest.raises(PipelineError, match=message):
        check_returned("s", hint, value)


TYPED = """
from __future__ import annotations

import numpy as np
import pandas as pd
import setpoint as sp

ATTEMPTS = []

@sp.step
def mk(n: int) -> pd.DataFrame:
    return {"x": [n, n + 1]}

@sp.step
def use(df: pd.DataFrame) -> int:
    return len(df)

@sp.step
def half(n: int) -> int:
    return n / 2

@sp.step
def twice(k: int) -> int:
    return k * 2

@sp.step(retries=2)
def wrong(n: int) -> dict[str, float]:
    ATTEMPTS.append(n)
    return [float(n)]

@sp.step
def fine(n: int) -> dict[str, float] | None:
    return {"n": n / 2} if n else None

@sp.step
def table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n)})

@sp.pipeline(project="typed")
def framed(n: int = 1):
    use(mk(n))

@sp.pipeline(project="typed")
def halved(n: int = 3):
    twice(half(n))

@sp.pipeline(project="typed")
def retried(n: int = 1):
    wrong(n)

@sp.pipeline(project="typed")
def right(n: int = 3):
    fine(n)
    use(table(n))
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_returning_another_type_than_declared_fails_at_once(
    client: Any, tmp_path: Path
) -> None:
    m = module_from_source(tmp_path, "typed_here", TYPED)
    with pytest.raises(PipelineError) as failed:
        sp.run_pipeline(m.framed)
    assert str(failed.value).startswith(
        "step 'mk' is declared to return pandas.DataFrame but returned dict"
    )
    run_id = failed.value.setpoint_step_failure.run_id  # type: ignore[attr-defined]
    assert f"`setpoint pipeline resume {run_id}`" in "\n".join(failed.value.__notes__)
    steps = sp.search_runs(
        project="typed", filter="tags.pipeline = 'framed' and tags.kind = 'step'"
    )
    assert list(zip(steps["name"], steps["status"], strict=True)) == [("mk", "failed")]
    with pytest.raises(PipelineError, match="step 'half' is declared to return int but returned"):
        sp.run_pipeline(m.halved)
    assert sp.search_runs(project="typed", filter="tags.step = 'twice'").empty


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_returning_another_type_is_not_retried(client: Any, tmp_path: Path) -> None:
    m = module_from_source(tmp_path, "typed_retried", TYPED)
    with pytest.raises(PipelineError, match=r"return dict\[str, float\] but returned list"):
        sp.run_pipeline(m.retried, n=4)
    assert m.ATTEMPTS == [4]  # retries=2, yet one attempt: a wrong type is not flaky
    (step,) = sp.search_runs(project="typed", filter="tags.step = 'wrong'")["run_id"]
    assert "retries" not in sp.get_run(step).metrics


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_worker_process_checks_what_a_step_returns_the_same_way(
    client: Any, tmp_path: Path
) -> None:
    m = module_from_source(tmp_path, "typed_pool", TYPED)
    result = sp.run_pipeline(m.right, executor="process")
    assert result.value("fine") == {"n": 1.5} and result.value("use") == 3
    with pytest.raises(PipelineError, match=r"step 'mk' is declared to return pandas\.DataFrame"):
        sp.run_pipeline(m.framed, executor="process")
