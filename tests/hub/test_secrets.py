"""Sealed secrets: round trip, bound to their purpose and key, and the key made once."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from hub.config import HubConfig
from hub.secrets import SecretBox, SecretsKeyError


def test_sealed_value_opens_only_for_its_purpose(tmp_path):
    box = SecretBox.from_config(HubConfig(data_dir=str(tmp_path)))
    sealed = box.seal("s3cret-pässword", "device:1:api_password")
    assert b"s3cret" not in sealed
    assert box.open(sealed, "device:1:api_password") == "s3cret-pässword"
    with pytest.raises(ValueError):
        box.open(sealed, "device:2:api_password")  # copied into another row: refused
    assert box.seal("x", "p") != box.seal("x", "p")  # a fresh nonce every time


def test_key_file_is_made_once_private_and_reused(tmp_path):
    config = HubConfig(data_dir=str(tmp_path))
    sealed = SecretBox.from_config(config).seal("v", "p")
    key_file = tmp_path / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SecretBox.from_config(config).open(sealed, "p") == "v"  # a restart opens it


def test_configured_key_wins_and_a_wrong_key_does_not_open(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    box = SecretBox.from_config(HubConfig(data_dir=str(tmp_path), secrets_key=key))
    sealed = box.seal("v", "p")
    assert not (tmp_path / "secrets.key").exists()
    other = SecretBox.from_config(HubConfig(data_dir=str(tmp_path)))
    with pytest.raises(ValueError):
        other.open(sealed, "p")
    with pytest.raises(ValueError):
        other.open(b"garbage", "p")


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_bad_configured_key_is_refused(tmp_path, bad):
    with pytest.raises(SecretsKeyError):
        SecretBox.from_config(HubConfig(data_dir=str(tmp_path), secrets_key=bad))
