"""API keys: loaded once per container from configuration, compared in constant time.

Every configured key is compared (no early exit), so the time a check takes says nothing about
which key, or how much of one, a caller guessed.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from k2.api.settings import ApiSettings
from k2.aws import aws_client
from k2.settings import K2Settings


class ApiKeysUnavailableError(RuntimeError):
    """No key is configured: the API would refuse every request, so it refuses to start."""


@dataclass(frozen=True)
class ApiKeyring:
    keys: tuple[bytes, ...]

    @classmethod
    def of(cls, values: Iterable[str]) -> ApiKeyring:
        keys = tuple(value.encode() for value in values if value)
        if not keys:
            raise ApiKeysUnavailableError(
                "no API key configured: set K2_API_KEYS (local), K2_API_KEYS_SECRET_ID "
                "(Secrets Manager) or K2_API_KEYS_PARAMETER (SSM)"
            )
        return cls(keys)

    def accepts(self, candidate: str) -> bool:
        offered = candidate.encode()
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(offered, key)
        return matched


def parse_key_list(text: str) -> list[str]:
    """A secret's value: a JSON list of keys, or comma-separated keys."""
    stripped = text.strip()
    if stripped.startswith("["):
        values = json.loads(stripped)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiKeysUnavailableError("the API keys secret must be a JSON list of strings")
        return [value.strip() for value in values]
    return [part.strip() for part in stripped.split(",")]


def load_keyring(settings: ApiSettings, aws: K2Settings) -> ApiKeyring:
    """The keys from the environment, Secrets Manager and SSM (whichever are configured)."""
    values = [key.get_secret_value() for key in settings.keys]
    if settings.keys_secret_id or settings.keys_parameter:
        from aws_lambda_powertools.utilities import parameters

        if settings.keys_secret_id:
            secrets = parameters.SecretsProvider(boto3_client=aws_client("secretsmanager", aws))
            values += parse_key_list(str(secrets.get(settings.keys_secret_id)))
        if settings.keys_parameter:
            ssm = parameters.SSMProvider(boto3_client=aws_client("ssm", aws))
            values += parse_key_list(str(ssm.get(settings.keys_parameter, decrypt=True)))
    return ApiKeyring.of(values)
