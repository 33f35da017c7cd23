"""The testbed configuration: one TOML file for the embedded and the Vagrant testbed."""

from s6nf.config.loader import DEFAULT_PATH, load, parse
from s6nf.config.schema import ConfigError, Host, Interface, TestbedConfig

__all__ = ["DEFAULT_PATH", "ConfigError", "Host", "Interface", "TestbedConfig", "load", "parse"]
