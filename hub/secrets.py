"""Secrets the hub must give back to a router (device API passwords, customers' PPP passwords).

They cannot be hashed, since the agent needs the clear text to log in or to write a PPP secret,
so they are sealed with AES-256-GCM: a random 96-bit nonce per value, and the value's purpose
(``device:12:api_password``) as associated data, so a sealed value copied into another row or
column does not open. The key is ``secrets_key`` (base64 of 32 bytes) in the hub config, else
``data_dir/secrets.key``, made on first start. Hub processes on several hosts must share it.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.config import HubConfig
from hub.keyfile import local_key

KEY_FILE = "secrets.key"
VERSION = b"\x01"  # first byte of every sealed value: the key/cipher generation
NONCE_BYTES = 12


class SecretsKeyError(ValueError):
    """The configured key is not base64 of 32 bytes."""


class SecretBox:
    """Seals and opens small secrets; sealed values are bytes for a ``bytea`` column."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretsKeyError("secrets_key must be 32 bytes (base64-encoded)")
        self._aead = AESGCM(key)

    @classmethod
    def from_config(cls, config: HubConfig) -> SecretBox:
        text = config.secrets_key or local_key(
            config, KEY_FILE, lambda: base64.b64encode(os.urandom(32)).decode()
        )
        try:
            key = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise SecretsKeyError("secrets_key is not valid base64") from exc
        return cls(key)

    def seal(self, plaintext: str, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), purpose.encode())
        return VERSION + nonce + sealed

    def open(self, sealed: bytes, purpose: str) -> str:
        """The clear text; ValueError when the value was sealed for another purpose or key."""
        if sealed[:1] != VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
            raise ValueError("not a sealed secret of this hub")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, purpose.encode()).decode()
        except InvalidTag as exc:
            raise ValueError("sealed secret does not open with this key and purpose") from exc
