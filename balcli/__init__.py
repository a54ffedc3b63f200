"""balcli: a command-line balance inspector for exchange broker and affiliate accounts."""

__version__ = "0.1.0"
