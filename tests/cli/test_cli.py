"""The command line as a user types it: output, --json, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import setpoint as sp
from conftest import run_cli
from ports import free_port
from setpoint.cli.output import when
from setpoint.client import sdk


def test_a_usage_error_is_one_line_naming_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Click printed four lines (usage, a hint, a blank line, the error) for a missing
    argument, an unknown option or a value of the wrong type."""
    for args, said in [
        (["data", "add"], "error: Missing argument 'PATH' (see setpoint data add --help)"),
        (["runs", "list", "--nope"], "error: No such option '--nope'"),
        (["gc", "--min-age", "soon"], "'soon' is not a valid number (see setpoint gc --help)"),
        (["nosuch"], "error: No such command 'nosuch' (see setpoint --help)"),
    ]:
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, (args, err)
        assert said in err, (args, err)
    code, _, err = run_cli(capsys, "data")  # a bare group shows what it holds
    assert code == 2 and "Commands:" in err and "validate" in err


def test_data_validate_finds_custom_checks_in_the_current_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs' `function: checks.fraud:amounts_balance` with checks/fraud.py here: the
    command could not import it (the console script does not put the current folder on the
    path, as `python -m` and a script do)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cli_checks").mkdir()
    (tmp_path / "cli_checks" / "__init__.py").write_text("")
    (tmp_path / "cli_checks" / "fraud.py").write_text(
        "def positive(table):\n    return min(table.column('amount').to_pylist()) > 0\n"
    )
    (tmp_path / "tx.csv").write_text("amount\n1.5\n-2\n")
    (tmp_path / "s.yaml").write_text("suite: s\ncustom:\n  - function: cli_checks.fraud:positive\n")
    code, out, err = run_cli(capsys, "data", "validate", "./tx.csv", "--suite", "s.yaml", "--json")
    assert code == 1, err
    [check] = json.loads(out)["checks"]
    assert check["check"] == "custom" and check["passed"] is False


def test_control_characters_from_data_do_not_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A description, or a cell value, holding ESC sequences (set a window's title, clear the
    screen) was printed as it was by `data show` and `data profile`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("v\n\x1b[31mred\n")
    sneaky = "\x1b]0;pwned\x07\x1b[2Jdesc"
    code, _, err = run_cli(capsys, "data", "add", "x.csv", "--name", "esc", "-d", sneaky)
    assert code == 0, err
    for command in ("show", "profile"):
        code, out, err = run_cli(capsys, "data", command, "esc")
        assert code == 0 and "\x1b" not in out + err and "\x07" not in out, (command, out)
    code, out, _ = run_cli(capsys, "data", "show", "esc")
    assert "\\x1b]0;pwned\\x07\\x1b[2Jdesc" in out.replace("\n", "")
    code, out, _ = run_cli(capsys, "data", "profile", "esc")
    assert "\\x1b[31mred" in out


