"""The environment variables a settings class reads, derived from its own ``env_prefix``."""

from __future__ import annotations

from pydantic_settings import BaseSettings


def settings_variables(*classes: type[BaseSettings]) -> set[str]:
    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in classes
        for name in cls.model_fields
    }
