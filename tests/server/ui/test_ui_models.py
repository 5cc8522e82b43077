"""The models pages over HTTP: the list, a model (versions, aliases, history, rollback), a
version (card, evaluations, gates, approvals), and promoting, approving and rolling back from
the page, with gates, roles and form tokens enforced."""

from __future__ import annotations

import re

import httpx

from setpoint.tracking.environment import current_user
from ui_support import PROJECT, UiServer, form_token, sign_in

MODEL = "quickstart-model"
BASE = f"/models/{PROJECT}/{MODEL}"
# The quickstart promotes v1 (baseline) then v2 (best) to champion, is refused for v3
# (weakest: roc_auc below the 0.75 floor), then rolls champion back to v1.


def _champion(ui: UiServer) -> int | None:
    return ui.local.get_model(MODEL, PROJECT).aliases.get("champion")


def test_the_list_shows_models_with_their_latest_version_and_aliases(ui: UiServer) -> None:
    for params in ({}, {"project": PROJECT}):
        r = ui.get("/models", params=params)
        assert r.status_code == 200
        assert f'href="{BASE}"' in r.text
        assert f'href="{BASE}/3">v3</a>' in r.text  # the latest version
        assert "champion → v1" in r.text
    empty = ui.get("/models", params={"project": "nowhere"})
    assert empty.status_code == 200
    assert "No models in nowhere" in empty.text


def test_the_model_page_lists_versions_metrics_policy_and_alias_history(ui: UiServer) -> None:
    r = ui.get(BASE)
    assert r.status_code == 200
    table = r.text.split('id="versions"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<a href="' + BASE + r'/(\d+)">v\d+</a></td>', table)
    assert rows == ["3", "2", "1"]  # newest first
    v2 = ui.local.list_evaluations(MODEL, 2, PROJECT)[-1].metrics["roc_auc"]
    assert f"{v2:.5g}" in r.text  # the key metric the champion's gates judge
    assert "roc_auc min 0.75" in r.text  # the policy guarding champion
    history = r.text.split('id="alias-history"', 1)[1]
    for reason in ("quickstart: baseline", "quickstart: best", "quickstart: show a rollback"):
        assert reason in history
    assert "rollback" in history
    # champion was rolled back already: nothing earlier to roll back to
    assert "No earlier target to roll back to" in r.text
    assert "/aliases/champion/rollback" not in r.text


def test_unknown_models_and_versions_are_not_found_pages(ui: UiServer) -> None:
    for path in (f"/models/{PROJECT}/nope", f"{BASE}/99", f"{BASE}/abc", f"{BASE}/0"):
        r = ui.get(path)
        assert r.status_code == 404, path
        assert "Not found" in r.text


def test_the_version_page_shows_card_evaluations_gates_and_moves(ui: UiServer) -> None:
    r = ui.get(f"{BASE}/2")
    assert r.status_code == 200
    text = r.text
    assert "Slices by segment" in text
    assert "Confusion matrix" in text
    assert "x0</td><td>double" in text  # the signature
    assert "Demonstrates setpoint" in text  # the card's intended use
    assert 'id="model-card"' in text and "Training data" in text
    attempts = text.split('id="promotions-h"', 1)[1].split('id="approvals-h"', 1)[0]
    assert "To champion" in attempts and "moved" in attempts
    card = ui.get(f"{BASE}/2/card.md")
    assert card.status_code == 200
    assert card.text.startswith(f"# Model card: {PROJECT}/{MODEL}/2")


def test_a_promotion_that_fails_a_gate_is_refused_and_the_alias_stays(ui: UiServer) -> None:
    token = form_token(ui.get(f"{BASE}/3").text)
    before = len(ui.local.list_promotions(MODEL, 3, PROJECT))
    r = ui.post(
        f"{BASE}/3/promote",
        data={"form_token": token, "alias": "champion", "reason": "try the weakest"},
    )
    assert r.status_code == 409
    refused = r.text.split('id="refused"', 1)[1].split("</section>", 1)[0]
    assert "Promotion to champion refused" in refused
    assert "roc_auc min 0.75" in refused  # names the failing gate
    assert _champion(ui) == 1
    # the registry kept the refused attempt, and the audit log says so
    assert len(ui.local.list_promotions(MODEL, 3, PROJECT)) == before + 1
    events = ui.local.list_audit_events(
        project=PROJECT, action="model.promote_refused", newest_first=True, limit=1
    )
    assert events[0].subject == f"{PROJECT}/{MODEL}/3"


