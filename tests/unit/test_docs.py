"""The README links to figures instead of copying them: a figure copied into two pages drifts
(the README once quoted 2.4 ms, 0.78 times and 11.4 % where the performance page had
4.47 ms, 0.82 times and 13.3 %). Each measured figure lives in one page under docs/, with
its date and command.

Covers: README.md
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
# A measured figure: a number with a unit of time, a share, a ratio, a size or a rate.
TIMES = "\u00d7"  # the multiplication sign the docs write ratios with
FIGURE = re.compile(rf"\b\d[\d,]*(?:\.\d+)?\s?(?:ms|%|{TIMES}|x\b|GB|MB|GiB|MiB|RPS|rec/s)")


def _prose(text: str) -> str:
    """The README without its code blocks (commands may carry numbers)."""
    return re.sub(r"```.*?```", "", text, flags=re.DOTALL)


def test_the_readme_quotes_no_measured_figure() -> None:
    found = FIGURE.findall(_prose(README.read_text()))
    assert found == [], f"move these to the page that measures them and link it: {found}"


def test_the_figure_pattern_sees_the_figures_that_drifted() -> None:
    drifted = f"one client 2.4 ms over; 0.78{TIMES} the limit; 11.4 % and 3.6 GB; 1,234 RPS"
    found = ["2.4 ms", f"0.78{TIMES}", "11.4 %", "3.6 GB", "1,234 RPS"]
    assert FIGURE.findall(drifted) == found
