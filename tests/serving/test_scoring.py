"""Batch scoring: files of any size scored a batch at a time, keys kept, order kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import setpoint as sp


def _inputs(folder: Path, files: int = 3, rows: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    folder.mkdir()
    parts = []
    for i in range(files):
        X = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])
        X.insert(0, "customer_id", np.arange(i * rows, (i + 1) * rows))
        X.to_parquet(folder / f"part-{i}.parquet", index=False)
        parts.append(X)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def churn(client: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] > 0).astype(int)
    v = sp.log_model(LogisticRegression().fit(X, y), "churn", project="bs", input_example=X[:5])
    sp.set_alias("churn", "champion", v.version, project="bs")
    return sp.load_model("bs/churn@champion")


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_a_folder_is_scored_in_order_with_its_keys(churn: Any, tmp_path: Path) -> None:
    data = _inputs(tmp_path / "in")
    out = tmp_path / "scores.parquet"
    result = sp.predict_batch("bs/churn@champion", str(tmp_path / "in"), str(out), proba=True)
    assert result["rows"] == 12_000 and result["keep"] == ["customer_id"]
    scored = pq.read_table(out).to_pandas()
    assert list(scored.columns) == ["customer_id", "prediction", "proba_0", "proba_1"]
    assert scored["customer_id"].tolist() == data["customer_id"].tolist()
    features = data[["a", "b", "c", "d"]]
    assert scored["prediction"].tolist() == churn.predict(features).tolist()
    assert np.allclose(scored["proba_1"], churn.predict_proba(features)[:, 1])
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_the_command_scores_csv_and_says_what_is_wrong(
    churn: Any, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.cli.main import main

    data = _inputs(tmp_path / "in", files=1, rows=500)
    csv = tmp_path / "in.csv"
    data.assign(region="north").to_csv(csv, index=False)
    out = tmp_path / "out.parquet"
    main(
        [
            "predict",
            "bs/churn@champion",
            "--input",
            str(csv),
            "--output",
            str(out),
            "--keep",
            "customer_id",
        ]
    )
    assert "scored 500 rows with bs/churn/1" in capsys.readouterr().out
    assert pq.read_table(out).column_names == ["customer_id", "prediction"]
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "predict",
                "bs/churn@champion",
                "--input",
                str(csv),
                "--output",
                str(out),
                "--keep",
                "nope",
            ]
        )
    assert exit_.value.code == 1
    assert "no column 'nope' to keep" in capsys.readouterr().err
    before = csv.read_bytes()
    for argv in (["--output", str(csv)], ["--output", str(out), "--threads", "0"]):
        with pytest.raises(SystemExit) as exit_:
            main(["predict", "bs/churn@champion", "--input", str(csv), *argv])
        assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "error (output):" in err and "error (threads):" in err
    assert csv.read_bytes() == before  # the input is still there, whole
    (tmp_path / "folder").mkdir()
    scoring = ["predict", "bs/churn@champion", "--input", str(csv), "--output"]
    for given, said in (("p.csv", "name the output .parquet"), ("folder", "is a folder")):
        with pytest.raises(SystemExit) as exit_:
            main([*scoring, str(tmp_path / given)])
        assert exit_.value.code == 1 and said in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(SystemExit):
        main(
            [
                "predict",
                "bs/churn@champion",
                "--input",
                str(tmp_path / "missing.csv"),
                "--output",
                str(out),
            ]
        )
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    data.drop(columns=["d"]).to_csv(bad, index=False)
    with pytest.raises(SystemExit):
        main(
            [
                "predict",
                "bs/churn@champion",
                "--input",
                str(bad),
                "--output",
                str(tmp_path / "b.parquet"),
            ]
        )
    assert "'d'" in capsys.readouterr().err
    assert not (tmp_path / "b.parquet").exists()
    # a model refusing missing values: one line naming the column, not sklearn's paragraph
    gaps = tmp_path / "gaps.csv"
    data.assign(b=data["b"].where(data.index != 3)).to_csv(gaps, index=False)
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "bs/churn@champion", "--input", str(gaps), "--output", str(out)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1, err
    assert "error (input): column 'b' has missing values (the first at row 3" in err


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_outputs_never_replace_kept_columns_and_any_output_shape_is_written(
    client: Any, tmp_path: Path
) -> None:
    """A kept input column named `prediction` or `proba_<class>` was overwritten by the
    scores (the command said it kept it); a model predicting (n, 1) or (n, k) arrays could
    not be scored at all; LightGBM's probability columns were named by position."""
    import lightgbm as lgb
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    labels = np.where(X["a"] > 0, "yes", "no")
    v = sp.log_model(LogisticRegression().fit(X, labels), "yn", project="bs", input_example=X[:5])
    clash = X.assign(prediction="ORIG", proba_yes="keep")
    clash.to_parquet(tmp_path / "clash.parquet", index=False)
    with pytest.raises(sp.errors.InvalidArgumentError, match="'prediction' is kept") as e:
        sp.predict_batch(v.ref, str(tmp_path / "clash.parquet"), str(tmp_path / "o.parquet"))
    assert e.value.field == "keep" and not (tmp_path / "o.parquet").exists()
    clash.drop(columns="prediction").to_parquet(tmp_path / "clash2.parquet", index=False)
    with pytest.raises(sp.errors.InvalidArgumentError, match="'proba_yes' is kept"):
        sp.predict_batch(
            v.ref, str(tmp_path / "clash2.parquet"), str(tmp_path / "o.parquet"), proba=True
        )
    X.to_parquet(tmp_path / "x.parquet", index=False)
    two = np.c_[X["a"] * 2, X["b"] - 1]
    multi = sp.log_model(LinearRegression().fit(X, two), "multi", project="bs", input_example=X[:5])
    sp.predict_batch(multi.ref, str(tmp_path / "x.parquet"), str(tmp_path / "m.parquet"))
    scored = pq.read_table(tmp_path / "m.parquet").to_pandas()
    assert list(scored.columns) == ["prediction_0", "prediction_1"]
    assert np.allclose(scored["prediction_1"], X["b"] - 1)
    booster = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, labels)
    lv = sp.log_model(booster, "lgb", project="bs", input_example=X[:5])
    sp.predict_batch(lv.ref, str(tmp_path / "x.parquet"), str(tmp_path / "l.parquet"), proba=True)
    assert pq.read_schema(tmp_path / "l.parquet").names == ["prediction", "proba_no", "proba_yes"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_csv_columns_are_read_as_the_signature_types_them(client: Any, tmp_path: Path) -> None:
    """Store codes like "001" were read from CSV as numbers and refused ("the model expects
    string"), even in the training data's own CSV; two CSV files read as int64 and as
    double were a schema mismatch."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame({"store": ["001", "002", "010", "001"] * 10, "x": np.arange(40.0)})
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["store"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, (X["x"] > 20).astype(int))
    v = sp.log_model(model, "stores", project="bs", input_example=X)
    folder = tmp_path / "in"
    folder.mkdir()
    X.iloc[:20].to_csv(folder / "a.csv", index=False)
    X.iloc[20:].assign(x=X["x"].iloc[20:].astype(int)).to_csv(folder / "b.csv", index=False)
    result = sp.predict_batch(v.ref, str(folder), str(tmp_path / "o.parquet"))
    assert result["rows"] == 40
    scored = pq.read_table(tmp_path / "o.parquet").column("prediction").to_pylist()
    assert scored == model.predict(X).tolist()
