"""What never leaves the process in clear: secrets, signatures, tokens and Authorization values (README "Credentials").

Used by the transport for ``-v``/``-vv`` lines and for every error message built from an answer. Names are
matched by what they are, not by which exchange sends them: a header or parameter whose name says key, sign,
secret, token or authorization is shown as ``***``, whatever API it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"
# A header or query parameter with one of these in its (lower-case) name carries a key, signature or token.
_SECRET_NAME_PARTS = ("sign", "secret", "token", "authorization", "api_key", "apikey", "api-key", "passphrase")
# A token in a JSON body (also one cut short: the closing quote is optional) or in a form-encoded one.
_TOKEN_RE = re.compile(r'("(?:access_token|refresh_token|client_secret|token)"\s*:\s*)"[^"]*"?')
_FORM_TOKEN_RE = re.compile(r"(?<![\w-])((?:access_token|refresh_token|client_secret)=)[^&\s\"']*")


def is_secret_name(name: str) -> bool:
    """Whether a header or parameter of this name carries a secret or something derived from one."""
    lower = name.lower()
    return any(part in lower for part in _SECRET_NAME_PARTS)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every token-like value (JSON or form-encoded) and every known secret replaced. Redact a
    whole text before cutting it: a token or secret cut in two no longer matches."""
    text = _TOKEN_RE.sub(lambda m: m.group(1) + f'"{REDACTED}"', text)
    text = _FORM_TOKEN_RE.sub(lambda m: m.group(1) + REDACTED, text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def redact_query(query: str) -> str:
    parts = []
    for part in query.split("&") if query else []:
        key = part.split("=", 1)[0]
        parts.append(f"{key}={REDACTED}" if is_secret_name(key) else part)
    return "&".join(parts)


def redact_headers(headers: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{k}: {REDACTED if is_secret_name(k) else v}" for k, v in headers)
