"""Ed25519 signing key file handling and public key identity.

The private key lives in one PEM (PKCS#8, unencrypted) file readable by its owner only.
The public key's identity is the SHA-256 of its raw 32 bytes, so it can be recomputed
from the PEM by anyone with any tool.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.evidence.errors import InvalidPublicKeyError, KeyFileError

KEY_FILE_MODE = 0o600
SHORT_KEY_ID_LENGTH = 16


def load_or_create_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load the signing key at ``path``, generating it first if the file does not exist.

    A new key is written with mode 0600 and appears atomically: concurrent starters
    (API and worker) either create it or load the winner's complete file. An existing
    file accessible to group or others is refused rather than silently used, since
    anyone who can read it can forge checkpoints.
    """
    path = Path(path)
    try:
        return load_private_key(path)
    except FileNotFoundError:
        pass
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if not _create_exclusively(path, pem):
        return load_private_key(path)  # another process created it first
    return key


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an existing key file; ``FileNotFoundError`` if absent, ``KeyFileError`` if unusable."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        # fstat the descriptor we read from, not the path, so the check and the
        # read cannot see two different files.
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"signing key {path} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"signing key {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); restrict it with: chmod 600 {path}"
            )
        data = handle.read()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"signing key {path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path} is not an Ed25519 key")
    return key


def _create_exclusively(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file at ``path`` (mode 0600); False if it already exists.

    Written to a private temporary name, then hard-linked into place: link() refuses to
    replace an existing file, and readers never observe a half-written key.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    _write_new_file(tmp, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        # Filesystem without hard links: O_EXCL still guarantees no clobbering.
        try:
            _write_new_file(path, data)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)
    return True


def _write_new_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, KEY_FILE_MODE)
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # a restrictive umask must not strip the owner's bits
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of the (public half of the) key: what verifiers are given."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes | str | Ed25519PublicKey) -> Ed25519PublicKey:
    """Parse a PEM public key, refusing anything but Ed25519."""
    if isinstance(pem, Ed25519PublicKey):
        return pem
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidPublicKeyError("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidPublicKeyError("public key is not Ed25519")
    return key


def key_fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Full key id: hex SHA-256 of the raw 32-byte public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def short_key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """First 16 hex characters of :func:`key_fingerprint`, for display only."""
    return key_fingerprint(key)[:SHORT_KEY_ID_LENGTH]
