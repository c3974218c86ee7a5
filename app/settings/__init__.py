# edge: the settings, read from the environment and .env
"""Configuration: read once at startup into one typed, validated object.

Nothing else in the project reads the environment. A wrong or missing value stops
the server with :class:`ConfigError`, whose message names the variable and the fix.
"""

from app.errors import ConfigError
from app.settings.model import Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
