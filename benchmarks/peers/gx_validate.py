"""Great Expectations validation peer: not-null on every column plus range (float) or in-set
(string) checks on a Parquet table, timed as one ValidationDefinition.run, against the same
checks in plain pandas.

Loading the Parquet file is not timed. Run with the peer venv's python; prints one JSON line
on stdout.
"""

import argparse
import contextlib
import json
import os
import sys
import time
import warnings

os.environ["GX_ANALYTICS_ENABLED"] = "false"  # no usage reporting from the benchmark

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from pandas.api.types import is_float_dtype, is_string_dtype

MIN_VALUE, MAX_VALUE = -10, 10
VALUE_SET = list("abcdefgh")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parquet", help="Parquet file to validate (loaded untimed)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs, best kept (default 3)")
    return p.parse_args(argv)


def column_kinds(df):
    """Split columns into float ones (range check) and string ones (in-set check)."""
    floats = [c for c in df.columns if is_float_dtype(df[c])]
    strings = [c for c in df.columns if is_string_dtype(df[c])]
    return floats, strings


def build_validation(df):
    floats, strings = column_kinds(df)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ds = ctx.data_sources.add_pandas("p")
    asset = ds.add_dataframe_asset("a")
    bd = asset.add_batch_definition_whole_dataframe("b")
    suite = gx.ExpectationSuite("s")
    for c in df.columns:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=c))
        if c in floats:
            suite.add_expectation(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=c, min_value=MIN_VALUE, max_value=MAX_VALUE
                )
            )
        elif c in strings:
            suite.add_expectation(
                gx.expectations.ExpectColumnValuesToBeInSet(column=c, value_set=VALUE_SET)
            )
    suite = ctx.suites.add(suite)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(data=bd, suite=suite, name="v"))
    return vd, len(suite.expectations)


def pandas_checks(df, floats, strings):
    return (
        all(df[c].notna().all() for c in df.columns)
        and all(df[c].between(MIN_VALUE, MAX_VALUE).all() for c in floats)
        and all(df[c].isin(VALUE_SET).all() for c in strings)
    )


def bench(df, repeats):
    vd, checks = build_validation(df)
    validate_s = float("inf")
    success = True
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = vd.run(batch_parameters={"dataframe": df})
        validate_s = min(validate_s, time.perf_counter() - t0)
        success = success and bool(res.success)

    floats, strings = column_kinds(df)
    pandas_s = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ok = pandas_checks(df, floats, strings)
        pandas_s = min(pandas_s, time.perf_counter() - t0)
    if ok != success:
        print(f"warning: pandas checks gave {ok}, Great Expectations {success}", file=sys.stderr)
    return {
        "gx_version": gx.__version__,
        "rows": len(df),
        "checks": checks,
        "validate_s": validate_s,
        "pandas_s": pandas_s,
        "success": success,
    }


def main(argv=None):
    args = parse_args(argv)
    if args.repeats <= 0:
        raise SystemExit("--repeats must be positive")
    warnings.filterwarnings("ignore")
    df = pd.read_parquet(args.parquet)
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
        result = bench(df, args.repeats)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
