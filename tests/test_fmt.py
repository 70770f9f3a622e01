"""People's formats (dispatch_analytics.fmt), used by every human-facing surface."""

import math

import pytest

from dispatch_analytics import fmt


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0:00"),
        (59.4, "0:59"),
        (59.6, "1:00"),
        (726, "12:06"),
        (3600, "1:00:00"),
        (3725, "1:02:05"),
        (-65, "-1:05"),
        (None, "–"),
        (math.nan, "–"),
        (math.inf, "–"),
    ],
)
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text


def test_share_count_number():
    assert fmt.share(0.645) == "64.5%"
    assert fmt.share(0.9051, 0) == "91%"
    assert fmt.share(None) == "–"
    assert fmt.count(8509) == "8,509"
    assert fmt.number(1234.5) == "1,234.5"
    assert fmt.number(12.34) == "12.3"
    assert fmt.number(0.1234) == "0.123"
    assert fmt.number(3.0) == "3"
    assert fmt.number(True) == "yes"


def test_value_by_column_and_labels():
    assert fmt.value("p90_s", 726) == "12:06"
    assert fmt.value("compliance", 0.645) == "64.5%"
    assert fmt.value("first_due_share", 0.905) == "90.5%"
    assert fmt.value("n", 8509) == "8,509"
    assert fmt.value("met", False) == "no"
    assert fmt.value("flag", None) == "–"
    assert fmt.label("p90_s") == "90th pct"
    assert fmt.label("n_missing") == "excluded"
    assert fmt.label("new_thing_s") == "new thing"
