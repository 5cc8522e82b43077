"""Contract tests for model names reserved before their first version (MLflow's
create_registered_model): SQLite, PostgreSQL and remote mode."""

from __future__ import annotations

from typing import Any

import pytest

from setpoint.core.errors import ConflictError, InvalidArgumentError, ModelNotFoundError


def test_a_reserved_name_holds_its_description_and_tags_until_released(client: Any) -> None:
    made = client.reserve_model("Fraud Detector", "scores payments", {"owner": "me", "x": ""})
    assert (made.name, made.description, made.tags) == (
        "Fraud Detector",
        "scores payments",
        {"owner": "me"},
    )
    assert made.created_at == made.updated_at
    with pytest.raises(ConflictError, match="already exists"):
        client.reserve_model("Fraud Detector")
    client.reserve_model("fraud/early")

    changed = client.update_model_reservation("Fraud Detector", tags={"owner": "", "team": "risk"})
    assert (changed.description, changed.tags) == ("scores payments", {"team": "risk"})
    assert changed.updated_at >= made.updated_at
    changed = client.update_model_reservation("Fraud Detector", description="")
    assert (changed.description, changed.tags) == ("", {"team": "risk"})
    assert client.get_model_reservation("Fraud Detector") == changed
    assert [r.name for r in client.list_model_reservations()] == ["Fraud Detector", "fraud/early"]

    assert client.release_model_reservation("Fraud Detector") is True
    assert client.release_model_reservation("Fraud Detector") is False  # released already
    with pytest.raises(ModelNotFoundError, match="name=Fraud Detector not found"):
        client.get_model_reservation("Fraud Detector")
    with pytest.raises(ModelNotFoundError):
        client.update_model_reservation("Fraud Detector", description="again")
    assert [r.name for r in client.list_model_reservations()] == ["fraud/early"]
    client.reserve_model("Fraud Detector")  # free again

    actions = [
        (e.action, e.subject)
        for e in client.list_audit_events(subject_kind="model", limit=100)
        if e.action.startswith("model.reserv")
    ]
    assert actions[:4] == [
        ("model.reserve", "Fraud Detector"),
        ("model.reserve", "fraud/early"),
        ("model.reservation.update", "Fraud Detector"),
        ("model.reservation.update", "Fraud Detector"),
    ]
    assert ("model.reservation.release", "Fraud Detector") in actions
    assert [e.subject for e in client.list_audit_events(project="fraud", limit=100)] == [
        "fraud/early"
    ]


@pytest.mark.parametrize(
    ("name", "field", "message"),
    [
        ("", "name", "name is required"),
        ("x" * 129, "name", "at most 128"),
        ("tab\there", "name", "control character"),
        ("no project!/x", "name", "characters outside"),
    ],
)
def test_a_reserved_name_is_checked(client: Any, name: str, field: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as refused:
        client.reserve_model(name)
    assert refused.value.field == field
    assert client.list_model_reservations() == []


def test_a_reservation_refuses_bad_descriptions_and_tags(client: Any) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        client.reserve_model("m", "d" * 10_001)
    assert refused.value.field == "description"
    with pytest.raises(InvalidArgumentError) as refused:
        client.reserve_model("m", tags={"../up": "v"})
    assert refused.value.field == "tags"
    for given in ({"mlflow.registeredModelName": "Other"}, None):
        # the tag that keeps a registered model's name: its first version would show it
        with pytest.raises(InvalidArgumentError, match="keeps a registered model's name"):
            if given is None:
                client.reserve_model("m")
                client.update_model_reservation("m", tags={"mlflow.registeredModelName": "X"})
            else:
                client.reserve_model("m", tags=given)
    with pytest.raises(InvalidArgumentError) as refused:
        client.update_model_reservation("m", description="d" * 10_001)
    assert client.get_model_reservation("m").description == ""
    assert client.list_model_reservations()[0].tags == {}
