"""The outbound policy (lib/outbound/policy.py): the service is no way into its own network.

Every address class DESIGN.md names is refused at write time when the URL
holds it literally (in every form inet_aton reads, 2130706433 included), and
at call time when the host resolves to it (a resolver stub), without a retry
and without a connection. The call connects only to the address that was
checked: a DNS answer that changes between check and call changes nothing.
ALLOW_HTTP_WEBHOOKS allows http and loopback only; ALLOW_PRIVATE_TARGETS the
private ranges; link-local never.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import asyncpg
import httpcore
import httpx
import pytest
import respx

from lib.outbound import policy
from lib.outbound.policy import TargetAccess, TargetRefused, pinned, pinned_client, resolve_target
from lib.outbound.webhooks import target_problem
from lib.settings import Settings
from tests.conftest import AUTH
from tests.factories import add_job, add_request
from tests.fakes.webhook import WEBHOOK_SECRET, Hit, Reply, hook_route, local_receiver

STRICT = TargetAccess()
# (literal host, its class): every class DESIGN.md's Outbound calls names, and the old IPv4 spellings.
LITERALS = [
    ("127.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("2130706433", "loopback"),
    ("0x7f000001", "loopback"),
    # httpx itself refuses octal octets as a URL: refused before the policy is asked.
    ("0177.0.0.1", "not a valid URL"),
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("[fd00::1]", "private"),
    ("169.254.169.254", "link-local"),
    ("[fe80::1]", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("0.0.0.0", "unspecified"),
    ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("240.0.0.1", "reserved"),
]
PUBLIC = "93.184.215.14"


def resolver(*answers: Sequence[str]) -> tuple[policy.Resolver, list[str]]:
    """A stub resolver giving `answers` in turn (the last one again after), and the names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(answers[min(len(asked) - 1, len(answers) - 1)])

    return resolve, asked


# -- write time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "kind"), LITERALS)
def test_every_refused_class_is_refused_at_write_time_as_a_literal(host: str, kind: str) -> None:
    problem = target_problem(f"https://{host}/hook?token=hunter2", allow_http=False)
    words = kind if kind == "not a valid URL" else f"a {kind} address"
    assert problem is not None and words in problem and "hunter2" not in problem


def test_a_public_literal_and_a_name_pass_at_write_time() -> None:
    assert target_problem(f"https://{PUBLIC}/hook", allow_http=False) is None
    assert target_problem("https://hooks.example.com/hook", allow_http=False) is None


@pytest.mark.parametrize(
    ("url", "allow_http", "allow_private", "refused"),
    [
        ("http://127.0.0.1:8000/hook", True, False, False),
        ("https://localhost/hook", True, False, False),
        ("https://localhost/hook", False, False, True),
        ("https://[::1]/hook", True, False, False),
        ("http://10.0.0.1/hook", True, True, True),  # http is for loopback only
        ("https://10.0.0.1/hook", True, False, True),
        ("https://10.0.0.1/hook", False, True, False),
        ("https://100.64.0.1/hook", False, True, False),
        ("https://169.254.169.254/latest/meta-data", True, True, True),  # link-local never
        ("https://[fe80::1]/hook", True, True, True),
        ("https://0.0.0.0/hook", True, True, True),
    ],
)
def test_the_two_settings_allow_what_they_say_and_nothing_more(
    url: str, allow_http: bool, allow_private: bool, refused: bool
) -> None:
    problem = target_problem(url, allow_http=allow_http, allow_private=allow_private)
    assert (problem is not None) == refused, problem


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t-pw@hooks.example.com/hook",
        "https://s3cr3t-pw@hooks.example.com/",
        "https://:s3cr3t-pw@x.test/",
    ],
)
def test_credentials_in_a_url_are_refused(url: str) -> None:
    problem = target_problem(url, allow_http=False)
    assert problem is not None and "credentials" in problem and "s3cr3t-pw" not in problem


async def test_the_api_refuses_them_with_a_422_naming_the_target(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    for url in ("https://169.254.169.254/latest", "https://2130706433/", "https://u:secret-pw@hooks.example.test/"):
        body = {"name": "probe", "kind": "webhook", "target": url}
        response = await client.post("/api/ops/jobs", json=body, headers=AUTH)
        assert response.status_code == 422 and response.json()["field"] == "target", response.text
        assert "secret-pw" not in response.text
    assert await sql.fetchval("select count(*) from public.cron_jobs where kind = 'webhook'") == 0


# -- call time --------------------------------------------------------------------------------------


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET)


