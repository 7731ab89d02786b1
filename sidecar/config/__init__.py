# SPDX-License-Identifier: Apache-2.0
"""Configuration: the schema, its loader and the cross-field rules.

Parsed once at start-up into frozen dataclasses (:class:`Settings`) that the rest of the sidecar
receives explicitly; nothing else reads the config file or the environment.
"""

from sidecar.config.errors import ConfigError, ConfigIssue
from sidecar.config.loader import load_config_data, load_config_file, load_config_text
from sidecar.config.schema import BackendSettings, HealthSettings, ServerSettings, Settings

__all__ = [
    "BackendSettings",
    "ConfigError",
    "ConfigIssue",
    "HealthSettings",
    "ServerSettings",
    "Settings",
    "load_config_data",
    "load_config_file",
    "load_config_text",
]
