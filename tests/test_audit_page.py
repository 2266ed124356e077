"""/audit/, its CSV export and GET /api/audit: filtered, paginated, scoped to what the reader may see."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import AuditEvent
from projects.models import Access, App, Role


@pytest.fixture
def history(app, users) -> None:
    """Events of two apps; the reader is an admin of shop only."""
    App.objects.create(slug="blog", name="Blog", repo_url="/nowhere")
    for n in range(3):
        AuditEvent.objects.create(actor="deployer", action="target.locked", source="web", app="shop", target="staging",
                                  detail=f"Locked: {n}")  # fmt: skip
    AuditEvent.objects.create(actor="viewer", action="denied", source="api", app="shop", detail="Refused to deploy.")
    AuditEvent.objects.create(actor="blogger", action="app.changed", source="admin", app="blog", detail="Changed blog.")
    AuditEvent.objects.create(actor="deployer", action="auth.login", source="web", detail="=HYPERLINK(evil)")


def rows(response) -> list[list[str]]:
    """The page's table as text cells: when, who, action, app, target, deployment, detail."""
    html = response.content.decode()
    found = []
    for row in re.findall(r'<tr class="event">(.*?)</tr>', html, re.S):
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        found.append(cells[1:7])
    return found


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["at", "actor", "action", "source", "ip", "app", "target", "deployment", "detail"]
    return [[r[1], r[2], r[5], r[6], r[7], r[8]] for r in table[1:]]


def test_staff_see_every_event_newest_first(history, browser_client):
    page = browser_client("staff").get("/audit/")

    assert page.status_code == 200
    found = [r for r in rows(page) if r[0] != "staff"]  # staff's own login comes first
    assert [r[1] for r in found] == ["auth.login", "app.changed", "denied"] + ["target.locked"] * 3


def test_filters_by_app_target_user_action_and_date_narrow_the_page(history, browser_client):
    client = browser_client("staff")
    today = timezone.now().date()

    assert {r[2] for r in rows(client.get("/audit/?app=blog"))} == {"blog"}
    assert len(rows(client.get("/audit/?app=shop&target=staging"))) == 3
    assert {r[0] for r in rows(client.get("/audit/?user=viewer"))} == {"viewer"}
    assert {r[1] for r in rows(client.get("/audit/?action=denied"))} == {"denied"}
    assert len(rows(client.get(f"/audit/?since={today}&until={today}&action=target.locked"))) == 3
    assert rows(client.get(f"/audit/?until={today - timedelta(days=1)}&action=target.locked")) == []
    assert client.get("/audit/?since=yesterday").status_code == 400


def test_the_page_is_paginated(app, browser_client):
    for n in range(55):
        AuditEvent.objects.create(actor="deployer", action="target.locked", source="web", app="shop", detail=f"#{n}")
    client = browser_client("staff")

    first, second = client.get("/audit/?app=shop"), client.get("/audit/?app=shop&page=2")

    assert len(rows(first)) == 50
    assert [r[5] for r in rows(second)] == [f"#{n}" for n in range(4, -1, -1)]
    assert "app=shop&amp;page=2" in first.content.decode()


def test_an_app_admin_sees_only_the_apps_they_administer(history, browser_client):
    client = browser_client("app_admin")

    assert {r[2] for r in rows(client.get("/audit/"))} == {"shop"}
    assert client.get("/audit/?app=blog").status_code == 404


def test_a_viewer_may_not_read_the_audit_and_it_is_audited(history, browser_client):
    response = browser_client("viewer").get("/audit/?app=shop")

    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="denied", actor="viewer", source="web", app="shop").count() == 1
    assert browser_client("deployer").get("/audit/").status_code == 403


def test_a_team_admin_reads_the_audit_of_the_teams_app(history, browser_client, users):
    from django.contrib.auth.models import Group

    ops = Group.objects.create(name="ops")
    users["outsider"].groups.add(ops)
    Access.objects.create(app=App.objects.get(slug="blog"), team=ops, role=Role.ADMIN)

    assert {r[2] for r in rows(browser_client("outsider").get("/audit/"))} == {"blog"}


def test_the_csv_export_matches_the_filtered_page(history, browser_client):
    client = browser_client("staff")
    for query in ("", "?app=shop", "?user=deployer&action=target.locked", "?action=auth.login&user=deployer"):
        page = rows(client.get("/audit/" + query))
        export = client.get("/audit/export.csv" + query)
        assert export["Content-Type"].startswith("text/csv")
        assert [[a, b, c, d, e] for a, b, c, d, e, _ in csv_rows(export)] == [r[:5] for r in page], query
    [login] = csv_rows(client.get("/audit/export.csv?action=auth.login&user=deployer"))
    assert login[5] == "'=HYPERLINK(evil)"  # a spreadsheet must not run it


def test_the_csv_export_is_scoped_like_the_page(history, browser_client):
    assert {r[2] for r in csv_rows(browser_client("app_admin").get("/audit/export.csv"))} == {"shop"}
    assert browser_client("viewer").get("/audit/export.csv").status_code == 403


def test_the_api_answers_the_contracts_shape_with_filters(history, api):
    response = api("staff").get("/api/audit?app=shop&user=deployer&action=target.locked")

    assert response.status_code == 200
    events = response.json()
    assert [e["detail"] for e in events] == ["Locked: 2", "Locked: 1", "Locked: 0"]
    assert set(events[0]) == {"at", "actor", "action", "app", "target", "deployment", "detail"}
    assert events[0]["at"].endswith("Z") or events[0]["at"].endswith("+00:00")


def test_the_api_scopes_app_admins_and_refuses_others(history, api):
    assert {e["app"] for e in api("app_admin").get("/api/audit").json()} == {"shop"}
    assert api("app_admin").get("/api/audit?app=blog").status_code == 404
    assert api("deployer").get("/api/audit").status_code == 403
    assert api("outsider").get("/api/audit?app=shop").status_code == 404
    assert api("viewer").get("/api/audit?since=soon").status_code == 403  # scope first, then the filters


def test_the_audit_cannot_be_changed_through_the_api(history, api):
    before = list(AuditEvent.objects.values_list("id", "actor", "detail"))
    for method in ("post", "put", "delete"):
        response = api("staff").call(method, "/api/audit", {"detail": "rewritten"})
        assert response.status_code == 405, method

    assert list(AuditEvent.objects.values_list("id", "actor", "detail")) == before
