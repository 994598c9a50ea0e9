"""Service-failure radar: mine reviews and complaints for service failures."""

__version__ = "0.1.0"
