"""Where the service may call out: one policy for webhook jobs, alert channels and anything else.

People point the service at URLs (a webhook job's target, an alert channel),
so it must not become a way into its own network (DESIGN.md, Outbound calls):

- At write time (`target_problem`, `check_target_at_write`): `https` only,
  no credentials in the URL (a token belongs in the payload or a header),
  and a host that is a literal address (`10.0.0.1`, `[::1]`, and the old
  forms `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) is checked now.
- At call time (`resolve_target`, then `pinned`): the host is resolved once;
  any address that is loopback, private (RFC 1918, fc00::/7), link-local
  (169.254.0.0/16 with the cloud metadata service, fe80::/10), CGNAT
  (100.64.0.0/10), unspecified, multicast or otherwise not public refuses
  the call, for good (no retry). The connection then goes to the address
  that was checked (`pinned_client`): a DNS answer that changes between the
  check and the connect cannot move it. The URL, the Host header, TLS's SNI
  and its certificate check all keep the name.
- `ALLOW_HTTP_WEBHOOKS=true` (local development, tests) allows `http` and
  loopback targets, nothing more; `ALLOW_PRIVATE_TARGETS=true` allows the
  private ranges (and CGNAT, where Tailscale-like overlays live) for a
  self-hosted deployment that calls its own services. Link-local never.
- Redirects are never followed, and answers are read up to 2 KB (the callers
  read a preview; `pinned_client` follows no redirect).

Usage, for a new kind of outbound call:

    check_target_at_write(url, settings)          # raises TargetRefused: a 422 naming the field
    target = await resolve_target(url, TargetAccess.of(settings))  # TargetRefused: final; TargetUnresolved: retry
    with pinned(target):
        response = await (await pinned_client()).post(url, ...)
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpcore
import httpx

from lib.loop_local import loop_local

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> every address the host resolves to, as text.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(network) for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# What inet_aton reads as an IPv4 address besides the dotted quad: 2130706433, 0x7f000001, 0177.0.0.1, 127.1.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


class Settings(Protocol):
    """What the policy reads from lib.settings.Settings."""

    @property
    def allow_http_webhooks(self) -> bool: ...
    @property
    def allow_private_targets(self) -> bool: ...


class TargetRefused(Exception):
    """The policy refuses this target; the message is one line that names no secret (never the URL's path)."""


class TargetUnresolved(Exception):
    """The host could not be resolved now: a failure worth another try, not a refusal."""


@dataclass(frozen=True)
class TargetAccess:
    """What a deployment's settings allow beyond public https targets."""

    allow_loopback: bool = False
    allow_private: bool = False

    @classmethod
    def of(cls, settings: Settings) -> TargetAccess:
        return cls(allow_loopback=settings.allow_http_webhooks, allow_private=settings.allow_private_targets)


@dataclass(frozen=True)
class ResolvedTarget:
    """A target's host (as the connection pool names it) and the checked addresses the call connects to, in order."""

    host: str
    port: int
    addresses: tuple[str, ...]


# -- addresses ---------------------------------------------------------------------


def address_class(address: Address) -> str | None:
    """The refused class an address belongs to (`loopback`, `private`, ...), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 is 127.0.0.1.
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _CGNAT:
        return "CGNAT"
    if any(address in network for network in _PRIVATE):
        return "private"
    if not address.is_global:
        # Reserved, documentation, benchmarking, 0.0.0.0/8, broadcast: nothing a webhook lives on.
        return "reserved"
    return None


def address_problem(address: Address, access: TargetAccess) -> str | None:
    """Why the policy refuses `address` (its class, in words), or None when it may be called."""
    found = address_class(address)
    if found is None:
        return None
    if found == "loopback" and access.allow_loopback:
        return None
    if found in ("private", "CGNAT") and access.allow_private:
        return None
    hint = {
        "loopback": " (ALLOW_HTTP_WEBHOOKS=true allows it, for local development)",
        "private": " (ALLOW_PRIVATE_TARGETS=true allows it, for a self-hosted deployment)",
        "CGNAT": " (ALLOW_PRIVATE_TARGETS=true allows it, for a self-hosted deployment)",
        "link-local": " (never allowed: it holds the cloud metadata service)",
    }.get(found, "")
    return f"a {found} address{hint}"


def literal_address(host: str) -> Address | None:
    """The address a host names literally (IPv4 in any form inet_aton reads, IPv6), or None for a name."""
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


# -- write time ----------------------------------------------------------------------


def target_problem(url: str, access: TargetAccess) -> str | None:
    """Why a target may not be written (scheme, credentials, a refused literal address), or None.

    Only the scheme and host are ever echoed: a webhook URL often carries a
    token in its path or query. The URL must already parse (lib/outbound/webhooks.py checks that).
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if parts.username is not None or parts.password is not None:
        return "target must not carry credentials in its URL (user:password@); put a token in the payload or a header"
    address = literal_address(host)
    loopback = host.lower() in LOOPBACK_NAMES or (address is not None and address_class(address) == "loopback")
    if scheme == "http":
        if not loopback:
            return f"target must be an https URL, got http://{host}"
        if not access.allow_loopback:
            return f"target http://{host} refused: plain http needs ALLOW_HTTP_WEBHOOKS=true"
        return None
    if scheme != "https":
        shown = f"{scheme}://{host}" if scheme and host else "a URL without a scheme" if not scheme else f"{scheme}:"
        return f"target must be an https URL, got {shown}"
    if loopback and address is None:
        # `localhost` resolves to loopback everywhere: refused now, not at the first call.
        return None if access.allow_loopback else f"target {scheme}://{host} refused: it is a loopback name"
    if address is not None:
        problem = address_problem(address, access)
        if problem:
            return f"target {scheme}://{host} refused: {address} is {problem}"
    return None


def without_credentials(url: str | None) -> str | None:
    """`url` with any user:password@ replaced by `***@`: what the console and the CLI show of a stored target.

    Rows written before these rules (or by SQL) may hold credentials; they are never shown.
    """
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<not shown: not a valid URL>"
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def check_target_at_write(url: str, settings: Settings) -> None:
    """Raise TargetRefused (one line, for a 422 naming the field) when `url` may not be stored as a target."""
    problem = target_problem(url, TargetAccess.of(settings))
    if problem:
        raise TargetRefused(problem)


# -- call time -----------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# The resolver `resolve_target` uses; tests put a stub here.
RESOLVER: list[Resolver] = [system_resolver]


async def resolve_target(url: str, access: TargetAccess, resolver: Resolver | None = None) -> ResolvedTarget:
    """Resolve the target's host once and check every address; the call connects only to those.

    TargetRefused: the URL or an address is refused (final: the answer would
    be the same next time). TargetUnresolved: the name did not resolve now.
    """
    problem = target_problem(url, access)
    if problem:
        raise TargetRefused(problem)
    parsed = httpx.URL(url)
    # The pool names the origin by its raw (IDNA) host, without brackets: what `pinned` keys on.
    host = parsed.raw_host.decode("ascii").lower()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = literal_address(host)
    try:
        # A literal address is its own answer: no resolver (and no thread hop) for it.
        found = [str(literal)] if literal is not None else await (resolver or RESOLVER[0])(host, port)
    except (OSError, UnicodeError) as error:
        raise TargetUnresolved(f"the target's host did not resolve ({type(error).__name__})") from None
    addresses: list[Address] = []
    for text in found:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise TargetRefused("the target's host resolved to something that is not an address") from None
    if not addresses:
        raise TargetUnresolved("the target's host resolved to no address")
    for address in addresses:
        refused = address_problem(address, access)
        if refused:
            # The address is shown (it says which network), the path and query never.
            raise TargetRefused(f"target {parsed.scheme}://{host} refused: it resolves to {address}, {refused}")
    return ResolvedTarget(host=host, port=port, addresses=tuple(str(address) for address in addresses))


# -- pinning -------------------------------------------------------------------------

# host -> the checked addresses, for the calls made inside `pinned(...)`.
_PINS: ContextVar[dict[str, tuple[str, ...]] | None] = ContextVar("cronrelay_outbound_pins", default=None)


@contextmanager
def pinned(target: ResolvedTarget) -> Iterator[None]:
    """Calls through `pinned_client()` inside this block connect to the target's checked addresses."""
    token = _PINS.set({**(_PINS.get() or {}), target.host: target.addresses})
    try:
        yield
    finally:
        _PINS.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens a connection only to a pinned, checked address; a host without a pin is refused (fail closed)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = (_PINS.get() or {}).get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"no checked address for {host}: outbound calls go through resolve_target")
        # In the resolver's order, as a plain connect would (localhost: ::1, then 127.0.0.1).
        for address in addresses[:-1]:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self.inner.connect_tcp(
            addresses[-1], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound calls never use a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose every connection goes to a pinned address.

    httpx 0.28 takes no network backend, so the pool is rebuilt with the
    same settings and `PinnedBackend` (requirements.txt keeps httpx below
    0.29; tests/test_outbound_policy.py proves a pinned call connects to the
    checked address). No proxy from the environment: a proxy would make the
    connection, and the check would be worth nothing.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, http2=False, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(),
        )


async def _new_pinned_client() -> httpx.AsyncClient:
    from lib.outbound.http import DEFAULT_TIMEOUT, LIMITS

    return httpx.AsyncClient(
        transport=PinnedTransport(LIMITS), timeout=DEFAULT_TIMEOUT, follow_redirects=False, trust_env=False
    )


async def pinned_client() -> httpx.AsyncClient:
    """The client for calls to targets people configured, one per event loop; use it inside `pinned(...)`."""
    return await loop_local("http-pinned", _new_pinned_client)
