"""X-Cronrelay-Signature: signing, the receiver's verify helper, and which targets may be called."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from lib.outbound.webhooks import classify, signature_header, target_problem, verify_signature

SECRET = "whsec-test-0123456789"
BODY = b'{"job":"nightly","request_id":"r1","project_id":"default","payload":{},"requested_at":"x"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # The algorithm the README spells out for other languages, computed independently.
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, BODY, timestamp=1700000000) == f"t=1700000000,v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    assert verify_signature(SECRET, BODY, signature_header(SECRET, BODY))
    assert verify_signature(SECRET, BODY.decode(), signature_header(SECRET, BODY))


@pytest.mark.parametrize(
    ("secret", "body"),
    [
        ("another-secret-0123", BODY),
        (SECRET, BODY.replace(b'"r1"', b'"r2"')),
        (SECRET, BODY + b" "),
    ],
    ids=["wrong secret", "tampered body", "one byte more"],
)
def test_wrong_secret_or_changed_body_is_rejected(secret: str, body: bytes) -> None:
    assert not verify_signature(secret, body, signature_header(SECRET, BODY))


def test_timestamp_tolerance_is_five_minutes_either_way() -> None:
    now = 1_800_000_000
    header = signature_header(SECRET, BODY, timestamp=now)
    assert verify_signature(SECRET, BODY, header, now=now + 300)
    assert verify_signature(SECRET, BODY, header, now=now - 300)
    assert not verify_signature(SECRET, BODY, header, now=now + 301)
    assert not verify_signature(SECRET, BODY, header, now=now - 301)


def test_an_old_signature_is_a_replay() -> None:
    header = signature_header(SECRET, BODY, timestamp=int(time.time()) - 3600)
    assert not verify_signature(SECRET, BODY, header)


def test_any_of_several_v1_values_may_match() -> None:
    moment = int(time.time())
    good = signature_header(SECRET, BODY, timestamp=moment).split("v1=")[1]
    assert verify_signature(SECRET, BODY, f"t={moment},v1={'0' * 64},v1={good}")
    assert not verify_signature(SECRET, BODY, f"t={moment},v1={'0' * 64}")


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "v1=abc", "t=abc,v1=abc", "t=1,t=2,v1=abc", "t=-5,v1=abc", "t=1700000000", "t=,v1="],
)
def test_malformed_headers_are_rejected(header: str | None) -> None:
    assert not verify_signature(SECRET, BODY, header, now=1700000000)


def test_non_ascii_signature_values_are_rejected_not_raised() -> None:
    moment = int(time.time())
    assert not verify_signature(SECRET, BODY, f"t={moment},v1=é")


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://hooks.example.com/x?token=1", False, None),
        ("HTTPS://hooks.example.com/x", False, None),
        ("http://127.0.0.1:8000/hook", True, None),
        ("http://localhost/hook", True, None),
        ("http://127.0.0.1:8000/hook", False, "ALLOW_HTTP_WEBHOOKS"),
        ("http://example.com/hook", True, "must be an https URL, got http://example.com"),
        ("http://10.0.0.1/hook", True, "must be an https URL"),
        ("ftp://example.com/x", False, "must be an https URL"),
        ("hooks.example.com/x", False, "must be an https URL"),
        ("https:///x", False, "no host"),
        ("https://example.com:99999/x", False, "not a valid URL"),
        ("https://exa mple.com/", False, "whitespace"),
        # What httpx would refuse at call time is refused up front, as a bad target.
        ("https://xn--/hook", False, "not a valid URL"),
        ("https://exämple..com/hook", False, "not a valid URL"),
        ("https://hooks.example.com/\x01", False, "not a valid URL"),
        ("https://exämple.com/hook", False, None),
        ("", False, "no target"),
        (None, False, "no target"),
    ],
)
def test_targets(url: str | None, allow_http: bool, problem: str | None) -> None:
    found = target_problem(url, allow_http=allow_http)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_refused_target_does_not_echo_its_path_or_query() -> None:
    found = target_problem("http://example.com/secret-path?token=hunter2", allow_http=False)
    assert found is not None and "hunter2" not in found and "secret-path" not in found


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (400, "rejected"),
        (404, "rejected"),
        (410, "rejected"),
        (408, "failed"),
        (429, "failed"),
        (500, "failed"),
        (503, "failed"),
        (302, "failed"),
    ],
)
def test_classify(status: int, verdict: str) -> None:
    assert classify(status) == verdict
