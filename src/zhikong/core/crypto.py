"""Protection of personal identifiers at rest.

* ``encrypt``/``decrypt``: AES-256-GCM with a random 96-bit nonce; the key is derived from the
  installation secret with HKDF-SHA256 (info ``zhikong/pii/v1``). Stored form:
  ``v1:`` + base64url(nonce || ciphertext || tag).
* ``keyed_hash``: HMAC-SHA256 with a second derived key, hex, over the *normalised* identifier.
  It is stored beside the ciphertext for exact lookup, and is the pseudonym the lake uses for a
  person, so no plaintext identifier is ever written there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zhikong.core.errors import ConfigError

_PREFIX = "v1:"


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"zhikong", info=info).derive(secret)


class PiiCipher:
    """Encrypts, decrypts and hashes identifiers with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigError("the PII secret must be at least 16 bytes")
        self._aead = AESGCM(_derive(secret, b"zhikong/pii/v1"))
        self._hkey = _derive(secret, b"zhikong/hash/v1")

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + ct).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith(_PREFIX):
            raise ConfigError("unknown ciphertext version")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()

    def keyed_hash(self, normalised: str) -> str:
        return hmac.new(self._hkey, normalised.encode(), hashlib.sha256).hexdigest()

    def hash_key(self) -> bytes:
        """The HMAC key, for engines that compute the same pseudonyms in bulk."""
        return self._hkey


@lru_cache(maxsize=8)
def cipher_for(secret: bytes) -> PiiCipher:
    return PiiCipher(secret)


def get_cipher() -> PiiCipher:
    """The cipher of the current settings."""
    from zhikong.core.config import get_settings

    return cipher_for(get_settings().secret_bytes())


def mask_middle(value: str, keep_head: int, keep_tail: int) -> str:
    """``5001**********1234``-style masking."""
    if len(value) <= keep_head + keep_tail:
        return "*" * len(value)
    return value[:keep_head] + "*" * (len(value) - keep_head - keep_tail) + value[-keep_tail:]
