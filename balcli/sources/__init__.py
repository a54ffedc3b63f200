"""One module per API: an ``Api`` (signing, and the ``check`` that turns its envelope into typed errors) and
endpoint functions that build params, follow pages and yield pages of row dicts. Nothing here imports typer or
rich, or prints.

Every exchange's modules offer the same three entry points, which ``balcli.exchanges`` names for the generic
commands (``auth status --check``, ``doctor``, ``summary``): ``connect(link)`` -> its ``Api``,
``probe(link)`` (one cheap signed call) and ``server_time(client, base_url)`` where the API has a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from balcli.http import HttpClient


class Link(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    """What a source needs to talk to its exchange in one run."""

    client: HttpClient
    settings: Mapping[str, Any]  # the exchange's effective config section: base_url, rate_limit, recv_window…
    fields: Mapping[str, str]  # the resolved credential fields
    token_cache: Path | None = None  # where a fetched OAuth token may be cached (None: never)

    def rate_limit(self, documented: float) -> float:
        """The configured ``rate_limit``, else the API's documented one."""
        return self.settings.get("rate_limit") or documented