# What a resolver stub answers, per class: IPv4 and IPv6.
RESOLVED = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("fd00::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
]


@pytest.mark.parametrize(("address", "kind"), RESOLVED)
async def test_a_host_resolving_to_a_refused_class_is_an_error_at_once_without_a_call(
    client: httpx.AsyncClient,
    sql: asyncpg.Connection,
    http_mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    address: str,
    kind: str,
) -> None:
    # A public first answer and the refused one: any refused address refuses the call.
    stub, asked = resolver([PUBLIC, address])
    monkeypatch.setattr(policy, "RESOLVER", [stub])
    hit = hook_route(http_mock, "https://rebind.example.test/hook", return_value=httpx.Response(200))
    job = await add_job(sql, "hook", target="https://rebind.example.test/hook")
    request = await add_request(sql, job)

    drained = await client.get("/api/cron/run-requests", headers=AUTH)

    assert drained.status_code == 200, drained.text
    row = await sql.fetchrow("select status, attempts, result from public.cron_run_requests where id = $1", request)
    assert row["status"] == "error", row  # final: no retry
    assert f"a {kind} address" in row["result"] and "rebind.example.test" in row["result"]
    assert hit.call_count == 0 and asked == ["rebind.example.test"]


async def test_loopback_is_allowed_at_call_time_only_with_allow_http_webhooks() -> None:
    stub, _ = resolver(["127.0.0.1"])
    with pytest.raises(TargetRefused, match="a loopback address"):
        await resolve_target("https://dev.example.test/hook", STRICT, stub)
    allowed = await resolve_target("https://dev.example.test/hook", TargetAccess(allow_loopback=True), stub)
    assert allowed.addresses == ("127.0.0.1",)
    with pytest.raises(TargetRefused, match="a private address"):
        await resolve_target(
            "https://dev.example.test/hook", TargetAccess(allow_loopback=True), resolver(["10.1.1.1"])[0]
        )
    with pytest.raises(TargetRefused, match="link-local"):
        await resolve_target("https://x.example.test/", TargetAccess(True, True), resolver(["169.254.169.254"])[0])


async def test_the_call_connects_to_the_checked_address_whatever_dns_says_next() -> None:
    """DNS rebinding: the name first resolves to an allowed address, then to another. The call goes
    to the first, and the name is resolved once: the connection never asks DNS itself. The receiver
    listens on 127.0.0.2, where the system's own `localhost` (127.0.0.1, ::1) would never reach it."""
    hosts: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        hosts.extend(line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:"))
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.2", 0)
    port = server.sockets[0].getsockname()[1]
    stub, asked = resolver(["127.0.0.2"], ["169.254.169.254"])
    url = f"http://localhost:{port}/hook"
    try:
        target = await resolve_target(url, TargetAccess(allow_loopback=True), stub)
        client = await pinned_client()
        with pinned(target):
            first = await client.post(url, content=b"{}")
            second = await client.post(url, content=b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert (first.status_code, second.status_code) == (200, 200)
    assert asked == ["localhost"]
    # The name, not the address, is what the receiver sees (Host, and TLS's SNI for https).
    assert hosts == [f"localhost:{port}"] * 2


async def test_a_connection_without_a_checked_address_is_refused() -> None:
    async with local_receiver() as (url, bodies):
        client = await pinned_client()
        with pytest.raises(httpx.ConnectError, match="no checked address"):
            await client.post(url, content=b"{}")
    assert bodies == []
    backend = policy.PinnedBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", 1)


async def test_redirects_are_not_followed() -> None:
    def moved(hit: Hit, index: int) -> Reply:
        return Reply(status=302, headers=(("location", "http://169.254.169.254/latest"),))

    hits: list[Hit] = []
    async with local_receiver(hits=hits, reply=moved) as (url, _):
        target = await resolve_target(url, TargetAccess(allow_loopback=True), resolver(["127.0.0.1"])[0])
        with pinned(target):
            answer = await (await pinned_client()).post(url, content=b"{}")
    assert answer.status_code == 302 and len(hits) == 1
