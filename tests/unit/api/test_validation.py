import pytest

from scheduler.api.validation import dns1123_label_error, label_key_error, label_value_error


@pytest.mark.parametrize(
    "key",
    ["kubernetes.io/hostname", "topology.kubernetes.io/zone", "rack", "network.phalanx.dev/block", "a_b.c-d"],
)
def test_well_formed_label_keys_are_accepted(key: str) -> None:
    assert label_key_error(key) is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "name part must be non-empty"),
        ("/rack", "prefix part must be non-empty"),
        ("Example.com/rack", "prefix part must be a DNS-1123 subdomain"),
        ("example.com/", "name part must be non-empty"),
        ("-rack", "must start and end with an alphanumeric"),
        ("r" * 64, "no more than 63"),
        ("a/b/c", "prefix part"),
    ],
)
def test_malformed_label_keys_say_which_part_is_wrong(key: str, reason: str) -> None:
    error = label_key_error(key)
    assert error is not None
    assert reason in error


def test_template_names_must_be_dns_labels() -> None:
    assert dns1123_label_error("workers") is None
    assert dns1123_label_error("Workers") is not None
    assert dns1123_label_error("w" * 64) is not None


def test_label_values_may_be_empty_but_not_malformed() -> None:
    assert label_value_error("") is None
    assert label_value_error("rack-1") is None
    assert label_value_error("rack 1") is not None
