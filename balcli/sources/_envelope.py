"""What every source's envelope check shares: the typed errors for a refused credential or parameter, and the
hints they carry. Above the transport, so hints may name balcli's commands and options."""

from __future__ import annotations

from balcli.errors import AuthError, UsageError


def auth_error(label: str, what: str, hint: str, code: object, msg: str | None) -> AuthError:
    return AuthError(f"{label} rejected the credentials: {what}", hint, api_code=code, api_message=msg)


KEY_HINT = "check the API key (`balcli auth status`), that it is enabled, and its permissions"
SIGN_HINT = "check the API secret; run with -vv to see the string that was signed"
IP_HINT = "add this machine's public IP to the key's allow-list on the exchange"
PERM_HINT = "enable the required permission for this API key on the exchange"


def param_error(label: str, code: object, msg: str | None) -> UsageError:
    return UsageError(f"{label} rejected a parameter", "check the option values against `--help`",
                      api_code=code, api_message=msg)