def test_setpoint_debug_shows_the_traceback_of_setpoints_own_errors(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.core.errors import RunNotFoundError

    code, _, err = run_cli(capsys, "runs", "show", "0123456789abcdef")
    assert code == 1 and err.startswith("error") and len(err.splitlines()) == 1
    monkeypatch.setenv("SETPOINT_DEBUG", "1")  # the docs: "for a traceback"
    with pytest.raises(RunNotFoundError):
        run_cli(capsys, "runs", "show", "0123456789abcdef")


def test_show_and_history_cope_with_tensors_far_times_and_missing_paths(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`models show` of a model with a numpy signature was "unexpected AttributeError",
    a far-future metric time (MLflow takes any int64) "year 3170843 is out of range", and
    `data validate ./missing.csv` complained of the name '.'."""
    from sklearn.linear_model import LogisticRegression

    from setpoint.cli.output import when

    x = np.random.default_rng(0).normal(size=(40, 3))
    fitted = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with sp.start_run(project="shapes") as run:
        run.log_model(fitted, "arr", input_example=x[:5])
    code, out, err = run_cli(capsys, "models", "show", "shapes/arr/1")
    assert code == 0 and "tensor float64" in out, err
    assert when(99_999_999_999_999_999) == "99999999999999999 ms since 1970"
    (tmp_path / "s.yaml").write_text("suite: s\n")
    missing = str(tmp_path / "missing.csv")
    code, _, err = run_cli(capsys, "data", "validate", missing, "--suite", str(tmp_path / "s.yaml"))
    assert code == 2 and f"{missing} does not exist" in err


def _two_runs() -> tuple[str, str]:
    with sp.start_run(project="fraud", name="a") as a:
        a.log_params({"depth": 4})
        a.log_metric("auc", 0.8)
    with sp.start_run(project="fraud", name="b") as b:
        b.log_params({"depth": 8})
        b.log_metric("auc", 0.9)
        b.log_bytes(b"w", "model/w.bin")
    return a.id, b.id


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from setpoint.cli.main import COMMANDS

    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for name in COMMANDS:
        assert name in out


def test_runs_list_show_compare_history(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _two_runs()
    code, out, _ = run_cli(capsys, "runs", "list", "--project", "fraud", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [r["id"] for r in listed["runs"]] == [b, a]
    code, out, _ = run_cli(
        capsys, "runs", "list", "-f", "metrics.auc > 0.85", "-o", "metrics.auc desc", "--json"
    )
    assert [r["id"] for r in json.loads(out)["runs"]] == [b]
    code, out, _ = run_cli(capsys, "runs", "show", b[:16], "--json")
    shown = json.loads(out)
    assert shown["run"]["params"] == {"depth": "8"}
    assert shown["artifacts"][0]["path"] == "model/w.bin"
    code, out, _ = run_cli(capsys, "runs", "show", b)
    assert code == 0 and "depth" in out and "model/w.bin" in out
    code, out, _ = run_cli(capsys, "runs", "compare", a, b)
    assert code == 0 and "params.depth" in out and "≠" in out
    # values that differ beyond the digits shown are still marked; equal ones are not
    close = []
    for value in (0.91234561, 0.91234564, 0.91234564):
        with sp.start_run(project="close") as run:
            run.log_metric("auc", value)
        close.append(run.id)
    code, out, _ = run_cli(capsys, "runs", "compare", close[0], close[1])
    assert "≠" in out
    code, out, _ = run_cli(capsys, "runs", "compare", close[1], close[2])
    assert "≠" not in out
    with sp.start_run(project="close") as run:
        run.log_metric("ratio", float("inf"))
    code, out, _ = run_cli(capsys, "runs", "list", "--project", "close", "--json")
    assert json.loads(out)["runs"][0]["metrics"]["ratio"] == "inf"  # not null
    code, out, _ = run_cli(capsys, "runs", "history", a, "auc", "--json")
    assert json.loads(out)["values"] == [0.8]
    code, out, _ = run_cli(capsys, "projects", "list", "--json")
    assert [p["name"] for p in json.loads(out)] == ["close", "fraud"]


def test_runs_and_projects_are_deleted_and_restored(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _two_runs()
    code, out, err = run_cli(capsys, "runs", "delete", b[:16])
    assert code == 0 and f"deleted run {b}" in out, err
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [a]
    code, out, _ = run_cli(capsys, "runs", "list", "--lifecycle", "deleted", "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [b]
    code, _, err = run_cli(capsys, "runs", "delete", b)
    assert code == 1 and "deleted already" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "runs", "restore", b[:16])
    assert code == 0 and f"restored run {b}" in out

    code, out, err = run_cli(capsys, "projects", "delete", "fraud")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "projects", "list", "--json")
    assert json.loads(out) == []
    code, out, _ = run_cli(capsys, "projects", "list", "--lifecycle", "deleted")
    assert "fraud" in out
    code, out, _ = run_cli(capsys, "projects", "restore", "fraud")
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert {r["id"] for r in json.loads(out)["runs"]} == {a, b}


def test_models_delete_a_version_or_a_model(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).random((40, 2))
    for c in (1.0, 0.5):
        with sp.start_run(project="fraud") as run:
            run.log_model(LogisticRegression(C=c).fit(x, x[:, 0] > 0.5), "scorer")
    sp.set_alias("scorer", "champion", 2, project="fraud")
    code, out, _ = run_cli(capsys, "models", "delete", "fraud/scorer/1")
    assert code == 0 and "deleted fraud/scorer/1" in out
    code, _, err = run_cli(capsys, "models", "delete", "scorer")
    assert code == 2 and "--yes" in err and "1 versions" in err
    code, _, err = run_cli(capsys, "models", "delete", "scorer", "--yes")
    assert code == 1 and "champion" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "models", "versions", "scorer", "--json")
    assert [v["version"] for v in json.loads(out)] == [2]
    # the alias is removed from the command line too (the error said "remove them first")
    code, out, _ = run_cli(capsys, "models", "alias", "fraud/scorer", "champion", "--remove")
    assert code == 0 and "fraud/scorer@champion: 2 → -" in out
    code, out, _ = run_cli(capsys, "models", "delete", "scorer", "-p", "fraud", "--yes")
    assert code == 0 and "deleted model fraud/scorer" in out
    code, out, _ = run_cli(capsys, "models", "list", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("runs", "list", "--filter", "metrics.auc >> 1"), "position 13"),
        (("runs", "show", "0" * 32), "does not exist"),
        (("runs", "show", "01a2"), "a prefix of a run id needs at least 6 characters"),
        (("data", "show", "nope@1"), "dataset default/nope does not exist"),
        (("runs", "list", "--project", "nope"), "project 'nope' does not exist"),
        (("runs", "list", "-n", "0"), "max_results"),
        (("tokens", "revoke", "ghost"), "no active token"),
    ],
)
def test_errors_are_one_readable_line(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], phrase: str
) -> None:
    code, _out, err = run_cli(capsys, *args)
    assert code == 1
    assert phrase in err
    assert "Traceback" not in err and err.startswith("error")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("serve", "m@champion", "--poll", "nan"), "'nan' is not a finite number"),
        (("serve", "m@champion", "--log-interval", "0"), "--log-interval"),
        (("serve", "m@champion", "--max-wait-ms", "-1"), "--max-wait-ms"),
        (("serve", "m@champion", "--max-body", "0"), "--max-body"),
        (("serve", "m@champion", "--workers", "0"), "--workers"),
        (("gc", "--min-age", "-1"), "-1.0 is not in the range 0<=x<=3153600000"),
        (("gc", "--min-age", "1e300"), "is not in the range 0<=x<=3153600000"),
        (("quickstart", "--epochs", "0"), "0 is not in the range 1<=x<=10000"),
        (("data", "diff", "d@1", "d@2", "--threshold", "inf"), "'inf' is not a finite number"),
        (("deploy", "docker", "m@champion", "--workers", "-1"), "--workers"),
    ],
)
def test_meaningless_numbers_are_refused_before_anything_runs(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], phrase: str
) -> None:
    code, _out, err = run_cli(capsys, *args)
    assert code == 2
    assert phrase in err and "Traceback" not in err


def test_a_policy_file_that_is_not_utf8_is_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"gates:\n  - metric: caf\xe9\n    min: 0.5\n")
    code, _out, err = run_cli(capsys, "models", "policy", "m", "--alias", "a", "--file", str(path))
    assert code == 1 and "policy.yaml is not UTF-8 text" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/setpoint_no_such_db",
            'database "setpoint_no_such_db"',
        ),
        ("postgresql://postgres:hunter2@[::1/x", "cannot use database URL"),
    ],
    ids=["no-such-database", "unparsable"],
)
def test_a_database_url_that_cannot_be_used_is_one_line_without_its_password(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    said: str,
    pg_database: str,
) -> None:
    monkeypatch.setenv("SETPOINT_DATABASE_URL", url)
    code, _out, err = run_cli(capsys, "runs", "list")
    assert code == 1 and said in err and "SETPOINT_DATABASE_URL" in err
    assert "unexpected" not in err and "hunter2" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://[::1", "SETPOINT_URL 'http://[::1' is not a URL"),
        ("ftp://host", "SETPOINT_URL must be http(s)://HOST[:PORT]"),
        ("http://127.0.0.1:99999", "is not a URL"),
    ],
)
def test_a_setpoint_url_that_is_no_server_url_is_one_line(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    said: str,
) -> None:
    monkeypatch.setenv("SETPOINT_URL", url)
    code, _out, err = run_cli(capsys, "runs", "list")
    assert code == 1 and said in err and "unexpected" not in err


def test_a_server_that_is_not_setpoint_is_named_as_such(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer without setpoint's error shape (another program on the port) printed its
    HTML page as the error."""
    import http.server
    import threading

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SETPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        code, _out, err = run_cli(capsys, "runs", "list")
    finally:
        server.shutdown()
    assert code == 1 and "without a setpoint error: is it a setpoint server" in err
    assert "<" not in err and len(err.strip().splitlines()) == 1


def test_a_store_that_cannot_be_used_is_named_in_one_line(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SETPOINT_HOME that is a file said "File exists"; an object store without
    credentials, and a missing file given to `data validate`, were misnamed or "unexpected"."""
    table = tmp_path / "ok.csv"
    table.write_text("a,b\n1,2\n")
    code, _out, err = run_cli(capsys, "data", "validate", "f/nope.csv", "--suite", "s.yaml")
    assert code == 2 and "f/nope.csv does not exist: no such file, and no dataset" in err
    monkeypatch.setenv("SETPOINT_HOME", str(table))
    sdk.use(None)
    code, _out, err = run_cli(capsys, "runs", "list")
    assert code == 1 and f"SETPOINT_HOME {table} is a file, not a folder" in err
    monkeypatch.setenv("SETPOINT_HOME", str(home))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("SETPOINT_ARTIFACTS_URL", "s3://no-such-bucket/x")
    sdk.use(None)  # the client made for the store before
    code, _out, err = run_cli(capsys, "data", "add", str(table), "--name", "a")
    assert code == 1 and "error (SETPOINT_ARTIFACTS_URL): the artifact store refused" in err
    assert "unexpected" not in err


def test_a_read_only_store_says_so(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing to a store whose database file cannot be written was an "unexpected
    OperationalError"."""
    run = sdk.client().create_run("ro")
    sdk.use(None)
    monkeypatch.setenv(
        "SETPOINT_DATABASE_URL", f"sqlite:///file:{home / 'setpoint.db'}?mode=ro&uri=true"
    )
    code, _out, err = run_cli(capsys, "runs", "delete", run.id)
    assert code == 1 and "is read-only" in err and "unexpected" not in err, err


def test_an_empty_policy_file_does_not_remove_the_gates(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Empty text removes a policy: an empty file (or stdin) silently took an alias's gates
    away, and --clear with --file ignored the file."""
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(40, 2))
    with sp.start_run(project="default") as run:
        run.log_model(LogisticRegression().fit(x, x[:, 0] > 0), "m")
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  - approvals: 1\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    policy = ("models", "policy", "m", "--alias", "champion")
    assert run_cli(capsys, *policy, "--clear")[1].strip() == (
        "no policy guards m@champion: nothing to clear"
    )
    assert run_cli(capsys, *policy, "--file", str(gates))[0] == 0
    code, _out, err = run_cli(capsys, *policy, "--file", str(empty))
    assert code == 1 and "empty.yaml is empty: give a policy with gates, or --clear" in err
    code, _out, err = run_cli(capsys, *policy, "--file", str(empty), "--clear")
    assert code == 2 and "not both" in err
    assert "approvals: 1" in run_cli(capsys, *policy)[1]  # the gates are still there
    assert "cleared the policy" in run_cli(capsys, *policy, "--clear")[1]
    assert "no policy guards m@champion" in run_cli(capsys, *policy)[1]


def test_gc_is_a_dry_run_until_asked(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from setpoint.client.local import LocalClient
    from setpoint.core.config import Settings

    _two_runs()
    local = LocalClient(Settings.from_env()).open()
    orphan, _ = local.blobs.put_bytes(b"nobody references me")
    code, out, _ = run_cli(capsys, "gc", "--min-age", "0", "--json")
    report = json.loads(out)
    assert report["unreferenced"] == [orphan] and report["deleted"] == 0
    assert local.blobs.exists(orphan)
    code, out, _ = run_cli(capsys, "gc", "--min-age", "3600")
    assert "would delete 0" in out  # young blobs are protected
    code, out, _ = run_cli(capsys, "gc", "--delete", "--min-age", "0")
    assert code == 0 and "deleted 1" in out
    assert not local.blobs.exists(orphan)
    assert len(list(local.blobs.iter_digests())) == 1  # the referenced one stays


def test_gc_says_how_many_metric_batch_ids_it_forgets(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = sdk.client()
    run = c.create_run("ids")
    for i in range(3):
        c.log_metrics(run.id, ["m"], [1.0], [i], [5], f"b{i}:0")
    c.end_run(run.id)
    time.sleep(0.002)
    code, out, _ = run_cli(capsys, "gc", "--min-age", "0")
    assert "would forget 3 metric batch ids of ended runs" in out
    assert "run `setpoint gc --delete`" in out
    code, out, _ = run_cli(capsys, "gc", "--delete", "--min-age", "0")
    assert code == 0 and "forgot 3 metric batch ids" in out


def test_db_status_and_upgrade(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "db", "upgrade")
    assert code == 0 and "upgraded" in out
    code, out, _ = run_cli(capsys, "db", "upgrade")
    assert "already at revision" in out
    code, out, _ = run_cli(capsys, "db", "status", "--json")
    assert json.loads(out)["up_to_date"] is True


def test_tokens_create_list_revoke(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "tokens", "create", "ci-bot")
    assert code == 0 and out.strip().startswith("spt_")
    code, out, _ = run_cli(capsys, "tokens", "list", "--json")
    assert json.loads(out)[0]["name"] == "ci-bot" and "spt_" not in out
    code, out, _ = run_cli(capsys, "tokens", "revoke", "ci-bot")
    assert code == 0


def _cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "setpoint", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_server_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    p = _cli(env, "server", "--host", "0.0.0.0", "--port", "1")
    assert p.returncode == 1
    assert "without tokens and roles" in p.stderr and "Traceback" not in p.stderr


def test_quickstart_then_runs_list_remotely(tmp_path: Path) -> None:
    """The README's path: quickstart on the embedded store, then the same runs over HTTP."""
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    p = _cli(env, "quickstart", "--epochs", "5", timeout=120)
    assert p.returncode == 0, p.stderr
    assert "best:" in p.stdout
    assert "quickstart/training-data@1 passes" in p.stdout
    assert "quickstart/incoming@1 (3200 rows): validation FAILED, 3 errors" in p.stdout
    assert "stopped: quickstart/incoming@1 is not used for training" in p.stdout
    assert "quickstart-model/2 (best) -> champion: passed every gate" in p.stdout
    assert "quickstart-model/3 (weakest) -> champion: REFUSED" in p.stdout
    assert "rollback champion: version 2 -> 1" in p.stdout
    assert "chain intact" in p.stdout
    assert "make_data ran, fit ran, validate_fit ran" in p.stdout
    assert "make_data cached, fit cached, validate_fit cached" in p.stdout
    # the closed loop: drift and decay in week 2, retraining on the alert, version 2 served
    assert "the alert ran retrain-on-alert -> version 2" in p.stdout
    assert "week 2, after retraining" in p.stdout
    assert "monitor report:" in p.stdout
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "setpoint", "server", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        assert "setpoint server on" in server.stderr.readline()
        remote_env = {**env, "SETPOINT_URL": f"http://127.0.0.1:{port}"}
        del remote_env["SETPOINT_HOME"]
        listed: Any = None
        for _ in range(50):
            p = _cli(remote_env, "runs", "list", "--project", "quickstart", "--json")
            if p.returncode == 0:
                listed = json.loads(p.stdout)
                break
        assert listed is not None, p.stderr
        # the sweep, its four children, the three runs that registered models, and two
        # pipeline runs of three steps each
        assert len(listed["runs"]) == 20  # the sweep, registry, pipeline and retraining runs
        p = _cli(remote_env, "data", "validations", "quickstart/incoming@1", "--json")
        assert p.returncode == 0, p.stderr
        assert [(r["passed"], r["errors"]) for r in json.loads(p.stdout)] == [(False, 3)]
        p = _cli(remote_env, "models", "history", "quickstart-model", "-p", "quickstart", "--json")
        assert p.returncode == 0, p.stderr
        moves = [(m["to_version"], m["action"]) for m in json.loads(p.stdout)]
        assert moves == [(1, "promote"), (2, "promote"), (1, "rollback")]
    finally:
        server.terminate()
        server.wait(timeout=10)
    again = _cli(env, "quickstart", "--epochs", "5", timeout=120)  # the same folder again
    assert again.returncode == 0, again.stderr
    assert "closed loop: shown already in this store" in again.stdout


def test_data_add_list_show(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    csv = tmp_path / "train.csv"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_csv(csv, index=False)
    code, out, _ = run_cli(capsys, "data", "add", str(csv), "--name", "train", "-p", "fraud")
    assert code == 0 and out.startswith("fraud/train@1: 3 rows, 2 columns")
    code, out, _ = run_cli(capsys, "data", "add", str(csv), "--name", "train", "-p", "fraud")
    assert out.startswith("unchanged: fraud/train@1")
    code, out, _ = run_cli(capsys, "data", "list", "--json")
    assert [(d["name"], d["latest_version"]) for d in json.loads(out)] == [("train", 1)]
    code, out, _ = run_cli(capsys, "data", "show", "fraud/train@1", "--json")
    assert json.loads(out)["schema"] == [
        {"name": "a", "type": "int64"},
        {"name": "b", "type": "string"},
    ]
    code, out, _ = run_cli(capsys, "data", "show", "fraud/train@1")
    assert code == 0 and "lineage" not in out  # no run used it yet
    with sp.start_run(project="fraud") as run:
        run.log_input("fraud/train@1")
    code, out, _ = run_cli(capsys, "data", "show", "fraud/train")
    [edge] = [r for r in out.splitlines() if "consumed" in r]
    assert f"run {run.id}" in edge and "this version" in edge
    code, out, _ = run_cli(capsys, "data", "versions", "train", "-p", "fraud")
    assert code == 0 and "train: 1 versions" in out
    # the PROJECT/NAME form other commands take (it read as a name in the default project)
    code, out, err = run_cli(capsys, "data", "versions", "fraud/train")
    assert code == 0 and "train: 1 versions" in out, err
    code, out, err = run_cli(capsys, "data", "versions", "fraud/train", "-p", "fraud")
    assert code == 0 and "train: 1 versions" in out, err
    code, _, err = run_cli(capsys, "data", "versions", "fraud/train@1")
    assert code == 2 and "names one version" in err
    code, _, err = run_cli(capsys, "data", "versions", "fraud/train", "-p", "other")
    assert code == 2 and "is in project fraud, not other" in err
    code, _, err = run_cli(capsys, "data", "add", str(tmp_path / "missing.csv"), "--name", "x")
    assert code == 1 and "does not exist" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "data", "show", "fraud/train@9")
    assert code == 1 and "no version 9" in err
    for bad in (
        ["--name", "bad name"],
        ["--name", "t", "-p", "bad proj"],
        ["--files", "-n", "a b"],
    ):
        code, _, err = run_cli(capsys, "data", "add", str(csv), *bad)
        assert code == 1 and "has characters outside" in err
    code, out, _ = run_cli(capsys, "gc", "--min-age", "0", "--json")
    assert json.loads(out)["unreferenced"] == []  # a refused add stored nothing


def test_tables_print_text_as_it_is(home: Path, tmp_path: Path, capsys: Any) -> None:
    import pandas as pd

    csv = tmp_path / "we[x]rd.csv"
    frame = pd.DataFrame({"[/x]": ["[red]hot[/red]"], "c": ["x[us, tz=Europe/Berlin]"]})
    frame.to_csv(csv, index=False)
    assert run_cli(capsys, "data", "add", str(csv), "--name", "odd")[0] == 0
    for command in ("show", "profile"):
        code, out, err = run_cli(capsys, "data", command, "odd@1")
        assert code == 0, err
        text = " ".join(out.split())
        assert "[/x]" in text and ("we[x]rd.csv" in text or "[red]hot[/red]" in text)


def test_data_profile_infer_validate_diff(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    good = pd.DataFrame({"amount": rng.gamma(2, 50, 500), "country": rng.choice(["DE", "FR"], 500)})
    good_csv, bad_csv = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.to_csv(good_csv, index=False)
    bad = good.copy()
    bad.loc[[3, 4], "amount"] = -1.0
    bad.to_csv(bad_csv, index=False)
    run_cli(capsys, "data", "add", str(good_csv), "--name", "tx", "-p", "fraud")

    html = tmp_path / "profile.html"
    code, out, _ = run_cli(capsys, "data", "profile", "fraud/tx@1", "--html", str(html))
    assert code == 0 and "amount" in out and "country" in out and "500 rows" in out
    assert "<svg" in html.read_text() and "https://" not in html.read_text()
    code, out, _ = run_cli(capsys, "data", "profile", "fraud/tx@1", "--json")
    assert json.loads(out)["num_rows"] == 500

    code, suite_text, _ = run_cli(capsys, "data", "infer-suite", "fraud/tx@1")
    assert code == 0 and "reference: fraud/tx@1" in suite_text
    suite = tmp_path / "tx.yaml"
    suite.write_text(suite_text)
    code, out, _ = run_cli(capsys, "data", "validate", "fraud/tx@1", "--suite", str(suite))
    assert code == 0 and "passed: 0 errors" in out
    # A file can be validated before it is versioned; failure exits 1 and says why.
    code, out, _ = run_cli(capsys, "data", "validate", str(bad_csv), "-s", str(suite), "--json")
    result = json.loads(out)
    assert code == 1 and not result["passed"]
    assert [(c["check"], c["failing"]) for c in result["checks"] if not c["passed"]] == [
        ("range", 2)
    ]
    run_cli(capsys, "data", "add", str(bad_csv), "--name", "tx", "-p", "fraud")
    code, out, _ = run_cli(capsys, "data", "validate", "fraud/tx@2", "-s", str(suite))
    assert code == 1 and "FAILED: 1 errors" in out
    code, out, _ = run_cli(capsys, "data", "validations", "fraud/tx@2", "--json")
    assert [(r["passed"], r["errors"]) for r in json.loads(out)] == [(False, 1)]

    code, out, _ = run_cli(capsys, "data", "diff", "fraud/tx@1", "fraud/tx@2", "--json")
    assert code == 0 and json.loads(out)["rows"] == {"from": 500, "to": 500}
    code, out, _ = run_cli(capsys, "data", "diff", "fraud/tx@1", "fraud/tx@2")
    assert code == 0 and "fraud/tx@1 → fraud/tx@2" in out

    suite.write_text("suite: tx\ncolumns:\n  amount:\n    range: {min: 0, maxx: 1}\n")
    code, _, err = run_cli(capsys, "data", "validate", "fraud/tx@1", "-s", str(suite))
    assert code == 2 and "line 4" in err and "maxx" in err  # not validated: 2, not 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

    # a bare name that is a dataset and a folder here: the folder's files were validated
    # (and nothing recorded) without a word
    suite.write_text(suite_text)
    os.environ["SETPOINT_PROJECT"] = "fraud"
    try:
        old_cwd = os.getcwd()
        os.chdir(tmp_path)
        (tmp_path / "tx").mkdir()
        bad.to_csv(tmp_path / "tx" / "part.csv", index=False)
        code, _, err = run_cli(capsys, "data", "validate", "tx", "-s", str(suite))
        assert code == 2 and "both a dataset and a path" in err and "tx@latest" in err
        code, out, _ = run_cli(capsys, "data", "validate", "./tx", "-s", str(suite), "--json")
        assert json.loads(out)["checks"]
        # a file by its bare name needs no store at all with --no-record
        (tmp_path / "bad.csv").write_bytes(bad_csv.read_bytes())
        suite.write_text("suite: plain\ncolumns:\n  amount: {range: {min: 0}}\n")  # no reference
        from setpoint.client import sdk

        os.environ["SETPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
        sdk.use(None)  # the next call makes its client from the environment
        try:
            code, out, err = run_cli(
                capsys, "data", "validate", "bad.csv", "-s", str(suite), "--no-record"
            )
        finally:
            del os.environ["SETPOINT_URL"]
            sdk.use(None)
        assert code == 1 and "FAILED: 1 errors" in out, err
    finally:
        os.chdir(old_cwd)
        del os.environ["SETPOINT_PROJECT"]


def test_data_add_files(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "weights.bin"
    blob.write_bytes(os.urandom(2048))
    code, out, _ = run_cli(capsys, "data", "add", str(blob), "--name", "weights")
    assert code == 0 and out.startswith("default/weights@1: 1 files, 2048 bytes")
    code, out, _ = run_cli(capsys, "data", "add", str(blob), "--name", "weights")
    assert out.startswith("unchanged: default/weights@1")
    code, out, _ = run_cli(capsys, "data", "show", "weights")
    assert code == 0 and "weights.bin" in out
    code, _, err = run_cli(capsys, "data", "profile", "weights")
    assert code == 1 and "holds files, not a table" in err


def test_data_add_copies_a_file_into_the_store_once_while_setpoint_loads(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from setpoint.client import stat_cache
    from setpoint.core.hashing import digest_bytes
    from setpoint.store.artifacts import blobs

    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    monkeypatch.setattr(blobs, "COPY_CHUNK", 5000)  # many chunks, none page-aligned
    copies: list[str] = []
    real_copy = blobs._copy_file_hashing

    def counted(path: str, tmp: str, **options: Any) -> tuple[str, int]:
        copies.append(threading.current_thread().name)
        return real_copy(path, tmp, **options)

    monkeypatch.setattr(blobs, "_copy_file_hashing", counted)
    data = os.urandom(200_003)
    (tmp_path / "weights.bin").write_bytes(data)

    code, out, _ = run_cli(capsys, "data", "add", str(tmp_path / "weights.bin"), "-n", "w")

    assert code == 0 and out.startswith("default/w@1: 1 files, 200003 bytes")
    assert copies == ["setpoint-store-ahead"]  # and not again by the SDK
    (entry,) = sp.get_dataset("w").files()
    assert entry.digest == digest_bytes(data)
    assert os.listdir(home / "artifacts" / "tmp") == []


def test_data_add_stores_the_file_itself_when_copying_ahead_failed(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from setpoint.client import stat_cache
    from setpoint.store.artifacts.blobs import BlobStore

    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    real_put = BlobStore.put_file

    def fails_ahead(self: BlobStore, path: str, **options: Any) -> tuple[str, int]:
        if threading.current_thread().name == "setpoint-store-ahead":
            raise OSError("disk hiccup")
        return real_put(self, path, **options)

    monkeypatch.setattr(BlobStore, "put_file", fails_ahead)
    (tmp_path / "weights.bin").write_bytes(b"w" * 10_000)

    code, out, _ = run_cli(capsys, "data", "add", str(tmp_path / "weights.bin"), "-n", "w")

    assert code == 0 and out.startswith("default/w@1: 1 files, 10000 bytes")
    assert sp.get_dataset("w").files()[0].size == 10_000


def test_gc_keeps_the_outputs_pipeline_steps_stored(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A step's JSON, numpy and pickled outputs are blobs named only by its run's output
    record: gc deleted them, so cached steps ran again and a compiled pipeline's later
    tasks failed on their inputs."""

    @sp.step
    def numbers(n: int) -> dict:
        return {"values": list(range(n))}

    @sp.step
    def array(n: int) -> np.ndarray:
        return np.arange(n)

    @sp.pipeline(project="gc")
    def flow(n: int = 5):
        numbers(n)
        array(n)

    sp.run_pipeline(flow)
    code, out, _ = run_cli(capsys, "gc", "--delete", "--min-age", "0", "--json")
    assert code == 0 and json.loads(out)["unreferenced"] == []
    again = sp.run_pipeline(flow)
    assert [s.status for s in again.steps] == ["cached", "cached"]
    assert again.value("numbers") == {"values": [0, 1, 2, 3, 4]}


def test_data_is_prepared_inside_the_store_and_gc_removes_what_a_kill_left(
    home: Path, capsys: pytest.CaptureFixture[str], prepare_calls: list[tuple[object, str]]
) -> None:
    """A `data add` killed mid-way left its Parquet work file in the system's temporary
    folder, where `setpoint gc` never looked (gigabytes for a large CSV)."""
    import pandas as pd

    sp.log_dataset(pd.DataFrame({"a": [1, 2]}), name="t", project="p")
    tmp = home / "artifacts" / "tmp"
    [(_, workdir)] = prepare_calls
    assert Path(workdir).parent == tmp and not Path(workdir).exists()
    left = tmp / "setpoint-ingest-killed"  # what a killed process leaves
    left.mkdir()
    (left / ".ingest-1.tmp").write_bytes(b"x" * 1000)
    old = time.time() - 7200
    for path in (left / ".ingest-1.tmp", left):
        os.utime(path, (old, old))
    code, out, _ = run_cli(capsys, "gc", "--delete")
    assert code == 0 and not left.exists(), out


def test_gc_verify_finds_a_blob_cut_short_and_adding_again_restores_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a power loss can leave without SETPOINT_ARTIFACTS_FSYNC: a stored blob whose
    bytes are short. Reading refuses it; `gc --verify` finds it; the data added again is
    whole again, through the stat cache's fast path too."""
    from setpoint.client import stat_cache
    from setpoint.core.errors import ArtifactCorruptedError

    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    data = os.urandom(50_000)
    (tmp_path / "weights.bin").write_bytes(data)
    assert run_cli(capsys, "data", "add", str(tmp_path / "weights.bin"), "-n", "w")[0] == 0
    (entry,) = sp.get_dataset("w").files()
    blob = home / "artifacts" / "blobs" / entry.digest[:2] / entry.digest[2:4] / entry.digest
    blob.write_bytes(data[:20_000])  # the kernel never wrote the rest
    with pytest.raises(ArtifactCorruptedError):
        sp.get_dataset("w").download(tmp_path / "out")

    code, out, _ = run_cli(capsys, "gc", "--verify", "--min-age", "0")
    assert code == 0 and f"blake3:{entry.digest}" in out and blob.exists()  # a dry run
    assert "gc --delete --verify" in out
    code, out, _ = run_cli(capsys, "gc", "--verify", "--delete", "--min-age", "0", "--json")
    assert code == 0 and json.loads(out)["corrupted"] == [entry.digest] and not blob.exists()

    code, out, _ = run_cli(capsys, "data", "add", str(tmp_path / "weights.bin"), "-n", "w")
    assert code == 0 and out.startswith("unchanged: default/w@1")
    assert blob.read_bytes() == data
    sp.get_dataset("w").download(tmp_path / "back")
    assert (tmp_path / "back" / "weights.bin").read_bytes() == data


def test_gc_verify_reports_its_progress_in_bytes(home: Path, tmp_path: Path) -> None:
    from setpoint.client import sdk

    for i, size in enumerate((30_000, 70_000)):
        (tmp_path / f"f{i}.bin").write_bytes(os.urandom(size))
        sp.log_dataset(str(tmp_path / f"f{i}.bin"), name=f"f{i}")
    on_disk = sum(
        f.stat().st_size for f in (home / "artifacts" / "blobs").rglob("*") if f.is_file()
    )
    calls: list[tuple[int, int]] = []
    report = sdk.client().gc(verify=True, progress=lambda done, total: calls.append((done, total)))
    assert report.corrupted == []
    assert len(calls) >= 2 and all(total == on_disk for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1][0] == on_disk


def test_re_adding_an_unchanged_file_answers_without_opening_the_store(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from setpoint.client import stat_cache
    from setpoint.client.local import LocalClient

    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(first, index=False)
    pd.DataFrame({"a": [4, 5, 6]}).to_csv(second, index=False)
    assert run_cli(capsys, "data", "add", str(first), "-n", "d")[1].startswith("default/d@1:")
    sdk.use(None)

    def refuse(self: LocalClient) -> LocalClient:
        raise AssertionError("the store was opened")

    raw = tmp_path / "weights.bin"
    raw.write_bytes(bytes(range(256)) * 100)
    assert run_cli(capsys, "data", "add", str(raw), "-n", "raw")[1].startswith("default/raw@1:")
    sdk.use(None)
    with monkeypatch.context() as m:
        m.setattr(LocalClient, "open", refuse)
        code, out, _ = run_cli(capsys, "data", "add", str(first), "-n", "d")
        assert code == 0 and out.startswith("unchanged: default/d@1 already holds this data")
        code, out, _ = run_cli(capsys, "data", "add", str(raw), "-n", "raw")
        assert code == 0 and out.startswith("unchanged: default/raw@1 already holds this data")
    # Another file became the latest version: the first file is new data again, the usual
    # way decides (and makes version 3), never the shortcut.
    assert run_cli(capsys, "data", "add", str(second), "-n", "d")[1].startswith("default/d@2:")
    sdk.use(None)
    code, out, _ = run_cli(capsys, "data", "add", str(first), "-n", "d")
    assert code == 0 and out.startswith("default/d@3:")


def test_re_adding_unchanged_data_still_checks_the_parents_given(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged file answered from the stat cache before its --parent was looked at: a
    parent that does not exist passed (exit 0), or failed, depending on the cache, and the
    parents and description given were dropped without a word."""
    import pandas as pd

    from setpoint.client import stat_cache

    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    raw, clean = tmp_path / "raw.csv", tmp_path / "clean.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(raw, index=False)
    pd.DataFrame({"a": [1, 2]}).to_csv(clean, index=False)
    run_cli(capsys, "data", "add", str(raw), "-n", "raw", "-p", "p")
    code, out, _ = run_cli(capsys, "data", "add", str(clean), "-n", "clean", "-p", "p")
    assert code == 0 and out.startswith("p/clean@1:")
    for bad in ("p/nope@1", "p/raw@0", "p/raw@7"):
        sdk.use(None)
        code, _, err = run_cli(
            capsys, "data", "add", str(clean), "-n", "clean", "-p", "p", "--parent", bad
        )
        assert code == 1 and "error (parents)" in err, (bad, err)
    sdk.use(None)
    code, out, _ = run_cli(
        capsys, "data", "add", str(clean), "-n", "clean", "-p", "p", "--parent", "p/raw@1"
    )
    assert code == 0 and out.startswith("unchanged: p/clean@1 already holds this data")
    assert "(its description and parents stay as recorded)" in out
    assert sdk.get_dataset("clean", project="p", version=1).parents == []


def test_the_store_peek_answers_none_when_unsure(tmp_path: Path) -> None:
    from setpoint.store.metadata.peek import latest_dataset_version, sqlite_path

    assert sqlite_path("postgresql://x/y") is None and sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("sqlite:////a/b.db") == "/a/b.db"
    assert latest_dataset_version(str(tmp_path / "missing.db"), "p", "d") is None
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    assert latest_dataset_version(str(junk), "p", "d") is None
    import sqlite3

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
    assert latest_dataset_version(str(old), "p", "d") is None


def test_models_commands_speak_plainly(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from setpoint.cli.quickstart import LinearClassifier

    frame = pd.DataFrame({"x0": [0.1, -0.2, 0.3]})
    sp.log_model(LinearClassifier([1.0], ["x0"]), "m", project="p", input_example=frame)
    code, out, err = run_cli(capsys, "models", "tag", "p/m/1", "model=linear", "intended_use=demo")
    assert code == 0 and "model=linear" in out and "intended_use=demo" in out
    code, out, err = run_cli(capsys, "models", "tag", "p/m/1", "no-equals-sign")
    assert code != 0 and "KEY=VALUE" in err
    code, out, err = run_cli(
        capsys, "models", "card", "p/m/1", "--html", str(tmp_path / "no" / "x.html")
    )
    assert code == 1 and "cannot write" in err and "Traceback" not in err
    code, out, err = run_cli(
        capsys, "models", "card", "p/m/1", "--html", str(tmp_path / "card.html")
    )
    assert code == 0 and out.startswith("# Model card: p/m/1") and (tmp_path / "card.html").exists()
    code, out, err = run_cli(capsys, "models", "promote", "p/m/1", "--to", "champion")
    assert code == 0 and "no gates guard this alias" in out
    code, out, err = run_cli(capsys, "models", "show", "p/m/7")
    assert code == 1 and err.startswith("error (version): model p/m has no version 7")


def test_the_peek_reads_a_store_whose_path_has_uri_characters(tmp_path: Path) -> None:
    from setpoint.client.local import LocalClient
    from setpoint.core.config import Settings
    from setpoint.store.metadata.peek import latest_dataset_version

    home = tmp_path / "a#b"  # '#' would end a file: URI's path
    client = LocalClient(Settings.from_env({"SETPOINT_HOME": str(home)})).open()
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"a": [1]}).to_parquet(buf, index=False)
    buf.seek(0)
    v = client.create_dataset_version("d", client.upload_blob(buf).digest, "p")
    client.close()
    assert latest_dataset_version(str(home / "setpoint.db"), "p", "d") == (1, v.digest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b"]  # nothing stray made


def test_profile_table_shows_no_distinct_count_where_there_is_none(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa

    table = pa.table({"tags": pa.array([[1], [2, 3]]), "none": pa.nulls(2), "n": [1, 1]})
    sp.log_dataset(table, name="t")
    code, out, _ = run_cli(capsys, "data", "profile", "t")
    rows = [r.split("│") for r in out.splitlines() if "│" in r]
    cells = {r[1].strip(): r[4].strip() for r in rows if r[1].strip()}  # not a wrapped line
    assert code == 0 and cells == {"tags": "", "none": "", "n": "1"}


def test_output_paths_that_cannot_be_written_are_one_line_and_leave_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    sp.log_dataset(pd.DataFrame({"a": [1.0, 2.0]}), name="t")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    for target in (str(tmp_path / "missing" / "p.html"), "out"):
        code, _, err = run_cli(capsys, "data", "profile", "t", "--html", target)
        assert code == 1 and f"cannot write {target}" in err and "unexpected" not in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["out"]  # no tmp file
    assert list((tmp_path / "out").iterdir()) == []
    code, _, _ = run_cli(capsys, "data", "profile", "t", "--html", "page.html")
    assert code == 0 and "<html" in (tmp_path / "page.html").read_text().lower()
    # as a shell's `>` writes it: what the umask leaves of 0666, a replaced file's own mode
    mask = os.umask(0o022)
    try:
        assert (tmp_path / "page.html").stat().st_mode & 0o777 == 0o666 & ~mask
        (tmp_path / "page.html").chmod(0o640)
        code, _, _ = run_cli(capsys, "data", "profile", "t", "--html", "page.html")
        assert code == 0 and (tmp_path / "page.html").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(mask)
    code, _, err = run_cli(capsys, "audit", "list", "--after", "9" * 30)
    assert code == 2 and "--after" in err and "unexpected" not in err  # named, not SQLite's


def test_a_number_parameter_beyond_json_is_named_for_what_it_is(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A whole number beyond 64 bits was "a int; literal parameters must be JSON values"."""
    file = tmp_path / "pl.py"
    file.write_text(
        "import setpoint as sp\n\n@sp.step\ndef s(n: int) -> dict:\n    return {'n': n}\n\n"
        "@sp.pipeline(project='pp')\ndef pipe(n: int = 1):\n    s(n)\n"
    )
    code, _out, err = run_cli(capsys, "pipeline", "run", f"{file}:pipe", "--param", f"n={2**70}")
    assert code == 1 and f"is {2**70}: a number parameter must be finite" in err


def test_monitor_add_refuses_an_on_alert_pipeline_its_runs_could_not_start(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every alert-triggered run failed: the schedule was added without parameters."""
    import pandas as pd

    pipe = tmp_path / "retrain.py"
    pipe.write_text(
        "import setpoint as sp\n\n@sp.step\ndef work(month: str, n: int) -> dict:\n"
        "    return {'month': month, 'n': n}\n\n"
        "@sp.pipeline(project='mon')\ndef retrain(month: str, n: int = 1):\n    work(month, n)\n"
    )
    ref = sp.log_dataset(pd.DataFrame({"x1": [1.0, 2.0, 3.0]}), "customers", project="mon").ref
    add = ["monitor", "add", "live", "--deployment", "churn", "--reference", ref, "-p", "mon"]
    add += ["--on-alert", f"retrain={pipe}:retrain"]
    code, out, err = run_cli(capsys, *add)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert "pipeline 'retrain' has no default for month: give --param month=VALUE" in err
    assert sdk.client().list_monitors("mon") == [] and sdk.client().list_schedules("mon") == []
    code, out, err = run_cli(capsys, *add, "--param", "month=latest", "--param", "n=2")
    assert code == 0 and "schedule retrain" in out, err
    [s] = sdk.client().list_schedules("mon")
    assert (s.alert, s.params) == ("live", {"month": "latest", "n": 2})


def test_schedule_list_shows_how_the_last_occurrence_went_and_the_next(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "last" was the newest occurrence's time, whether it ran, failed or was missed."""
    from setpoint.core.cron import parse_cron

    monkeypatch.setenv("COLUMNS", "300")  # no cell folded
    c = sdk.client()
    day = 24 * 3600 * 1000
    jan1 = 1_767_236_400_000  # 2026-01-01 03:00 UTC
    c.add_schedule("nightly", "p.py:retrain", "fraud", None, "0 3 * * *")
    assert c.claim_occurrence("nightly", "2026-01-01T03:00Z", jan1, "fraud", "missed", "a")
    assert c.claim_occurrence("nightly", "2026-01-02T03:00Z", jan1 + day, "fraud", "running")
    c.finish_occurrence("nightly", "2026-01-02T03:00Z", "succeeded", "fraud", "0123abcd", None)
    c.add_schedule("weekly", "p.py:retrain", "fraud", None, "0 3 * * 1")
    assert c.claim_occurrence("weekly", "2026-01-05T03:00Z", jan1 + 4 * day, "fraud")
    c.finish_occurrence("weekly", "2026-01-05T03:00Z", "failed", "fraud", None, "it broke")
    c.add_schedule("on-data", "p.py:retrain", "fraud", None, None, "fraud/tx")
    before = int(time.time() * 1000)
    code, out, err = run_cli(capsys, "schedule", "list", "-p", "fraud")
    after = int(time.time() * 1000)
    assert code == 0, err
    header, *rows = [ln for ln in out.splitlines() if "│" in ln or "┃" in ln]
    assert [h.strip() for h in header.strip("┃").split("┃")][-4:] == [
        "last (UTC)",
        "status",
        "run",
        "next (UTC)",
    ]
    cells = {r.split("│")[2].strip(): [x.strip() for x in r.split("│")[1:-1]] for r in rows}
    nexts = {when(parse_cron("0 3 * * *").next_after(t)) for t in (before, after)}
    assert cells["nightly"][-4:-1] == ["2026-01-02 03:00:00", "succeeded", "0123abcd"]
    assert cells["nightly"][-1] in nexts
    assert cells["weekly"][-4:-1] == ["2026-01-05 03:00:00", "failed", ""]
    assert cells["on-data"][-4:] == ["", "", "", ""]  # nothing yet, and no time it is due


def test_a_project_given_as_an_mlflow_experiment_name_says_where_it_is(
    home: Path, tmp_path: Path, capsys: Any
) -> None:
    from setpoint.core.names import experiment_project

    hint = f"an MLflow experiment of that name is project {experiment_project('My Experiment')!r}"
    code, out, err = run_cli(capsys, "runs", "list", "--project", "My Experiment")
    assert code == 1 and out == ""
    assert err.strip() == f"error (project): project 'My Experiment' does not exist; {hint}"
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    code, _, err = run_cli(capsys, "data", "add", str(csv), "-n", "t", "-p", "My Experiment")
    assert code == 1 and "has characters outside" in err and hint in err
    code, _, err = run_cli(capsys, "runs", "list", "--project", "nosuch")
    assert code == 1 and "MLflow" not in err  # a project name: nothing to add


def test_a_model_given_as_an_mlflow_registered_model_name_says_which_it_is(
    home: Path, capsys: Any
) -> None:
    from setpoint.core.names import registered_model

    kept = registered_model("Fraud Detector")
    for args in (
        ("models", "show", "Fraud Detector"),
        ("models", "show", "fraud/Fraud Detector@a"),
    ):
        code, out, err = run_cli(capsys, *args)
        assert code == 1 and out == ""
        assert err.strip().endswith(f"an MLflow registered model of that name is model {kept!r}")
    code, _, err = run_cli(capsys, "models", "show", "fraud/nosuch")
    assert code == 1 and "MLflow" not in err  # a model name: nothing to add


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_error_that_follows_an_interruption_ends_the_command_as_interrupted(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
    signum: int,
) -> None:
    """SIGTERM landing in a lazy import left the library half-imported; the code cleaning
    up then failed on it, and `data add` said "unexpected AttributeError: module 'pandas'
    has no attribute 'util'" (exit 1) instead of "aborted" (exit 143)."""
    from setpoint.cli import data as data_cli

    def half_imported(*_args: Any, **_kwargs: Any) -> None:
        try:
            os.kill(os.getpid(), signum)
            time.sleep(10)
        except KeyboardInterrupt:  # as a library's import, cut short, leaves it
            pass
        raise AttributeError("module 'pandas' has no attribute 'util'")

    monkeypatch.setattr(data_cli, "_unchanged", half_imported)
    (tmp_path / "f.bin").write_bytes(b"x")
    code, _out, err = run_cli(capsys, "data", "add", str(tmp_path / "f.bin"), "--name", "f")
    assert (code, err) == (143 if signum == signal.SIGTERM else 130, "aborted\n"), err
    # a command after it is not taken for interrupted, on another thread or this one
    import threading

    from setpoint.cli.main import main

    codes: list[Any] = []

    def other() -> None:
        try:
            main(["data", "versions", "nosuch"])
        except SystemExit as exc:
            codes.append(exc.code)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert codes == [1] and "does not exist" in capsys.readouterr().err
    code, _out, err = run_cli(capsys, "data", "list")
    assert code == 0, err
