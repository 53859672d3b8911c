"""API keys: configured in the environment, Secrets Manager or SSM; compared in constant time."""

from __future__ import annotations

import json
import uuid

import pytest

from k2.api.keys import ApiKeyring, ApiKeysUnavailableError, load_keyring, parse_key_list
from k2.api.settings import ApiSettings
from k2.aws import aws_client
from k2.settings import K2Settings


@pytest.mark.unit
def test_a_keyring_accepts_exactly_its_keys() -> None:
    keyring = ApiKeyring.of(["alpha-key", "beta-key"])
    assert keyring.accepts("alpha-key") and keyring.accepts("beta-key")
    for wrong in ("alpha", "alpha-key ", "ALPHA-KEY", "", "beta-keyx", "ключ"):
        assert not keyring.accepts(wrong)


@pytest.mark.unit
def test_no_configured_key_refuses_to_start() -> None:
    with pytest.raises(ApiKeysUnavailableError, match="K2_API_KEYS"):
        ApiKeyring.of(["", ""])
    with pytest.raises(ApiKeysUnavailableError):
        load_keyring(ApiSettings(keys=()), K2Settings())


@pytest.mark.unit
def test_secret_values_are_json_lists_or_comma_separated() -> None:
    assert parse_key_list('["a", " b "]') == ["a", "b"]
    assert parse_key_list(" a, b ,c") == ["a", "b", "c"]
    with pytest.raises(ApiKeysUnavailableError):
        parse_key_list('["a", 3]')


@pytest.mark.unit
def test_keys_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_API_KEYS", "one-key, two-key")
    settings = ApiSettings()
    assert [key.get_secret_value() for key in settings.keys] == ["one-key", "two-key"]
    assert "one-key" not in repr(settings)  # secrets never reach a log line


@pytest.mark.integration
def test_keys_load_from_secrets_manager_and_ssm(k2_settings: K2Settings) -> None:
    secret_id = f"k2/api-keys/{uuid.uuid4().hex[:8]}"
    aws_client("secretsmanager", k2_settings).create_secret(
        Name=secret_id, SecretString=json.dumps(["from-secrets-manager"])
    )
    parameter = f"/k2/api-keys/{uuid.uuid4().hex[:8]}"
    aws_client("ssm", k2_settings).put_parameter(
        Name=parameter, Value="from-ssm-1,from-ssm-2", Type="SecureString"
    )
    keyring = load_keyring(
        ApiSettings(keys_secret_id=secret_id, keys_parameter=parameter), k2_settings
    )
    for key in ("from-secrets-manager", "from-ssm-1", "from-ssm-2"):
        assert keyring.accepts(key)
    assert not keyring.accepts("from-ssm")
