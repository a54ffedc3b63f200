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
# A secret-named value in a JSON body (also one cut short: the closing quote is optional) or a form/query
# string: tokens, secrets, keys and every signature ("sign", "signature"), whichever API echoes them.
_NAME = r"(?![\w-]*_type\b)[\w-]*(?:sign|secret|token|authorization|api_?key|api-key|passphrase)[\w-]*"
_TOKEN_RE = re.compile(r'("' + _NAME + r'"\s*:\s*)"[^"]*"?', re.IGNORECASE)
_FORM_TOKEN_RE = re.compile(r"(?<![\w-])(" + _NAME + r"=)[^&\s\"'\]\[,;)]*", re.IGNORECASE)
# An Authorization value in any text (an echoed header): the scheme stays, the credentials go.
_AUTH_RE = re.compile(r"\b(Basic|Bearer|Digest|HMAC[\w-]*)(\s+)[A-Za-z0-9+/=._~%:-]{4,}", re.IGNORECASE)
# A password in a URL (``http://user:pass@proxy``): the whole userinfo goes.
_USERINFO_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@?#'\"]+@", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a header or parameter of this name carries a secret or something derived from one."""
    lower = name.lower()
    return any(part in lower for part in _SECRET_NAME_PARTS)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every token-like value (JSON or form-encoded) and every known secret replaced. Redact a
    whole text before cutting it: a token or secret cut in two no longer matches."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_RE.sub(lambda m: m.group(1) + f'"{REDACTED}"', text)
    text = _FORM_TOKEN_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTH_RE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return redact_url(text)


def redact_url(text: str) -> str:
    """``text`` with the userinfo of every URL in it (``user:password@``) replaced."""
    return _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + "@", text)


def redact_query(query: str) -> str:
    parts = []
    for part in query.split("&") if query else []:
        key = part.split("=", 1)[0]
        parts.append(f"{key}={REDACTED}" if is_secret_name(key) else part)
    return "&".join(parts)


def redact_headers(headers: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{k}: {REDACTED if is_secret_name(k) else v}" for k, v in headers)
