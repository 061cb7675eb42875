"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits).

Written out rather than taken from pyotp, which refuses secrets shorter than 112 bits; the
demo secret of the contract (``JBSWY3DPEHPK3PXP``, 80 bits) is such a secret, and authenticator
apps accept it. New secrets made here are 160 bits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import sys
import time

STEP_SECONDS = 30
DIGITS = 6


def _key(secret: str) -> bytes:
    cleaned = secret.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: str, counter: int) -> str:
    """Return the RFC 4226 code for a counter."""
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def totp_now(secret: str, at: float | None = None) -> str:
    """Return the code for the 30 s step holding ``at`` (default: now)."""
    return hotp(secret, int((time.time() if at is None else at) // STEP_SECONDS))


def verify_totp(secret: str, code: str | None, *, window: int = 1, at: float | None = None) -> bool:
    """Accept the current code and ``window`` steps either side (phone clocks drift)."""
    if not code or not code.strip().isdigit():
        return False
    step = int((time.time() if at is None else at) // STEP_SECONDS)
    return any(
        hmac.compare_digest(hotp(secret, step + delta), code.strip())
        for delta in range(-window, window + 1)
    )


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


if __name__ == "__main__":  # python -m gridapp.accounts.totp SECRET → the current code
    print(totp_now(sys.argv[1]))
