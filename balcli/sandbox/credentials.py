"""Credentials the sandbox accepts by default. All fake: they only open the sandbox.

- ``DEMO_CREDENTIALS``: what ``balcli --sandbox`` uses (CoinW spot and CoinW affiliate share the ``coinw`` key).
- ``VECTOR_CREDENTIALS``: the keys of ``tests/data/signing-vectors.json``, so a vector request can be
  replayed verbatim against a sandbox with a frozen clock.
- ``DEMO_STATIC_TOKEN``: a Cryptofuse bearer token with scope ``read write`` that never expires.
- ``LIMITED_CREDENTIALS``: a key that authenticates but lacks the permission of the broker / affiliate / snapshot
  endpoints (Zoomex 10005, CoinW affiliate 6003, Binance -2015), and a Cryptofuse client allowed only ``read``.
"""

from __future__ import annotations

DEMO_CREDENTIALS: dict[str, dict[str, str]] = {
    "zoomex": {"api_key": "sandbox-zoomex-key-0001", "api_secret": "sandbox-zoomex-secret-0001"},
    "coinw": {"api_key": "sandbox-coinw-key-0001", "api_secret": "sandbox-coinw-secret-0001"},
    "binance": {"api_key": "sandbox-binance-key-0001", "api_secret": "sandbox-binance-secret-0001"},
    "cryptofuse": {"client_id": "sandbox-cryptofuse-client", "client_secret": "sandbox-cryptofuse-secret"},
}

DEMO_STATIC_TOKEN = "sandbox-static-bearer-token-0001"

VECTOR_CREDENTIALS: dict[str, str] = {
    "balcli-test-key-0001": "balcli-test-secret-0001",
    # Binance's public documentation key pair (docs/apis/binance.md, "Test vectors")
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A":
        "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    # the example client (docs/apis/cryptofuse.md, "Authentication")
    "balcli-client-id": "balcli-client-secret",
}

LIMITED_CREDENTIALS: dict[str, str] = {"api_key": "sandbox-limited-key-0001",
                                       "api_secret": "sandbox-limited-secret-0001"}
LIMITED_CLIENT: dict[str, str] = {"client_id": "sandbox-readonly-client", "client_secret": "sandbox-readonly-secret"}


def default_accounts() -> dict[str, str]:
    """key (or Cryptofuse client id) -> secret, as ``Sandbox.accounts`` starts out."""
    accounts = {c["api_key"]: c["api_secret"] for name, c in DEMO_CREDENTIALS.items() if "api_key" in c}
    accounts[DEMO_CREDENTIALS["cryptofuse"]["client_id"]] = DEMO_CREDENTIALS["cryptofuse"]["client_secret"]
    accounts.update(VECTOR_CREDENTIALS)
    accounts[LIMITED_CREDENTIALS["api_key"]] = LIMITED_CREDENTIALS["api_secret"]
    accounts[LIMITED_CLIENT["client_id"]] = LIMITED_CLIENT["client_secret"]
    return accounts
