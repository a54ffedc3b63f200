"""A keyring backend for child processes (``PYTHON_KEYRING_BACKEND=tests.file_keyring.FileKeyring``): it reads
its entries from the JSON file named by ``TEST_KEYRING_FILE`` (``{"service/user": "password"}``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordSetError


class FileKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        return json.loads(Path(os.environ["TEST_KEYRING_FILE"]).read_text()).get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("read-only test keyring")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordSetError("read-only test keyring")
