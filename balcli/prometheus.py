"""``-o prometheus``: the Prometheus text exposition format (version 0.0.4), for node_exporter's textfile
collector (README "Monitoring output: `-o prometheus`"). ``balcli summary`` and ``balcli check`` only.

Written here rather than with ``prometheus_client``: the format is a few lines of text (``# HELP``, ``# TYPE``,
``name{label="value"} number``), the library would be a runtime dependency that costs ~40 ms of imports per run,
and its registry holds values as ``float``, while balcli writes each balance exactly as the decimal text it
summed (Prometheus parses it as a float64 on its side; nothing in balcli does). The tests parse the output with
the reference parser (``prometheus_client.parser``, a test dependency) to prove it is valid.

Escaping follows the format: in label values ``\\`` -> ``\\\\``, ``"`` -> ``\\"``, newline -> ``\\n``; in HELP
text ``\\`` and newline likewise. Samples of one metric are written together, after its HELP and TYPE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, TextIO

PREFIX = "balcli_"


class Metric(NamedTuple):
    name: str  # without the balcli_ prefix
    help: str
    samples: Sequence[tuple[Mapping[str, str], str]]  # (labels, value as text)
    type: str = "gauge"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: object) -> str:
    """A sample value as text: ints and exact decimal strings as they are; a ``bool`` as 1/0."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def write(metrics: Iterable[Metric], out: TextIO) -> None:
    lines: list[str] = []
    for metric in metrics:
        name = PREFIX + metric.name
        lines.append(f"# HELP {name} {_help_text(metric.help)}")
        lines.append(f"# TYPE {name} {metric.type}")
        for labels, value in metric.samples:
            text = ",".join(f'{key}="{_label_value(str(v))}"' for key, v in labels.items())
            lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")
    out.write("".join(line + "\n" for line in lines))
    out.flush()
