"""Operator passwords: scrypt from the standard library, its cost stored with each hash.

A hash is `scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`, so the cost can be
raised later and old hashes still verify. N = 2^15, r = 8 (32 MiB, about
0.1 s): within OWASP's scrypt options and affordable for a serverless
function, whose sign-ins the database throttles anyway.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

N, R, P = 2**15, 8, 1
KEY_BYTES = 32
MIN_LENGTH = 12
MAX_LENGTH = 1024
# A stored hash asking for more than this is refused rather than computed (a hand-written row).
_MAX_N = 2**20


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=length)


def hash_password(password: str, *, n: int = N) -> str:
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, n, R, P, KEY_BYTES)
    return f"scrypt${n}${R}${P}${_b64(salt)}${_b64(key)}"


@functools.cache
def _dummy() -> str:
    """Checked when the account does not exist, so a wrong name costs what a wrong password does."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; False for a missing or malformed hash (after the same work)."""
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = (stored or "").split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, key = base64.b64decode(salt_text, validate=True), base64.b64decode(key_text, validate=True)
        if scheme != "scrypt" or not (2 <= n <= _MAX_N and n & (n - 1) == 0) or not (1 <= r <= 32 and 1 <= p <= 4):
            raise ValueError
        if not 16 <= len(key) <= 64:
            raise ValueError
    except ValueError:
        if stored != _dummy():
            verify_password(password, _dummy())
        return False
    candidate = _scrypt(password[:MAX_LENGTH], salt, n, r, p, len(key))
    return hmac.compare_digest(candidate, key)


def generate_password() -> str:
    """24 URL-safe characters (144 bits): printed once, never stored."""
    return secrets.token_urlsafe(18)


def password_problem(password: str) -> str | None:
    """What is wrong with a chosen password, in one line that never repeats it; None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters"
    if "\x00" in password:
        return "password must not contain a NUL character"
    return None
