"""Users, authentication and the generic HTTP error surface (api-contract.md: General,
Users)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from tests.api.client import Api, embedded_server
from tests.api.support import assert_problem, assert_validation_errors, view

_emails = itertools.count()


def fresh_email(prefix: str = "person") -> str:
    return f"{prefix}{next(_emails)}-{uuid.uuid4().hex[:8]}@example.org"


def as_bearer(api: Api, token: str, path: str = "/v1/users/me") -> int:
    return api.http.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


# -- sign-up ----------------------------------------------------------------------------


def test_sign_up_returns_the_user_with_defaults_and_a_token(api: Api) -> None:
    email = fresh_email("ada")
    response = api.http.post("/v1/users", json={"email": email, "name": "Ada Lovelace",
                                                "timezone": "Europe/London"})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"user_id", "email", "name", "timezone", "week_start",
                         "working_hours", "token"}
    uuid.UUID(body["user_id"])
    assert body["email"] == email
    assert body["name"] == "Ada Lovelace"
    assert body["timezone"] == "Europe/London"
    assert body["week_start"] == "monday"
    assert body["working_hours"] == {"start": "09:00", "end": "17:00", "days": [1, 2, 3, 4, 5]}
    assert isinstance(body["token"], str) and len(body["token"]) > 20

    me = api.http.get("/v1/users/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    expected = {k: v for k, v in body.items() if k != "token"}
    assert me.json() == expected
    assert "token" not in me.json()


def test_sign_up_keeps_explicit_week_start_and_working_hours(api: Api) -> None:
    hours = {"start": "08:30", "end": "16:00", "days": [1, 2, 3, 4]}
    user = api.sign_up("Asia/Tokyo", week_start="sunday", working_hours=hours)
    assert user.body["week_start"] == "sunday"
    assert user.body["working_hours"] == hours
    me = user.get("/v1/users/me").json()
    assert me["timezone"] == "Asia/Tokyo"
    assert me["week_start"] == "sunday"
    assert me["working_hours"] == hours
    assert me["name"] == ""


def test_duplicate_email_differing_only_in_case_is_409(api: Api) -> None:
    local = f"grace{uuid.uuid4().hex[:8]}"
    first = api.http.post("/v1/users", json={"email": f"{local}@example.org",
                                             "timezone": "UTC"})
    assert first.status_code == 201, first.text
    again = api.http.post("/v1/users", json={"email": f"{local.upper()}@EXAMPLE.ORG",
                                             "timezone": "Europe/Paris"})
    assert_problem(again, 409)
    exact = api.http.post("/v1/users", json={"email": f"{local}@example.org",
                                             "timezone": "UTC"})
    assert_problem(exact, 409)
    # The first account is untouched.
    me = api.http.get("/v1/users/me",
                      headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert me.json()["timezone"] == "UTC"


def test_unknown_timezone_is_422_with_errors(api: Api) -> None:
    email = fresh_email()
    response = api.http.post("/v1/users", json={"email": email, "timezone": "Mars/Olympus"})
    body = assert_problem(response, 422)
    assert_validation_errors(body, "timezone")
    # Nothing was registered: the same address can still sign up.
    retry = api.http.post("/v1/users", json={"email": email, "timezone": "UTC"})
    assert retry.status_code == 201, retry.text


@pytest.mark.parametrize(("fields", "field"), [
    ({"timezone": "UTC"}, "email"),
    ({"email": "not-an-address", "timezone": "UTC"}, "email"),
    ({"email": "x@example.org"}, "timezone"),
    ({"email": "x@example.org", "timezone": "UTC", "week_start": "friday"}, "week_start"),
    ({"email": "x@example.org", "timezone": "UTC", "admin": True}, "admin"),
    ({"email": "x@example.org", "timezone": "UTC",
      "working_hours": {"start": "17:00", "end": "09:00"}}, "working_hours"),
])
def test_invalid_sign_up_is_422(api: Api, fields: dict[str, object], field: str) -> None:
    body = assert_problem(api.http.post("/v1/users", json=fields), 422)
    assert_validation_errors(body, field)


def test_malformed_json_is_400(api: Api) -> None:
    response = api.http.post("/v1/users", content=b'{"email": "a@example.org", "timez',
                             headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


def test_malformed_json_on_an_authenticated_write_is_400(api: Api) -> None:
    user = api.sign_up()
    response = user.post("/v1/events", content=b"{not json}",
                         headers={"Content-Type": "application/json"})
    assert_problem(response, 400)
    assert user.get("/v1/calendar/view", params={"view": "month", "date": "2026-11-01"}
                    ).json()["items"] == []


def test_wrong_content_type_is_415(api: Api) -> None:
    payload = json.dumps({"email": fresh_email(), "timezone": "UTC"})
    response = api.http.post("/v1/users", content=payload.encode(),
                             headers={"Content-Type": "text/plain"})
    assert_problem(response, 415)
    user = api.sign_up()
    event = json.dumps({"title": "x", "start": "2026-11-24T09:00:00Z",
                        "end": "2026-11-24T10:00:00Z"})
    response = user.post("/v1/events", content=event.encode(),
                         headers={"Content-Type": "text/plain"})
    assert_problem(response, 415)
    assert view(user, view="day", date="2026-11-24")["items"] == []


def test_body_over_one_mebibyte_is_413(api: Api) -> None:
    padding = "x" * (1024 * 1024)
    response = api.http.post("/v1/users", json={"email": fresh_email(), "timezone": "UTC",
                                                "name": padding})
    assert_problem(response, 413)
    user = api.sign_up()
    response = user.post("/v1/events", json={"title": "Big", "description": padding,
                                             "start": "2026-11-24T09:00:00Z",
                                             "end": "2026-11-24T10:00:00Z"})
    assert_problem(response, 413)
    assert view(user, view="day", date="2026-11-24")["items"] == []


def test_body_over_one_mebibyte_without_content_length_is_413(api: Api) -> None:
    user = api.sign_up()

    def chunks() -> Iterator[bytes]:
        yield b'{"title": "Big", "description": "'
        for _ in range(17):
            yield b"y" * 65536
        yield b'", "start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}'

    response = user.post("/v1/events", content=chunks(),
                         headers={"Content-Type": "application/json"})
    assert_problem(response, 413)


# -- authentication ---------------------------------------------------------------------


def test_missing_token_is_401(api: Api) -> None:
    for method, path in [("GET", "/v1/users/me"), ("GET", "/v1/calendar/view"),
                         ("GET", "/v1/invitations"), ("PATCH", "/v1/users/me"),
                         ("GET", f"/v1/events/{uuid.uuid4()}")]:
        response = api.http.request(method, path)
        assert_problem(response, 401)
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    created = api.http.post("/v1/events", json={"title": "x", "start": "2026-11-24T09:00:00Z",
                                                "end": "2026-11-24T10:00:00Z"})
    assert_problem(created, 401)


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer not-a-token", "Bearer a.b.c", "Basic dXNlcjpwYXNz",
    "Token abc", "bearer",
])
def test_malformed_authorization_is_401(api: Api, authorization: str) -> None:
    response = api.http.get("/v1/users/me", headers={"Authorization": authorization})
    assert_problem(response, 401)


def test_token_signed_with_another_key_is_401(api: Api) -> None:
    user = api.sign_up()
    now = datetime.now(UTC)
    forged = jwt.encode({"sub": user.id, "iat": now, "exp": now + timedelta(hours=1)},
                        "not-the-server-secret-" + "k" * 32, algorithm="HS256")
    assert_problem(api.http.get("/v1/users/me",
                                headers={"Authorization": f"Bearer {forged}"}), 401)
    expired = jwt.encode({"sub": user.id, "iat": now - timedelta(hours=2),
                          "exp": now - timedelta(hours=1)},
                         "another-wrong-key-" + "k" * 32, algorithm="HS256")
    assert_problem(api.http.get("/v1/users/me",
                                headers={"Authorization": f"Bearer {expired}"}), 401)
    unsigned = jwt.encode({"sub": user.id, "exp": now + timedelta(hours=1)}, None,
                          algorithm="none")
    assert_problem(api.http.get("/v1/users/me",
                                headers={"Authorization": f"Bearer {unsigned}"}), 401)
    # A real token's signature with someone else's claims.
    header, _, signature = user.token.split(".")
    _, claims, _ = forged.split(".")
    spliced = f"{header}.{claims}.{signature}"
    assert_problem(api.http.get("/v1/users/me",
                                headers={"Authorization": f"Bearer {spliced}"}), 401)
    # The genuine token still works.
    assert user.get("/v1/users/me").status_code == 200


@pytest.fixture(scope="module")
def known_secret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, str]]:
    """A second server whose data dir (hence its signing key) the test knows."""
    data_dir: Path = tmp_path_factory.mktemp("auth-data")
    with embedded_server(data_dir) as base_url, Api(base_url) as client:
        yield client, (data_dir / "secret.key").read_text().strip()


def test_expired_or_incomplete_token_with_the_real_key_is_401(
        known_secret: tuple[Api, str]) -> None:
    api, secret = known_secret
    user = api.sign_up("UTC")
    now = datetime.now(UTC)

    def status(claims: dict[str, object]) -> int:
        return as_bearer(api, jwt.encode(claims, secret, algorithm="HS256"))

    # Control: a token we mint with the real key is accepted, so the key is right.
    assert status({"sub": user.id, "iat": now, "exp": now + timedelta(hours=1)}) == 200
    assert status({"sub": user.id, "iat": now - timedelta(days=2),
                   "exp": now - timedelta(minutes=5)}) == 401
    assert status({"sub": user.id, "iat": now}) == 401
    assert status({"sub": "not-a-uuid", "exp": now + timedelta(hours=1)}) == 401
    assert status({"exp": now + timedelta(hours=1)}) == 401
    response = api.http.get("/v1/users/me", headers={"Authorization": "Bearer " + jwt.encode(
        {"sub": user.id, "exp": now - timedelta(seconds=30)}, secret, algorithm="HS256")})
    assert_problem(response, 401)


# -- profile ----------------------------------------------------------------------------


def test_patch_me_changes_timezone_and_week_start_and_the_week_view_uses_them(
        api: Api) -> None:
    user = api.sign_up("UTC")
    # Sunday 01:00 in Tokyo = Saturday 16:00Z: in a Tokyo Sunday-week, not a UTC Monday-week.
    saturday = user.create_event(title="Tokyo Sunday", start="2026-11-28T16:00:00Z",
                                 end="2026-11-28T17:00:00Z")
    # Sunday 10:00Z: in the UTC Monday-week of 2026-12-02, after the Tokyo Sunday-week.
    sunday = user.create_event(title="UTC Sunday", start="2026-12-06T10:00:00Z",
                               end="2026-12-06T11:00:00Z")

    before = view(user, view="week", date="2026-12-02")
    assert (before["start"], before["end"]) == ("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z")
    assert before["timezone"] == "UTC"
    assert [i["event_id"] for i in before["items"]] == [sunday["event_id"]]

    changed = user.patch("/v1/users/me", json={"timezone": "Asia/Tokyo",
                                               "week_start": "sunday", "name": "Kenji"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Asia/Tokyo"
    assert changed.json()["week_start"] == "sunday"
    assert changed.json()["name"] == "Kenji"
    assert changed.json()["email"] == user.email
    assert "token" not in changed.json()
    me = user.get("/v1/users/me").json()
    assert (me["timezone"], me["week_start"], me["name"]) == ("Asia/Tokyo", "sunday", "Kenji")

    after = view(user, view="week", date="2026-12-02")
    assert (after["start"], after["end"]) == ("2026-11-28T15:00:00Z", "2026-12-05T15:00:00Z")
    assert after["timezone"] == "Asia/Tokyo"
    assert [i["event_id"] for i in after["items"]] == [saturday["event_id"]]


def test_patch_me_new_events_default_to_the_new_timezone(api: Api) -> None:
    user = api.sign_up("UTC")
    assert user.patch("/v1/users/me", json={"timezone": "Europe/Paris"}).status_code == 200
    event = user.create_event()
    assert event["timezone"] == "Europe/Paris"


def test_patch_me_working_hours(api: Api) -> None:
    user = api.sign_up("UTC")
    hours = {"start": "07:00", "end": "15:30", "days": [2, 3]}
    changed = user.patch("/v1/users/me", json={"working_hours": hours})
    assert changed.status_code == 200, changed.text
    assert changed.json()["working_hours"] == hours
    assert changed.json()["timezone"] == "UTC"
    assert user.get("/v1/users/me").json()["working_hours"] == hours


@pytest.mark.parametrize(("fields", "field"), [
    ({"timezone": "Nowhere/Special"}, "timezone"),
    ({"week_start": "wednesday"}, "week_start"),
    ({"email": "new@example.org"}, "email"),
    ({"working_hours": {"start": "25:00", "end": "26:00"}}, "working_hours"),
])
def test_patch_me_rejects_invalid_fields(api: Api, fields: dict[str, object],
                                         field: str) -> None:
    user = api.sign_up("Europe/Berlin")
    body = assert_problem(user.patch("/v1/users/me", json=fields), 422)
    assert_validation_errors(body, field)
    me = user.get("/v1/users/me").json()
    assert me["timezone"] == "Europe/Berlin"
    assert me["week_start"] == "monday"
    assert me["email"] == user.email


# -- routing errors ---------------------------------------------------------------------


def test_unknown_route_is_404_problem(api: Api) -> None:
    user = api.sign_up()
    assert_problem(user.get("/v1/nothing-here"), 404)
    assert_problem(api.http.get("/no/such/path"), 404)


def test_wrong_method_is_405_problem(api: Api) -> None:
    user = api.sign_up()
    assert_problem(user.request("PUT", "/v1/events/x", json={"title": "x"}), 405)
    assert_problem(user.delete("/v1/users/me"), 405)
    assert_problem(user.request("PUT", "/v1/calendar/view"), 405)


def test_405_names_the_allowed_methods(api: Api) -> None:
    """RFC 9110 section 15.5.6: a 405 response MUST carry an Allow header."""
    user = api.sign_up()
    response = user.delete("/v1/users/me")
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
    assert {"GET", "PATCH"} <= allowed, response.headers


def test_user_me_of_an_unregistered_subject_is_not_a_server_error(
        known_secret: tuple[Api, str]) -> None:
    api, secret = known_secret
    now = datetime.now(UTC)
    token = jwt.encode({"sub": str(uuid.uuid4()), "exp": now + timedelta(hours=1)}, secret,
                       algorithm="HS256")
    status = as_bearer(api, token)
    assert status in (401, 404), status
