"""Reading one TOML table with typed getters that name the field on every error.

A ``Section`` remembers which keys were read, so ``done()`` can refuse unknown fields: a
misspelt option is an error, never silently ignored.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from s6nf.config.schema import ConfigError

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_MISSING: Any = object()


class Section:
    """One TOML table at ``path`` (``hosts.nf0.data.in``)."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, got {data!r}")
        self.data: dict[str, Any] = data
        self.path = path
        self._read: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any, kind: type, what: str) -> Any:
        self._read.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise ConfigError(self.field(key), f"missing; expected {what}")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise ConfigError(self.field(key), f"expected {what}, got {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, str, "a string")

    def integer(self, key: str, lo: int, hi: int, default: Any = _MISSING) -> Any:
        value = self._get(key, default, int, f"an integer in [{lo}, {hi}]")
        if value is not None and not lo <= value <= hi:
            raise ConfigError(self.field(key), f"{value} is out of range [{lo}, {hi}]")
        return value

    def port(self, key: str, default: Any = _MISSING) -> Any:
        return self.integer(key, 1, 65535, default)

    def table(self, key: str, default: Any = _MISSING) -> Section:
        return Section(self._get(key, default, dict, "a table"), self.field(key))

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if value not in choices:
            raise ConfigError(self.field(key), f"unknown value {value!r}; one of "
                              f"{', '.join(choices)}")
        return value

    def mac(self, key: str) -> Any:
        value = self.text(key)
        if not _MAC.match(value.lower()):
            raise ConfigError(self.field(key), f"bad MAC address {value!r}; expected six "
                              "colon-separated hex bytes like 02:53:36:00:00:01")
        return value.lower()

    def interface_address(self, key: str) -> Any:
        """An IPv4 address with prefix length, e.g. ``10.53.0.2/30``."""
        value = self.text(key)
        try:
            iface = ipaddress.IPv4Interface(value)
        except ValueError:
            iface = None
        if iface is None or "/" not in value:
            raise ConfigError(self.field(key), f"bad address {value!r}; expected an IPv4 "
                              "address with prefix length like 10.53.0.2/30")
        return value

    def network(self, key: str) -> Any:
        value = self.text(key)
        try:
            ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ConfigError(self.field(key), f"bad network {value!r} ({exc}); expected "
                              "one like 10.54.0.0/24") from None
        return value

    def endpoint(self, key: str) -> Any:
        """``ip:port`` with an IPv4 address and a port in range."""
        value = self.text(key)
        host, _, port = value.rpartition(":")
        try:
            ipaddress.IPv4Address(host)
            ok = port.isdigit() and 1 <= int(port) <= 65535
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(self.field(key), f"bad address {value!r}; expected ip:port like "
                              "10.54.0.3:9559 with a port in [1, 65535]")
        return value

    def done(self) -> None:
        """Refuse every key that was not read."""
        for key in self.data:
            if key not in self._read:
                known = ", ".join(sorted(self._read)) or "none"
                raise ConfigError(self.field(key), f"unknown field; known fields here: {known}")
