"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits), through pyotp.

A code is good once: the caller stores the step of the last accepted code and asks only for
later steps (RFC 6238 §5.2). Secrets are 160 bits (RFC 4226 §4); pyotp refuses those under 112
bits, so a user still holding an old 80-bit secret cannot pass the second factor and enrols anew.
"""

from __future__ import annotations

import hmac
import sys
import time

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# Steps accepted either side of now: phone clocks drift.
WINDOW = 1
ISSUER = "gridapp"


def current_step(at: float | None = None) -> int:
    """Return the 30 s step holding ``at`` (default: now)."""
    return int((time.time() if at is None else at) // STEP_SECONDS)


def code_at_step(secret: str, step: int) -> str:
    """Return the code of one step."""
    return str(pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step))


def totp_now(secret: str, at: float | None = None) -> str:
    """Return the code for the step holding ``at`` (default: now)."""
    return code_at_step(secret, current_step(at))


def matching_step(
    secret: str,
    code: str | None,
    *,
    after: int | None = None,
    window: int = WINDOW,
    at: float | None = None,
) -> int | None:
    """Return the step whose code ``code`` is, within ``window`` steps of now and after ``after``.

    None when no such step exists: a wrong code, a reused one, a malformed one, or a secret
    pyotp refuses (too short, not Base32).
    """
    if code is None:
        return None
    code = code.strip()
    # Exactly six ASCII digits: str.isdigit() also takes "١٢٣٤٥٦" and "²".
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = current_step(at)
    try:
        for step in range(now - window, now + window + 1):
            if after is not None and step <= after:
                continue
            if hmac.compare_digest(code_at_step(secret, step), code):
                return step
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return None
    return None


def verify_totp(
    secret: str, code: str | None, *, window: int = WINDOW, at: float | None = None
) -> bool:
    """Say whether ``code`` is a code of ``secret`` near now (reuse is the caller's to refuse)."""
    return matching_step(secret, code, window=window, at=at) is not None


def new_secret() -> str:
    """Return a fresh 160-bit Base32 secret (32 characters)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """Return the otpauth:// URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


if __name__ == "__main__":  # python -m gridapp.accounts.totp SECRET → the current code
    print(totp_now(sys.argv[1]))
