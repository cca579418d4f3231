"""Kubernetes name and label-key rules, as apimachinery's validation package states them.

Kept as plain functions so models, the CRD schema and the scenario loader share one definition.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# The CRD schema enforces the shape; the length limits of each part are checked by label_key_error.
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
)
_DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_PATTERN)
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def dns1123_label_error(value: str) -> str | None:
    """Return why `value` is not a DNS-1123 label, or None when it is one."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be no more than {DNS1123_LABEL_MAX} characters"
    if not _DNS1123_LABEL.match(value):
        return (
            "must be a DNS-1123 label: lower case alphanumeric characters or '-', "
            "starting and ending with an alphanumeric character"
        )
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    """Return why `value` is not a DNS-1123 subdomain, or None when it is one."""
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return (
            "must be a DNS-1123 subdomain: lower case alphanumeric characters, '-' or '.', "
            "starting and ending with an alphanumeric character"
        )
    return None


def label_key_error(key: str) -> str | None:
    """Return why `key` is not a valid label key (`[prefix/]name`), or None when it is one."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "prefix part must be non-empty"
        if err := dns1123_subdomain_error(prefix):
            return f"prefix part {err}"
    if not name:
        return "name part must be non-empty"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"name part must be no more than {QUALIFIED_NAME_MAX} characters"
    if not _QUALIFIED_NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Return why `value` is not a valid label value, or None when it is one."""
    if len(value) > QUALIFIED_NAME_MAX:
        return f"must be no more than {QUALIFIED_NAME_MAX} characters"
    if not _LABEL_VALUE.match(value):
        return (
            "must be empty or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def check_topology_levels(levels: list[str]) -> list[str]:
    """Topology level keys, widest first: valid label keys, none repeated (raises ValueError)."""
    for key in levels:
        if err := label_key_error(key):
            raise ValueError(f"topology level {key!r} is not a valid label key: {err}")
    if len(set(levels)) != len(levels):
        raise ValueError("topology levels must not repeat")
    return levels
