"""Signatures: inference from every input kind, JSON round trip, and input checks that name
the column and the expectation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from setpoint.core.errors import InvalidArgumentError
from setpoint.models.signature import (
    ColumnSpec,
    InputAligner,
    Signature,
    TensorSpec,
    check_input,
    infer_signature,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.5, 2.5, 3.5],
            "items": np.array([1, 2, 3], dtype="int64"),
            "city": ["a", "b", "c"],
            "member": [True, False, True],
        }
    )


EXPECTED = [
    ColumnSpec(name="amount", type="double"),
    ColumnSpec(name="items", type="int64"),
    ColumnSpec(name="city", type="string"),
    ColumnSpec(name="member", type="bool"),
]


def refused(signature: Signature, data: object, *phrases: str) -> str:
    with pytest.raises(InvalidArgumentError) as info:
        check_input(signature, data)
    assert info.value.field == "input"
    for phrase in phrases:
        assert phrase in info.value.message
    return info.value.message


# ------------------------------------------------------------------ inference


@pytest.mark.parametrize(
    "convert",
    [
        lambda df: df,
        lambda df: pa.Table.from_pandas(df, preserve_index=False),
        lambda df: pa.RecordBatch.from_pandas(df, preserve_index=False),
        lambda df: pl.from_pandas(df),
        lambda df: df.to_dict(orient="records"),
    ],
    ids=["pandas", "arrow", "record_batch", "polars", "records"],
)
def test_infer_columns_from_every_table_kind(convert: object) -> None:
    signature = infer_signature(convert(frame()))  # type: ignore[operator]
    assert list(signature.inputs) == EXPECTED
    assert signature.is_tabular
    assert signature.outputs is None


def test_infer_categoricals_as_their_values() -> None:
    df = pd.DataFrame({"city": pd.Categorical(["a", "b", "a"])})
    assert list(infer_signature(df).inputs) == [ColumnSpec(name="city", type="string")]
    polars = pl.DataFrame({"city": pl.Series(["a", "b"], dtype=pl.Categorical)})
    assert list(infer_signature(polars).inputs) == [ColumnSpec(name="city", type="string")]


def test_infer_tensor_from_numpy_with_any_number_of_rows() -> None:
    signature = infer_signature(np.zeros((10, 4)), output=np.zeros(10, dtype="int64"))
    assert signature.inputs == TensorSpec(dtype="float64", shape=(-1, 4))
    assert signature.outputs == TensorSpec(dtype="int64", shape=(-1,))
    assert not signature.is_tabular


def test_infer_output_from_a_series_and_a_frame() -> None:
    assert infer_signature(frame(), output=pd.Series([0.1, 0.2])).outputs == TensorSpec(
        dtype="float64", shape=(-1,)
    )
    out = infer_signature(frame(), output=pd.DataFrame({"p": [0.5]})).outputs
    assert list(out) == [ColumnSpec(name="p", type="double")]  # type: ignore[arg-type]


def test_column_of_mixed_values_is_refused() -> None:
    mixed = pd.DataFrame({"code": pd.Series([1, "x"], dtype=object)})
    with pytest.raises(InvalidArgumentError) as info:
        infer_signature(mixed)
    assert info.value.field == "input_example"
    assert "column 'code' holds values of no single type" in info.value.message
    signature = Signature(inputs=[ColumnSpec(name="code", type="int64")])
    refused(signature, mixed, "column 'code'")


def test_unsupported_example_is_refused() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        infer_signature("not data")
    assert info.value.field == "input_example"
    assert "cannot use a str" in info.value.message


@pytest.mark.parametrize(
    "signature",
    [
        infer_signature(frame(), output=np.zeros(3)),
        infer_signature(np.zeros((2, 3, 4), dtype="float32")),
    ],
    ids=["columns", "tensor"],
)
def test_dict_round_trip_is_json_safe(signature: Signature) -> None:
    data = json.loads(json.dumps(signature.to_dict()))
    assert Signature.from_dict(data) == signature


def test_dict_shapes() -> None:
    assert infer_signature(np.zeros((2, 4))).to_dict() == {
        "inputs": {"dtype": "float64", "shape": [-1, 4]},
        "outputs": None,
    }
    assert infer_signature(frame()).to_dict()["inputs"][0] == {"name": "amount", "type": "double"}


def test_malformed_dict_is_refused() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Signature.from_dict({"inputs": [{"name": "a"}]})
    assert info.value.field == "signature"


def test_signature_is_immutable_and_hashable() -> None:
    signature = Signature(inputs=[ColumnSpec(name="a", type="double")])
    assert isinstance(signature.inputs, tuple)
    assert hash(signature) == hash(Signature(inputs=(ColumnSpec(name="a", type="double"),)))


# ------------------------------------------------------------------ checks on tables


def test_matching_frame_passes_through_untouched() -> None:
    df = frame()
    assert check_input(infer_signature(df), df) is df


def test_aligner_rechecks_a_known_layout_whose_types_changed() -> None:
    aligner = InputAligner(infer_signature(frame()))
    df = frame()
    assert aligner.align(df) is df
    assert aligner.align(df) is df  # remembered
    with pytest.raises(InvalidArgumentError, match="column 'amount' is string"):
        aligner.align(df.assign(amount=["1", "2", "3"]))
    objects = df.assign(city=pd.Series(["a", "b", "c"], dtype=object))
    assert aligner.align(objects) is objects
    with pytest.raises(InvalidArgumentError, match="column 'city' is int64"):
        aligner.align(objects.assign(city=pd.Series([1, 2, 3], dtype=object)))


def test_extra_columns_dropped_and_order_fixed() -> None:
    signature = infer_signature(frame())
    given = frame()[["member", "city", "amount", "items"]].assign(extra=1)
    out = check_input(signature, given)
    assert list(out.columns) == ["amount", "items", "city", "member"]
    pd.testing.assert_frame_equal(out, frame())


def test_missing_column_is_named_with_the_expectation() -> None:
    message = refused(
        infer_signature(frame()), frame().drop(columns=["amount"]), "column 'amount' is missing"
    )
    assert "the model expects columns amount (double), items (int64), city (string)" in message


def test_several_missing_columns_are_all_named() -> None:
    refused(infer_signature(frame()), frame()[["city"]], "columns 'amount', 'items', 'member'")


def test_integers_are_cast_for_a_double_column() -> None:
    given = frame().assign(amount=[1, 2, 3])
    out = check_input(infer_signature(frame()), given)
    assert out["amount"].dtype == np.float64
    assert out["amount"].tolist() == [1.0, 2.0, 3.0]


def test_strings_for_a_double_column_are_refused() -> None:
    refused(
        infer_signature(frame()),
        frame().assign(amount=["1", "2", "3"]),
        "column 'amount' is string; the model expects double",
    )


def test_floats_for_an_integer_column_are_refused() -> None:
    refused(infer_signature(frame()), frame().assign(items=[1.5, 2, 3]), "column 'items' is double")


def test_integers_that_do_not_fit_are_refused() -> None:
    signature = Signature(inputs=[ColumnSpec(name="small", type="int8")])
    refused(signature, pd.DataFrame({"small": [1, 300]}), "column 'small'", "int8")
    out = check_input(signature, pd.DataFrame({"small": [1, 100]}))
    assert out["small"].dtype == np.int8


def test_object_column_of_strings_matches_a_string_column() -> None:
    given = frame().assign(city=pd.Series(["a", "b", "c"], dtype=object))
    assert check_input(infer_signature(frame()), given)["city"].tolist() == ["a", "b", "c"]


def test_arrow_input_is_selected_cast_and_converted() -> None:
    table = pa.table({"extra": [0, 0], "items": [1, 2], "amount": [3, 4]})
    signature = Signature(
        inputs=[ColumnSpec(name="amount", type="double"), ColumnSpec(name="items", type="int64")]
    )
    out = check_input(signature, table)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["amount", "items"]
    assert out["amount"].dtype == np.float64
    refused(signature, table.drop_columns(["items"]), "column 'items' is missing")
    refused(signature, pa.table({"amount": ["x"], "items": [1]}), "column 'amount' is string")


def test_polars_and_records_input() -> None:
    signature = infer_signature(frame())
    pd.testing.assert_frame_equal(check_input(signature, pl.from_pandas(frame())), frame())
    records = frame().to_dict(orient="records")
    pd.testing.assert_frame_equal(check_input(signature, records), frame())


def test_numpy_input_for_columns_is_positional() -> None:
    signature = Signature(
        inputs=[ColumnSpec(name="a", type="double"), ColumnSpec(name="b", type="double")]
    )
    out = check_input(signature, np.array([[1, 2], [3, 4]]))
    assert list(out.columns) == ["a", "b"]
    assert out.dtypes.tolist() == [np.float64, np.float64]
    refused(signature, np.zeros((2, 3)), "shape (2, 3)", "2 columns", "a (double), b (double)")


def test_unsupported_input_is_refused() -> None:
    refused(infer_signature(frame()), {"amount": 1}, "cannot use a dict")


# ------------------------------------------------------------------ checks on tensors


def test_tensor_shape_is_checked() -> None:
    signature = infer_signature(np.zeros((5, 4)))
    assert check_input(signature, np.ones((7, 4))).shape == (7, 4)
    refused(signature, np.ones((7, 3)), "shape (7, 3)", "expects shape (-1, 4)")
    refused(signature, np.ones(4), "shape (4,)")


def test_tensor_dtype_cast_or_refused() -> None:
    signature = infer_signature(np.zeros((5, 2)))
    array = np.ones((2, 2), dtype="float64")
    assert check_input(signature, array) is array
    assert check_input(signature, np.ones((2, 2), dtype="int32")).dtype == np.float64
    refused(signature, np.array([["a", "b"]]), "dtype <U1", "expects float64")


def test_tensor_from_a_frame() -> None:
    signature = infer_signature(np.zeros((5, 2)))
    out = check_input(signature, pd.DataFrame({"x": [1.0], "y": [2.0]}))
    assert out.tolist() == [[1.0, 2.0]]


def test_a_given_signature_is_checked_when_the_model_is_saved(tmp_path: Path) -> None:
    """A dict was an AttributeError; an unknown type or a column the example lacks was
    stored, and every prediction refused later."""
    from sklearn.linear_model import LinearRegression

    from setpoint.models.package import load_model, save_model

    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.1, 0.2]})
    model = LinearRegression().fit(X, [1.0, 2.0, 3.0])
    as_dict = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
    save_model(model, tmp_path / "ok", input_example=X, signature=as_dict)
    assert load_model(tmp_path / "ok").signature == Signature.from_dict(as_dict)
    for signature, message in (
        ("a,b", "must be a Signature or its dict"),
        ({"inputs": [{"name": "a", "type": "dbl"}]}, "'dbl' is not an Arrow type"),
        ({"inputs": [{"name": "a", "type": "double"}] * 2}, "given twice"),
        ({"inputs": {"dtype": "floaty", "shape": [-1, 2]}}, "not a numpy dtype"),
        ({"inputs": {"dtype": "float64", "shape": [-1, 0]}}, "sizes are -1"),
        (
            Signature(
                inputs=[ColumnSpec(name="a", type="double"), ColumnSpec(name="zzz", type="double")]
            ),
            "the input example does not fit it: .*'zzz'",
        ),
    ):
        with pytest.raises(InvalidArgumentError, match=message) as e:
            save_model(model, tmp_path / "bad", input_example=X, signature=signature)
        assert e.value.field == "signature"
        assert not (tmp_path / "bad").exists()
