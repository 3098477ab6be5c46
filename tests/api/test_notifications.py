"""Andon notifications to a real SMTP server and real HTTP receivers (Teams, Slack, ntfy, webhook): who is told at
each tier and step, retries with backoff, and the delivery log of each call."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from andon.clock import ManualClock
from andon.config.loader import ConfigError, parse_config
from andon.storage.tables import NotificationRow
from tests.api.api_fixtures import api
from tests.conftest import free_port, wait_until
from tests.core.engine_fixtures import utc


class Receiver:
    """Real HTTP receivers on one loopback port: every POST kept by path; /flaky fails twice, /broken always."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.tries: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                tries = receiver.tries[self.path] = receiver.tries.get(self.path, 0) + 1
                failing = self.path == "/broken" or (self.path == "/flaky" and tries <= 2)
                if not failing:
                    receiver.posts.append((self.path, dict(self.headers), body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.posts]


class Mailbox:
    """What the SMTP server took: (to, subject, body)."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = mail.get_body()
        assert isinstance(body, email.message.EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), str(mail["Subject"]), body.get_content().strip()))
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def plant(url: str, smtp_port: int, attempts: int = 3, backoff: float = 0.05) -> str:
    return f"""
plant: {{{{name: Test Plant, timezone: UTC}}}}
database: sqlite:///{{db}}
shifts:
  - {{{{id: day, start: "06:00", end: "14:00"}}}}
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{{{type: http, id: http}}}}]
    andon:
      categories: [quality, safety]
      escalation:
        - {{{{tier: team_leader, after_seconds: 0, notify: [sam, teams]}}}}
        - {{{{tier: supervisor, after_seconds: 60, notify: [leaders, slack, phones, flaky, sam]}}}}
      escalation_by_category:
        safety: [{{{{tier: safety_officer, after_seconds: 0, notify: [hook, broken]}}}}]
people:
  - {{{{id: sam, email: sam@plant.example}}}}
  - {{{{id: kim, email: kim@plant.example}}}}
  - {{{{id: lee}}}}
notifications:
  smtp: {{{{host: 127.0.0.1, port: {smtp_port}, sender: andon@plant.example}}}}
  channels:
    - {{{{id: teams, type: teams, url: "{url}/teams"}}}}
    - {{{{id: slack, type: slack, url: "{url}/slack"}}}}
    - {{{{id: phones, type: ntfy, url: "{url}/ntfy/andon"}}}}
    - {{{{id: hook, type: webhook, url: "{url}/hook"}}}}
    - {{{{id: flaky, type: teams, url: "{url}/flaky"}}}}
    - {{{{id: broken, type: slack, url: "{url}/broken"}}}}
  groups: [{{{{id: leaders, people: [kim, lee]}}}}]
  attempts: {attempts}
  backoff_seconds: {backoff}
