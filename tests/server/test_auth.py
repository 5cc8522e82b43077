"""``setpoint server --auth``: users, roles per project, tokens; every operation checked."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from conftest import run_cli
from setpoint.client.local import LocalClient
from setpoint.client.models import log_model
from setpoint.client.remote import RemoteClient
from setpoint.core.config import Settings
from setpoint.core.errors import AuthenticationError, ConflictError, PermissionDeniedError


@pytest.fixture
def local(sqlite_settings: Settings) -> Any:
    c = LocalClient(sqlite_settings).open()
    yield c
    c.close()


def _people(local: LocalClient) -> dict[str, str]:
    """A token per person: viewer, editor, approver and admin in project fraud."""
    secrets = {}
    for role in ("viewer", "editor", "approver", "admin"):
        local.users.create(role)
        local.users.grant(role, "fraud", role)
        secrets[role] = local.tokens.create(f"{role}-laptop", role)
    return secrets


def _model_version(remote: RemoteClient) -> Any:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    model = LogisticRegression().fit(x, (x.a > 0).astype(int))
    return log_model(remote, model, "fraud-detector", "fraud", input_example=x[:5])


def test_each_role_may_do_what_its_role_allows(local: LocalClient, serve: Any) -> None:
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    as_ = {role: RemoteClient(server.url, s) for role, s in secrets.items()}
    mv = _model_version(as_["editor"])
    assert mv.creator == "editor"  # the token's user, whatever the client says
    # a viewer reads but changes nothing
    assert as_["viewer"].get_model_version("fraud-detector", 1, "fraud").version == 1
    with pytest.raises(PermissionDeniedError, match="viewer needs the editor role"):
        as_["viewer"].promote("fraud-detector", 1, "champion", "fraud")
    with pytest.raises(PermissionDeniedError):
        as_["viewer"].create_run("fraud")
    with pytest.raises(PermissionDeniedError, match="approver role"):
        as_["editor"].approve("fraud-detector", 1, "champion", "fraud")
    as_["approver"].approve("fraud-detector", 1, "champion", "fraud", "looked at it")
    # changing the gates and forcing past them are admin matters
    policy = "gates:\n  - approvals: 2\n"
    with pytest.raises(PermissionDeniedError, match="admin role"):
        as_["approver"].set_policy("fraud-detector", "champion", policy, "fraud")
    as_["admin"].set_policy("fraud-detector", "champion", policy, "fraud")
    refused = as_["editor"].promote("fraud-detector", 1, "champion", "fraud")
    assert not refused.moved and refused.gates[0]["observed"] == 1
    with pytest.raises(PermissionDeniedError, match="admin role"):
        as_["editor"].promote("fraud-detector", 1, "champion", "fraud", force=True)
    # a guarded alias cannot be moved around its gates by an editor
    with pytest.raises(PermissionDeniedError, match="admin role"):
        as_["editor"].set_alias("fraud-detector", "champion", 1, "fraud")
    as_["editor"].set_alias("fraud-detector", "challenger", 1, "fraud")  # unguarded: fine
    forced = as_["admin"].promote("fraud-detector", 1, "champion", "fraud", force=True)
    assert forced.moved and forced.forced and forced.actor == "admin"
    moves = local.alias_history("fraud-detector", "fraud", "champion")
    assert [(m.actor, m.forced) for m in moves] == [("admin", True)]
    events = local.list_audit_events(project="fraud", action="model_version.approve")
    assert [e.actor for e in events] == ["approver"]


def test_nobody_approves_a_version_they_registered(local: LocalClient, serve: Any) -> None:
    """An approvals gate is a second person's look: an admin (who may approve) registered
    a version and approved it, and the gate counted it."""
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    admin = RemoteClient(server.url, secrets["admin"])
    approver = RemoteClient(server.url, secrets["approver"])
    mv = _model_version(admin)
    with pytest.raises(PermissionDeniedError, match="another approver") as refused:
        admin.approve("fraud-detector", mv.version, "champion", "fraud")
    assert refused.value.field == "actor"
    assert local.list_approvals("fraud-detector", mv.version, "fraud") == []
    approver.approve("fraud-detector", mv.version, "champion", "fraud")
    assert [a.actor for a in local.list_approvals("fraud-detector", mv.version, "fraud")] == [
        "approver"
    ]


def test_mlflow_stages_of_a_gated_model_are_an_admin_matter(local: LocalClient, serve: Any) -> None:
    """An editor moved a version to MLflow's Production stage (a tag), which
    models:/name/Production resolves to, around the gates guarding the model's aliases."""
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    editor = RemoteClient(server.url, secrets["editor"])
    mv = _model_version(editor)
    url = f"{server.url}/api/2.0/mlflow/model-versions/transition-stage"
    body = {"name": "fraud-detector", "version": str(mv.version), "stage": "Staging"}

    def move(role: str, stage: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {secrets[role]}"}
        return httpx.post(url, json={**body, "stage": stage}, headers=auth)

    assert move("editor", "Staging").status_code == 200  # no gates: an editor's move
    RemoteClient(server.url, secrets["admin"]).set_policy(
        "fraud-detector", "champion", "gates:\n  - approvals: 1\n", "fraud"
    )
    refused = move("editor", "Production")
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert "admin" in refused.json()["message"]
    assert (
        local.get_model_version("fraud-detector", mv.version, "fraud").tags.get("mlflow.stage")
        == "Staging"
    )
    assert move("admin", "Production").status_code == 200


def test_roles_are_per_project(local: LocalClient, serve: Any) -> None:
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    admin = RemoteClient(server.url, secrets["admin"])
    with pytest.raises(PermissionDeniedError, match="project 'other'"):
        admin.create_run("other")
    with pytest.raises(PermissionDeniedError, match="every project"):
        admin.list_models()  # all projects need a '*' grant
    assert admin.list_models("fraud") == []
    local.users.grant("viewer", "*", "viewer")
    viewer = RemoteClient(serve(local, enforce_roles=True).url, secrets["viewer"])
    assert viewer.list_models() == []


def test_tokens_revoked_disabled_or_without_a_user_are_refused(
    local: LocalClient, serve: Any
) -> None:
    secrets = _people(local)
    orphan = local.tokens.create("ci-bot")  # made without a user
    server = serve(local, enforce_roles=True)
    assert httpx.get(f"{server.url}/api/v1/models?project=fraud").status_code == 401
    r = httpx.get(
        f"{server.url}/api/v1/models?project=fraud",
        headers={"Authorization": f"Bearer {secrets['viewer']}"},
    )
    assert r.status_code == 200
    r = httpx.get(
        f"{server.url}/api/v1/models?project=fraud", headers={"Authorization": f"Bearer {orphan}"}
    )
    assert r.status_code == 403 and "acts for no user" in r.json()["error"]["message"]
    local.tokens.revoke("viewer-laptop")
    local.users.disable("editor")
    fresh = serve(local, enforce_roles=True)  # no cached verdicts
    for role in ("viewer", "editor"):
        with pytest.raises(AuthenticationError, match="revoked, or its user is disabled"):
            RemoteClient(fresh.url, secrets[role]).list_models("fraud")
    assert RemoteClient(fresh.url, secrets["admin"]).list_models("fraud") == []
    # a disabled user gets no new token that would only ever be refused
    with pytest.raises(ConflictError, match="user 'editor' is disabled") as e:
        local.tokens.create("editor-desktop", "editor")
    assert e.value.field == "user"
    assert "editor-desktop" not in [t.name for t in local.tokens.list()]


def test_run_scoped_operations_check_the_runs_project(local: LocalClient, serve: Any) -> None:
    secrets = _people(local)
    local.users.create("outsider")
    local.users.grant("outsider", "elsewhere", "admin")
    outsider = local.tokens.create("outsider-laptop", "outsider")
    server = serve(local, enforce_roles=True)
    run = RemoteClient(server.url, secrets["editor"]).create_run("fraud")
    with pytest.raises(PermissionDeniedError, match="project 'fraud'"):
        RemoteClient(server.url, outsider).log_params(run.id, {"a": 1})
    with pytest.raises(PermissionDeniedError):
        RemoteClient(server.url, outsider).get_run(run.id)
    assert RemoteClient(server.url, secrets["viewer"]).get_run(run.id).id == run.id


def test_a_cache_lookup_reads_only_projects_the_caller_may_read(
    local: LocalClient, serve: Any
) -> None:
    secrets = _people(local)
    run = local.create_run("secret", "x", {"cache_key": "k", "cache": "miss"})
    local.end_run(run.id, "finished")
    server = serve(local, enforce_roles=True)
    viewer = RemoteClient(server.url, secrets["viewer"])
    with pytest.raises(PermissionDeniedError, match="project 'secret'"):
        viewer.tagged_runs("secret", {"cache_key": "k"})
    assert viewer.tagged_runs("fraud", {"cache_key": "k"}) == []


def test_users_and_grants_are_audited(local: LocalClient) -> None:
    local.users.create("alice", "root")
    local.users.grant("alice", "fraud", "approver", "root")
    local.users.grant("alice", "fraud", "admin", "root")
    local.tokens.create("alice-laptop", "alice", "root")
    events = local.list_audit_events(subject_kind="user")
    assert [(e.action, e.after) for e in events][1:] == [
        ("user.grant", {"project": "fraud", "role": "approver"}),
        ("user.grant", {"project": "fraud", "role": "admin"}),
    ]
    assert events[2].before == {"project": "fraud", "role": "approver"}
    assert local.list_audit_events(subject_kind="token")[0].after == {"user": "alice"}
    assert local.users.role("alice", "fraud") == "admin"
    assert local.users.role("alice", "other") is None


def test_references_into_other_projects_need_a_role_there(local: LocalClient, serve: Any) -> None:
    import io

    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    editor = RemoteClient(server.url, secrets["editor"])
    viewer = RemoteClient(server.url, secrets["viewer"])
    _model_version(editor)
    assert viewer.search_runs(["fraud"]).runs == []  # a viewer searches (a POST that reads)
    secret_run = local.create_run("secret")
    with pytest.raises(PermissionDeniedError, match="project 'secret'"):
        editor.create_run("fraud", parent_id=secret_run.id)
    buf = io.BytesIO()
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(buf, index=False)
    buf.seek(0)
    hidden = local.create_dataset_version("holdout", local.upload_blob(buf).digest, "secret")
    with pytest.raises(PermissionDeniedError, match="project 'secret'"):
        editor.record_evaluation(
            "fraud-detector", 1, hidden.ref, "a", "regression", {"mae": 0.0}, None, "fraud"
        )


def test_deleting_needs_its_role_and_is_audited_under_the_user(
    local: LocalClient, serve: Any
) -> None:
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    as_ = {role: RemoteClient(server.url, s) for role, s in secrets.items()}
    run = as_["editor"].create_run("fraud")
    with pytest.raises(PermissionDeniedError, match="editor role"):
        as_["viewer"].delete_run(run.id)
    as_["editor"].delete_run(run.id)
    as_["editor"].restore_run(run.id)
    mv = _model_version(as_["editor"])
    with pytest.raises(PermissionDeniedError, match="approver role"):
        as_["editor"].delete_model_version(mv.name, mv.version, "fraud")
    as_["approver"].delete_model_version(mv.name, mv.version, "fraud")
    with pytest.raises(PermissionDeniedError, match="admin role"):
        as_["approver"].delete_project("fraud")
    secret = local.create_run("secret")  # another project: no role there
    with pytest.raises(PermissionDeniedError, match="project 'secret'"):
        as_["editor"].log_inputs(run.id, [], consumed_runs=[secret.id])
    with pytest.raises(PermissionDeniedError):
        as_["editor"].get_project("secret")  # tags are read with a role in the project
    assert "secret" in [p.name for p in as_["editor"].list_projects()]  # names are not secret
    as_["admin"].delete_project("fraud")
    events = local.list_audit_events(project="fraud", limit=1000)
    actors = {e.action: e.actor for e in events}
    assert (actors["run.delete"], actors["model_version.delete"], actors["project.delete"]) == (
        "editor",
        "approver",
        "admin",
    )


def test_nothing_of_an_unauthenticated_request_is_parsed(local: LocalClient, serve: Any) -> None:
    _people(local)
    server = serve(local, enforce_roles=True)
    r = httpx.post(f"{server.url}/api/v1/runs", content=b"{not json")
    assert r.status_code == 401
    r = httpx.post(f"{server.url}/api/v1/runs", json={"bogus": 1})
    assert r.status_code == 401 and "bogus" not in r.text


def test_blobs_are_read_through_a_project_and_written_by_editors(
    local: LocalClient, serve: Any, tmp_path: Any
) -> None:
    import io

    secrets = _people(local)
    local.users.create("outsider")
    local.users.grant("outsider", "elsewhere", "admin")
    outsider = RemoteClient(
        serve(local, enforce_roles=True).url, local.tokens.create("o", "outsider")
    )
    server = serve(local, enforce_roles=True)
    mv = _model_version(RemoteClient(server.url, secrets["editor"]))
    files = local.list_model_files(mv.name, mv.version, "fraud")
    viewer = RemoteClient(server.url, secrets["viewer"])
    assert viewer.download_blob(files[0].digest, tmp_path / "ok")
    with pytest.raises(PermissionDeniedError, match="through a project"):
        outsider.download_blob(files[0].digest, tmp_path / "no")
    with pytest.raises(PermissionDeniedError, match="editor role in some project"):
        viewer.upload_blob(io.BytesIO(b"bytes"))
    assert outsider.upload_blob(io.BytesIO(b"bytes")).size == 5  # an admin elsewhere


def test_naming_a_digest_does_not_hand_over_its_blob(
    local: LocalClient, serve: Any, tmp_path: Any
) -> None:
    """Reading a blob needs a role in a project that holds it; an outsider who knew a
    digest (from an audit event, a version's JSON) registered it, or a manifest listing it,
    in a project of their own, which then held it, and downloaded the bytes."""
    import io

    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    from setpoint.core.types import BlobRef
    from setpoint.tracking.artifacts import IMPORTED_WITHOUT_FILES

    secrets = _people(local)
    local.users.create("outsider")
    local.users.grant("outsider", "elsewhere", "admin")
    server = serve(local, enforce_roles=True)
    outsider = RemoteClient(server.url, local.tokens.create("o", "outsider"))
    mv = _model_version(RemoteClient(server.url, secrets["editor"]))
    secret = local.list_model_files(mv.name, mv.version, "fraud")[0]
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), table)
    theirs = local.upload_file(table)
    local.create_dataset_version("private", theirs.digest, "fraud")
    manifest = orjson.dumps(
        {"files": [{"path": "model.pkl", "digest": secret.digest, "size": secret.size}]}
    )
    crafted = outsider.upload_blob(io.BytesIO(manifest))
    own_run = outsider.create_run("elsewhere")
    without = outsider.import_run(
        "elsewhere", "i", "finished", 0, 1, tags={IMPORTED_WITHOUT_FILES: "not read"}
    )
    attempts = {
        "dataset": lambda: outsider.create_dataset_version("stolen", theirs.digest, "elsewhere"),
        "model": lambda: outsider.register_model_version("stolen", mv.digest, "elsewhere"),
        "manifest": lambda: outsider.register_model_version("stolen", crafted.digest, "elsewhere"),
        "log": lambda: outsider.record_prediction_log(
            "d", "predictions", "2026-11-24", theirs.digest, 3, 0, 1, "elsewhere"
        ),
        "run": lambda: outsider.import_run(
            "elsewhere", "r", "finished", 0, 1, artifacts={"t": BlobRef(**vars(theirs))}
        ),
        "artifacts": lambda: outsider.log_artifacts(
            own_run.id, {"t.parquet": BlobRef(**vars(theirs))}
        ),
        "imported": lambda: outsider.log_imported_artifacts(
            without.id, {"t.parquet": BlobRef(**vars(theirs))}
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(PermissionDeniedError, match="may not refer to blob") as refused:
            attempt()
        assert refused.value.field == "digest", what
    with pytest.raises(PermissionDeniedError, match="through a project"):
        outsider.download_blob(theirs.digest, tmp_path / "no")
    # bytes of their own are theirs to register, also when another project holds the same
    own = tmp_path / "own.parquet"
    pq.write_table(pa.table({"y": [1.0]}), own)
    version = outsider.create_dataset_version("own", outsider.upload_file(own).digest, "elsewhere")
    assert version.num_rows == 1
    assert outsider.upload_file(table).digest == theirs.digest
    assert outsider.create_dataset_version("same", theirs.digest, "elsewhere").num_rows == 3
    # and a viewer of the holding project may refer to what they can read
    local.users.grant("outsider", "fraud", "viewer")
    outsider = RemoteClient(
        serve(local, enforce_roles=True).url, local.tokens.create("o2", "outsider")
    )
    assert outsider.register_model_version("copy", mv.digest, "elsewhere").version == 1


def test_a_stage_given_at_registration_is_an_admin_matter_for_a_gated_model(
    local: LocalClient, serve: Any
) -> None:
    """Moving MLflow's stage tag needed the admin role for a gated model, but registering a
    new version of it with the stage tag set did not."""
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    editor = RemoteClient(server.url, secrets["editor"])
    mv = _model_version(editor)
    RemoteClient(server.url, secrets["admin"]).set_policy(
        "fraud-detector", "champion", "gates:\n  - approvals: 1\n", "fraud"
    )
    with pytest.raises(PermissionDeniedError, match="admin role"):
        editor.register_model_version(
            "fraud-detector", mv.digest, "fraud", tags={"mlflow.stage": "Production"}
        )
    assert editor.register_model_version("fraud-detector", mv.digest, "fraud").version == 2


def test_a_monitor_reads_its_reference_only_with_a_role_in_its_project(
    local: LocalClient, serve: Any, tmp_path: Any
) -> None:
    from setpoint.client.datasets import log_dataset

    local.users.create("outsider")
    local.users.grant("outsider", "elsewhere", "admin")
    server = serve(local, enforce_roles=True)
    outsider = RemoteClient(server.url, local.tokens.create("o", "outsider"))
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    log_dataset(local, frame, "train", "fraud", "", None, str(tmp_path / "cache"))
    with pytest.raises(PermissionDeniedError, match="project 'fraud'"):
        outsider.add_monitor(
            "spy", "dep", "fraud/train@1", {"window_rows": 100}, project="elsewhere"
        )
    assert local.list_monitors("elsewhere") == []


def test_an_approval_racing_its_own_registration_is_refused(
    local: LocalClient, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role check let an approval of a version not found yet through: an approver
    posted it while registering that version themself, and their own approval counted. Here
    the registration commits between the check and the approval, every time."""
    secrets = _people(local)
    server = serve(local, enforce_roles=True)
    mv = _model_version(RemoteClient(server.url, secrets["editor"]))
    approve = local.registry.approve

    def registered_meanwhile(*args: Any, **kwargs: Any) -> Any:
        local.register_model_version(mv.name, mv.digest, "fraud", actor="approver")
        return approve(*args, **kwargs)

    monkeypatch.setattr(local.registry, "approve", registered_meanwhile)
    r = httpx.post(
        f"{server.url}/api/v1/models/fraud-detector/versions/2/approvals",
        json={"alias": "champion", "project": "fraud"},
        headers={"Authorization": f"Bearer {secrets['approver']}"},
    )
    assert r.status_code == 404, r.text  # no such version when the call was checked
    versions = local.list_model_versions("fraud-detector", "fraud")
    assert all(local.list_approvals(v.name, v.version, "fraud") == [] for v in versions)


def test_basic_credentials_that_are_not_ascii_are_refused_as_malformed(
    local: LocalClient, serve: Any
) -> None:
    """Basic credentials of non-ASCII text failed to decode past the check: a 500."""
    _people(local)
    server = serve(local, enforce_roles=True)
    bad = {"Authorization": b"Basic \xe9"}
    r = httpx.get(f"{server.url}/api/v1/projects", headers=bad)
    assert r.status_code == 401 and "malformed Basic credentials" in r.json()["error"]["message"]
    r = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/search", json={}, headers=bad)
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
    assert "malformed Basic credentials" in r.json()["message"]


def test_mlflow_model_names_without_versions_are_an_editors_matter(
    local: LocalClient, serve: Any
) -> None:
    """A registered model made with no version is a reserved name: anyone with a token (no
    role, a viewer) added such names or deleted another's, and a caller with no token learnt
    which names were held (400 against 401). To one who may not see it, it is no registered
    model (404, as a name never made)."""
    secrets = _people(local)
    local.users.create("nobody")
    nobody = local.tokens.create("nobody-laptop", "nobody")
    server = serve(local, enforce_roles=True)
    api = f"{server.url}/api/2.0/mlflow/registered-models"

    def as_(secret: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    with httpx.Client() as http:
        for secret in (nobody, secrets["viewer"]):
            r = http.post(f"{api}/create", json={"name": "plan"}, headers=as_(secret))
            assert r.status_code == 403 and "editor role" in r.json()["message"], r.text
        r = http.post(f"{api}/create", json={"name": "plan"}, headers=as_(secrets["editor"]))
        assert r.status_code == 200
        for name in ("plan", "other"):  # held or not: the same answer without a token
            r = http.post(f"{api}/create", json={"name": name})
            assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
        for secret in (nobody, secrets["viewer"]):
            r = http.request("DELETE", f"{api}/delete", json={"name": "plan"}, headers=as_(secret))
            assert r.status_code == 404, r.text
        r = http.get(f"{api}/get", params={"name": "plan"}, headers=as_(secrets["editor"]))
        assert r.status_code == 200 and r.json()["registered_model"]["name"] == "plan"
        r = http.post(
            f"{api}/create", json={"name": "elsewhere/plan"}, headers=as_(secrets["editor"])
        )
        assert r.status_code == 403 and "project 'elsewhere'" in r.json()["message"]
        r = http.request(
            "DELETE", f"{api}/delete", json={"name": "plan"}, headers=as_(secrets["editor"])
        )
        assert r.status_code == 200
        r = http.post(f"{api}/create", json={"name": "plan"}, headers=as_(secrets["editor"]))
        assert r.status_code == 200


def test_the_mlflow_api_authenticates_before_it_reads_a_request(
    local: LocalClient, serve: Any
) -> None:
    """MLflow's calls parsed and checked the body, and the artifact proxy the path, before
    looking at the token: a caller without one got 400 naming what was wrong."""
    _people(local)
    server = serve(local, enforce_roles=True)
    mlflow = f"{server.url}/api/2.0/mlflow"
    artifacts = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"
    with httpx.Client() as http:
        for r in (
            http.post(f"{mlflow}/runs/create", content=b"{not json"),
            http.post(f"{mlflow}/runs/create", json={"experiment_id": ["bogus"]}),
            http.get(artifacts, params={"path": "../elsewhere"}),
            http.get(f"{artifacts}/not-a-run-path"),
            http.put(f"{artifacts}/fraud/x/artifacts/../../y", content=b"bytes"),
        ):
            assert r.status_code == 401, (r.request.url, r.text)
            assert r.json()["error_code"] == "UNAUTHENTICATED" and "bogus" not in r.text


def test_asking_for_a_blob_or_verifying_the_audit_trail_needs_a_role(
    local: LocalClient,
    serve: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whether the store holds a blob, and the audit chain over every project, were
    answered to any token, with no role anywhere."""
    from setpoint.client import sdk
    from setpoint.client.datasets import log_dataset

    secrets = _people(local)
    local.users.create("nobody")
    nobody = RemoteClient(
        serve(local, enforce_roles=True).url, local.tokens.create("nobody-laptop", "nobody")
    )
    server = serve(local, enforce_roles=True)
    as_ = {role: RemoteClient(server.url, s) for role, s in secrets.items()}
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    # the SDK asks whether the files it sent before are still held: an editor may
    for _ in range(2):
        v = log_dataset(
            as_["editor"], str(folder), "images", "fraud", "", None, str(tmp_path / "c")
        )
    assert v.version == 1
    digest = local.list_dataset_files("images", 1, "fraud")[0].digest
    assert as_["editor"].has_blob(digest) is True
    for who in (nobody, as_["viewer"]):
        with pytest.raises(PermissionDeniedError, match="editor role in some project"):
            who.has_blob(digest)
    # the chain spans every project: a viewer of every project ('*') verifies it
    for who in (nobody, as_["admin"]):
        with pytest.raises(PermissionDeniedError, match="every project"):
            who.verify_audit()
    local.users.create("auditor")
    local.users.grant("auditor", "*", "viewer")
    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("SETPOINT_URL", server.url)
    monkeypatch.setenv("SETPOINT_TOKEN", local.tokens.create("auditor-laptop", "auditor"))
    sdk.use(None)
    try:
        code, out, _ = run_cli(capsys, "audit", "verify")
    finally:
        sdk.use(None)
    assert code == 0 and out.startswith("ok:")


def test_reserved_model_names_are_an_editors_matter(local: LocalClient, serve: Any) -> None:
    """A name reserved before its first version belongs to no project yet: an editor in some
    project (in its own, for project/name) may see and change it, a viewer neither."""
    secrets = _people(local)
    local.create_project("other")
    server = serve(local, enforce_roles=True)
    editor = RemoteClient(server.url, secrets["editor"])
    viewer = RemoteClient(server.url, secrets["viewer"])
    assert editor.reserve_model("early", tags={"k": "v"}).tags == {"k": "v"}
    with pytest.raises(PermissionDeniedError, match="other"):
        editor.reserve_model("other/early")  # an editor in fraud only
    for call in (
        lambda: viewer.reserve_model("mine"),
        viewer.list_model_reservations,
        lambda: viewer.get_model_reservation("early"),
        lambda: viewer.update_model_reservation("early", description="x"),
        lambda: viewer.release_model_reservation("early"),
    ):
        with pytest.raises(PermissionDeniedError, match="viewer needs the editor role"):
            call()
    assert [(r.name, r.description) for r in local.list_model_reservations()] == [("early", "")]
    assert editor.release_model_reservation("early") is True
    assert [e.actor for e in local.list_audit_events(action="model.reserve")] == ["editor"]
