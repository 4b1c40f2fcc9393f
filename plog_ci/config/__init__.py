"""plog.yml: load, validate, and report every problem as file:line:col."""

from plog_ci.config.model import Config, LoadConfig, OpenAPIConfig, ReportConfig, ServiceConfig
from plog_ci.config.parse import load_config, parse_config
from plog_ci.config.problems import SCHEMA_PATH

__all__ = [
    "SCHEMA_PATH",
    "Config",
    "LoadConfig",
    "OpenAPIConfig",
    "ReportConfig",
    "ServiceConfig",
    "load_config",
    "parse_config",
]