"""


def log_of(client: Any, call_id: int) -> list[tuple[str, str, str, str, int]]:
    return [(n["event"], n["channel"], n["target"], n["status"], n["attempts"])
            for n in client.get(f"/api/andons/{call_id}/notifications").json()]


def test_each_tier_and_step_tells_its_people_and_channels(
    tmp_path: Path, receiver: Receiver, mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox
    clock = ManualClock(utc("2026-11-26 07:00"))
    with api(tmp_path, clock, text=plant(receiver.url, port)) as client:
        call = client.post("/api/andons", json={"line": "line1", "station": "st3", "category": "quality"}).json()
        wait_until(lambda: len(box.mails) == 1 and receiver.paths() == ["/teams"], 10)
        assert box.mails == [(["sam@plant.example"], "Andon raised: line line1, st3, quality",
                              f"Andon raised: line line1, st3, quality (call {call['id']}, tier team_leader, raised "
                              "2026-11-26T07:00:00+00:00)")]
        assert json.loads(receiver.posts[0][2]) == {"text": box.mails[0][2]}

        clock.advance(120)
        client.services.andons.escalate()  # type: ignore[attr-defined]
        # The supervisor tier: the leaders group (kim; lee has no e-mail), sam again, slack, ntfy, and flaky twice
        # refused then taken.
        wait_until(lambda: len(box.mails) == 3 and sorted(receiver.paths()) == [
            "/flaky", "/ntfy/andon", "/slack", "/teams"], 10)
        assert sorted(to for to, _, _ in box.mails[1:]) == [["kim@plant.example"], ["sam@plant.example"]]
        ntfy = next((h, b) for p, h, b in receiver.posts if p == "/ntfy/andon")
        assert (ntfy[0]["Title"], ntfy[0]["Priority"], ntfy[1].decode()) == (
            "Andon escalated: line line1, st3, quality", "high",
            f"Andon escalated: line line1, st3, quality (call {call['id']}, tier supervisor, raised "
            "2026-11-26T07:00:00+00:00)")
        assert receiver.tries["/flaky"] == 3

        assert client.post(f"/api/andons/{call['id']}/acknowledge", json={"by": "kim"}).status_code == 200
        # An acknowledgement tells every tier reached, each once.
        wait_until(lambda: len(box.mails) == 5 and len(receiver.posts) == 8, 10)
        assert sorted(to[0] for to, s, _ in box.mails if s.startswith("Andon acknowledged")) == [
            "kim@plant.example", "sam@plant.example"]
        assert sorted(p for p, _, b in receiver.posts[4:]) == ["/flaky", "/ntfy/andon", "/slack", "/teams"]
        ack_text = next(json.loads(b)["text"] for p, _, b in receiver.posts[4:] if p == "/slack")
        assert ack_text.endswith(", by kim)")
        wait_until(lambda: all(n[3] == "sent" for n in log_of(client, call["id"])), 10)
        assert log_of(client, call["id"]) == [
            ("raised", "email", "sam@plant.example", "sent", 1), ("raised", "teams", "teams", "sent", 1),
            ("escalated", "email", "kim@plant.example", "sent", 1), ("escalated", "slack", "slack", "sent", 1),
            ("escalated", "ntfy", "phones", "sent", 1), ("escalated", "teams", "flaky", "sent", 3),
            ("escalated", "email", "sam@plant.example", "sent", 1),
            ("acknowledged", "email", "sam@plant.example", "sent", 1), ("acknowledged", "teams", "teams", "sent", 1),
            ("acknowledged", "email", "kim@plant.example", "sent", 1), ("acknowledged", "slack", "slack", "sent", 1),
            ("acknowledged", "ntfy", "phones", "sent", 1), ("acknowledged", "teams", "flaky", "sent", 1),
        ]
        flaky = next(n for n in client.get(f"/api/andons/{call['id']}/notifications").json()
                     if n["target"] == "flaky" and n["event"] == "escalated")
        assert flaky["last_error"] is None  # cleared once sent


def test_a_delivery_that_keeps_failing_is_logged_failed_and_the_others_still_go(
    tmp_path: Path, receiver: Receiver, mailbox: tuple[Mailbox, int],
) -> None:
    _, port = mailbox
    clock = ManualClock(utc("2026-11-26 07:00"))
    with api(tmp_path, clock, text=plant(receiver.url, port)) as client:
        call = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "safety"}).json()
        wait_until(lambda: [n[3] for n in log_of(client, call["id"])] == ["sent", "failed"], 10)
        assert log_of(client, call["id"]) == [("raised", "webhook", "hook", "sent", 1),
                                              ("raised", "slack", "broken", "failed", 3)]
        failed = client.get(f"/api/andons/{call['id']}/notifications").json()[1]
        assert failed["last_error"] == "RuntimeError: HTTP 500"
        hook = next(json.loads(b) for p, _, b in receiver.posts if p == "/hook")
        assert (hook["type"], hook["event"], hook["call"]["id"], hook["call"]["tier"]) == (
            "andon", "raised", call["id"], "safety_officer")
        assert client.get("/api/andons/999/notifications").status_code == 404


def test_a_mail_server_that_is_down_is_retried_and_logged(tmp_path: Path, receiver: Receiver) -> None:
    clock = ManualClock(utc("2026-11-26 07:00"))
    with api(tmp_path, clock, text=plant(receiver.url, free_port(), attempts=2)) as client:
        call = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "quality"}).json()
        wait_until(lambda: sorted(n[3] for n in log_of(client, call["id"])) == ["failed", "sent"], 10)
        mail = next(n for n in client.get(f"/api/andons/{call['id']}/notifications").json() if n["channel"] == "email")
        assert (mail["attempts"], mail["last_error"].startswith("ConnectionRefusedError")) == (2, True)


def test_a_delivery_still_queued_at_shutdown_is_sent_after_the_next_start(
    tmp_path: Path, receiver: Receiver, mailbox: tuple[Mailbox, int],
) -> None:
    _, port = mailbox
    clock = ManualClock(utc("2026-11-26 07:00"))
    down = f"http://127.0.0.1:{free_port()}"
    with api(tmp_path, clock, text=plant(down, port, attempts=5, backoff=60)) as client:
        call = client.post("/api/andons", json={"line": "line1", "station": "st1", "category": "safety"}).json()
        wait_until(lambda: [n[3:] for n in log_of(client, call["id"])] == [("queued", 1), ("queued", 1)], 10)
    # The server stops with both deliveries waiting for their next try; the receivers are back at the next start.
    with api(tmp_path, clock, text=plant(receiver.url, port)) as client:
        wait_until(lambda: "/hook" in receiver.paths(), 10)
        hook = next(json.loads(b) for p, _, b in receiver.posts if p == "/hook")
        assert (hook["event"], hook["call"]["id"], hook["call"]["station"]) == ("raised", call["id"], "st1")
        wait_until(lambda: [n[3] for n in log_of(client, call["id"])] == ["sent", "failed"], 10)
        assert log_of(client, call["id"])[0] == ("raised", "webhook", "hook", "sent", 2)  # its second try


@pytest.mark.parametrize(("change", "message"), [
    (("notify: [sam, teams]", "notify: [sam, nobody]"), "tier 'team_leader' notifies 'nobody': not a person, group"),
    (("  groups: [{id: leaders, people: [kim, lee]}]", "  groups: [{id: leaders, people: [kim, max]}]"),
     "group 'leaders' names unknown person 'max'"),
    (("  smtp: {host: 127.0.0.1, port: 25, sender: andon@plant.example}\n", ""),
     "tier 'team_leader' notifies person 'sam' by e-mail, but notifications has no smtp"),
    (('url: "http://x/slack"', 'url: "mailto:x"'), "String should match pattern"),
])
def test_notification_mistakes_are_config_errors(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = plant("http://x", 25).format(db=tmp_path / "a.db").replace("{{", "{").replace("}}", "}")
    assert change[0] in text
    with pytest.raises(ConfigError) as error:
        parse_config(text.replace(*change))
    assert message in str(error.value)


def test_each_person_and_channel_is_told_in_their_language(
    tmp_path: Path, receiver: Receiver, mailbox: tuple[Mailbox, int],
) -> None:
    """A person's language, else a channel's, else the plant's: the subject and text in it, the facts unchanged;
    a delivery sent after a restart is written in the same language."""
    box, port = mailbox
    text = f"""
