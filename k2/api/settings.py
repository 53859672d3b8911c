"""The API's configuration (prefix ``K2_API_``): where its keys come from and what it allows.

Keys are secrets, so the repository holds none. Locally they come from the environment
(``K2_API_KEYS``, written by the local cloud); in AWS from Secrets Manager
(``K2_API_KEYS_SECRET_ID``) or SSM Parameter Store (``K2_API_KEYS_PARAMETER``), read once per
Lambda container.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_CORS_ORIGINS = (
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:8080",
    "http://127.0.0.1:8080",
)


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K2_API_", extra="ignore", frozen=True)

    keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="Accepted X-API-Key values, comma-separated (local use)."
    )
    keys_secret_id: str | None = Field(
        None, description="Secrets Manager secret holding the keys (comma-separated or JSON list)."
    )
    keys_parameter: str | None = Field(
        None, description="SSM SecureString parameter holding the keys (comma-separated)."
    )
    cursor_secret: SecretStr | None = Field(
        None,
        description="HMAC secret signing replay cursors; the same in every container (or a "
        "replay's next page fails on another). The engine's built-in one if unset.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_CORS_ORIGINS, description="Origins a browser may call the API from."
    )
    max_body_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest request body accepted (413 above it)."
    )
    metadata_ttl_seconds: float = Field(
        30.0, ge=0, description="How long warm invocations reuse loaded table metadata."
    )

    @field_validator("keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