def test_promoting_moves_the_alias_into_the_audit_log_and_rollback_moves_it_back(
    ui: UiServer,
) -> None:
    token = form_token(ui.get(f"{BASE}/2").text)
    r = ui.post(
        f"{BASE}/2/promote",
        data={"form_token": token, "alias": "champion", "reason": "best of the sweep"},
    )
    assert r.status_code == 303
    assert _champion(ui) == 2
    moved = ui.local.list_audit_events(
        project=PROJECT, action="alias.promote", newest_first=True, limit=1
    )[0]
    assert moved.subject == f"{PROJECT}/{MODEL}"
    assert moved.after["version"] == 2 and moved.after.get("reason") == "best of the sweep"
    shown = ui.get(r.headers["location"])
    assert "champion now points at v2" in shown.text

    page = ui.get(BASE).text
    assert "Roll back to v1" in page
    r = ui.post(
        f"{BASE}/aliases/champion/rollback",
        data={"form_token": form_token(page), "reason": "v2 misbehaves"},
    )
    assert r.status_code == 303
    assert _champion(ui) == 1
    last = ui.local.alias_history(MODEL, PROJECT, "champion")[-1]
    assert (last.action, last.from_version, last.to_version) == ("rollback", 2, 1)
    assert last.reason == "v2 misbehaves"
    assert "champion now points at v1" in ui.get(r.headers["location"]).text


def test_a_post_with_a_wrong_form_token_is_refused(ui: UiServer) -> None:
    r = ui.post(f"{BASE}/2/promote", data={"form_token": "0" * 64, "alias": "champion"})
    assert r.status_code == 403
    assert _champion(ui) == 1


def test_viewers_see_no_actions_and_their_posts_are_refused(
    ui_roles: tuple[UiServer, dict[str, str]],
) -> None:
    server, secrets = ui_roles
    viewer = sign_in(server, secrets["viewer"])
    page = viewer.get(f"{BASE}/2")
    assert page.status_code == 200
    assert 'id="promote-form"' not in page.text and 'id="approve-form"' not in page.text
    assert "/rollback" not in viewer.get(BASE).text
    # The same person edits another project, so they hold a valid form token: the server
    # still checks their role in this one.
    local = server.local
    local.users.grant("viewer", "sandbox", "editor")
    digest = local.get_model_version(MODEL, 1, PROJECT).digest
    local.register_model_version("copy", digest, project="sandbox")
    elsewhere = viewer.get("/models/sandbox/copy/1").text
    assert 'id="promote-form"' in elsewhere
    r = viewer.post(
        f"{BASE}/2/promote",
        data={"form_token": form_token(elsewhere), "alias": "champion"},
    )
    assert r.status_code == 403
    assert "Not allowed" in r.text
    assert _champion(server) == 1


def test_an_approver_approves_and_an_editor_may_not(
    ui_roles: tuple[UiServer, dict[str, str]],
) -> None:
    server, secrets = ui_roles
    editor = sign_in(server, secrets["editor"])
    page = editor.get(f"{BASE}/2").text
    assert 'id="promote-form"' in page and 'id="approve-form"' not in page
    r = editor.post(f"{BASE}/2/approve", data={"form_token": form_token(page), "alias": "champion"})
    assert r.status_code == 403
    assert server.local.list_approvals(MODEL, 2, PROJECT) == []

    approver: httpx.Client = sign_in(server, secrets["approver"])
    page = approver.get(f"{BASE}/2").text
    assert 'id="approve-form"' in page
    r = approver.post(
        f"{BASE}/2/approve",
        data={"form_token": form_token(page), "alias": "champion", "comment": "looks good"},
    )
    assert r.status_code == 303
    approvals = server.local.list_approvals(MODEL, 2, PROJECT)
    assert [(a.alias, a.actor, a.comment) for a in approvals] == [
        ("champion", "approver", "looks good")
    ]
    event = server.local.list_audit_events(
        project=PROJECT, action="model_version.approve", newest_first=True, limit=1
    )[0]
    assert event.actor == "approver"
    shown = approver.get(r.headers["location"]).text
    assert "Approval recorded for champion" in shown
    assert "looks good" in shown.split('id="approvals"', 1)[1]


def test_the_rollback_offered_is_the_one_the_registry_makes(ui: UiServer) -> None:
    """The button named the version before the latest move, counting a repeated move as a
    step: it promised "back to v2" and the registry moved the alias to v1."""

    def moved(alias: str, *versions: int | None) -> str:
        for v in versions:
            ui.local.set_alias(MODEL, alias, v, PROJECT)
        return ui.get(BASE).text.split(f">{alias}</h3>", 1)[1].split("</section>", 1)[0]

    repeat = moved("staging", 1, 2, 2)
    assert "Roll back to v1" in repeat and "v2 to v2" not in repeat
    r = ui.post(
        f"{BASE}/aliases/staging/rollback",
        data={"form_token": form_token(ui.get(BASE).text), "reason": "as offered"},
    )
    assert r.status_code == 303
    assert ui.local.get_model(MODEL, PROJECT).aliases["staging"] == 1
    # a server without tokens answers this machine only: its user is the actor, as the SDK's
    assert ui.local.alias_history(MODEL, PROJECT, "staging")[-1].actor == current_user()
    # no button the registry would refuse
    twice = moved("beta", 1, 1)
    assert "No earlier target to roll back to" in twice and "/rollback" not in twice
    removed = moved("gamma", 1, None, 2)
    assert "pointed at no version before" in removed and "/rollback" not in removed