plant: {{{{name: Werk, timezone: UTC, language: es}}}}
database: sqlite:///{{db}}
shifts:
  - {{{{id: day, start: "06:00", end: "14:00"}}}}
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{{{type: http, id: http}}}}]
    andon:
      categories: [quality]
      escalation: [{{{{tier: team_leader, after_seconds: 0, notify: [jan, li, ana, slack, teams]}}}}]
people:
  - {{{{id: jan, email: jan@plant.example, language: de-DE}}}}
  - {{{{id: li, email: li@plant.example, language: zh-CN}}}}
  - {{{{id: ana, email: ana@plant.example}}}}
notifications:
  smtp: {{{{host: 127.0.0.1, port: {port}, sender: andon@plant.example}}}}
  channels:
    - {{{{id: slack, type: slack, url: "{receiver.url}/slack", language: pl}}}}
    - {{{{id: teams, type: teams, url: "{receiver.url}/teams"}}}}
"""
    clock = ManualClock(utc("2026-11-26 07:00"))
    with api(tmp_path, clock, text=text) as client:
        call = client.post("/api/andons", json={"line": "line1", "station": "st3", "category": "quality",
                                                "note": "Bohrung"}).json()
        wait_until(lambda: len(box.mails) == 3 and len(receiver.posts) == 2, 10)
        n = call["id"]
        mails = {to[0]: (subject, body) for to, subject, body in box.mails}
        assert mails == {
            "jan@plant.example": ("Andon ausgelöst: Linie line1, st3, quality",
                                  f"Andon ausgelöst: Linie line1, st3, quality (Ruf {n}, Stufe team_leader, ausgelöst "
                                  "2026-11-26T07:00:00+00:00; Notiz: Bohrung)"),
            "li@plant.example": ("安灯已触发：产线 line1，st3，quality",
                                 f"安灯已触发：产线 line1，st3，quality（呼叫 {n}，层级 team_leader，触发于 "
                                 "2026-11-26T07:00:00+00:00；备注：Bohrung）"),
            "ana@plant.example": ("Andon activado: línea line1, st3, quality",
                                  f"Andon activado: línea line1, st3, quality (llamada {n}, nivel team_leader, "
                                  "activada 2026-11-26T07:00:00+00:00; nota: Bohrung)"),
        }
        posts = {p: json.loads(b)["text"] for p, _, b in receiver.posts}
        assert posts == {
            "/slack": f"Andon zgłoszony: linia line1, st3, quality (wezwanie {n}, poziom team_leader, zgłoszone "
                      "2026-11-26T07:00:00+00:00; uwaga: Bohrung)",
            "/teams": mails["ana@plant.example"][1],
        }
        assert client.post(f"/api/andons/{n}/acknowledge", json={"by": "jan"}).status_code == 200
        wait_until(lambda: len(box.mails) == 6, 10)
        assert box.mails[3:][[to[0] for to, _, _ in box.mails[3:]].index("jan@plant.example")][2].endswith(
            ", von jan; Notiz: Bohrung)")
        # A delivery a stopped server left queued is written again, after the restart, in its reader's language.
        services = client.services  # type: ignore[attr-defined]
        wait_until(lambda: all(x["status"] == "sent" for x in log_of_full(client, n)), 10)
        with services.plant.store.transaction() as s:
            s.execute(update(NotificationRow).where(NotificationRow.call_id == n).values(status="queued"))
        left = sorted((d.event["event"], d.target, d.subject) for d in services.notifier._unsent())
        assert left == [
            ("acknowledged", "ana@plant.example", "Andon atendido: línea line1, st3, quality"),
            ("acknowledged", "jan@plant.example", "Andon quittiert: Linie line1, st3, quality"),
            ("acknowledged", "li@plant.example", "安灯已确认：产线 line1，st3，quality"),
            ("acknowledged", "slack", "Andon potwierdzony: linia line1, st3, quality"),
            ("acknowledged", "teams", "Andon atendido: línea line1, st3, quality"),
            ("raised", "ana@plant.example", "Andon activado: línea line1, st3, quality"),
            ("raised", "jan@plant.example", "Andon ausgelöst: Linie line1, st3, quality"),
            ("raised", "li@plant.example", "安灯已触发：产线 line1，st3，quality"),
            ("raised", "slack", "Andon zgłoszony: linia line1, st3, quality"),
            ("raised", "teams", "Andon activado: línea line1, st3, quality"),
        ]


def log_of_full(client: Any, call_id: int) -> list[dict[str, Any]]:
    return list(client.get(f"/api/andons/{call_id}/notifications").json())
