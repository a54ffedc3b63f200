"""``balcli diff VIEW``: what changed between two recorded runs (the code lives with ``balcli history``)."""

from balcli.commands.history import register_diff as register

__all__ = ["register"]
