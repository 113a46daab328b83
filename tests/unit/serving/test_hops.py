"""Reading the client's ``x-bulkhead-sent-ns``: a plausible time or nothing, never an error."""

from __future__ import annotations

import time

import pytest

from serving.hops import Hops, parse_sent_ns


def test_a_clock_reading_is_taken_as_sent() -> None:
    now = time.time_ns()
    assert parse_sent_ns(str(now).encode()) == now
    assert parse_sent_ns(str(now)) == now
    assert parse_sent_ns(b"9" * 19) == int("9" * 19)


@pytest.mark.parametrize(
    "raw",
    [
        b"9" * 20,  # past int64 and any clock reading
        b"9" * 310,  # overflowed the ingress hop's float: a 500 on every route
        b"9" * 5000,  # past int()'s digit limit
        "²",  # str.isdigit() says yes, int() says no
        "\u0661\u0662",  # Arabic-Indic digits: int() reads them, no client sends them
        b"\xb2",
        b"",
        b"-1",
        b" 12",
        b"1e9",
    ],
)
def test_anything_else_means_no_hop_timing(raw: bytes | str) -> None:
    assert parse_sent_ns(raw) is None


def test_the_largest_accepted_value_still_gives_a_header() -> None:
    assert "hop-ingress;dur=0.000" in Hops(sent_ns=int("9" * 19)).header(time.perf_counter())
