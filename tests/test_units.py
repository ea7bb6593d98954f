import pytest

from core.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2s", 2),
        ("15m", 900),
        ("1h30m", 5400),
        ("3d", 259200),
        ("1w", 604800),
        ("250ms", 0.25),
        (90, 90),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "m15", "1h junk", "-5s", True])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_sizes():
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 524_288
    assert parse_size(1234) == 1234
    with pytest.raises(ValueError, match="size"):
        parse_size("ten megabytes")
