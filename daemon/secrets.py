"""`${...}` references in config strings, and the redaction of secret values.

A config string may hold references that are resolved when the config is loaded:
- `${NAME}`: the environment variable NAME (or, Docker style, the file named by NAME_FILE);
- `${file:PATH}`: the contents of a file in the config's folder, /run/secrets or
  $CREDENTIALS_DIRECTORY (nowhere else: the config must not be a way to read any file
  dropcast can read, such as /etc/shadow when it runs as root);
- `${credential:NAME}`: a systemd credential, `$CREDENTIALS_DIRECTORY/NAME`;
- `$${` stands for a literal `${`.
What a file held is a secret, wherever it is used: the config's loader collects it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
SECRETS_FOLDER = Path("/run/secrets")  # where Docker and Compose mount secrets
# A value this short is no secret, and hiding it would eat words and digits out of every
# log line (a `true` or a `5` read from a file); a SecretStr setting is hidden however short.
MIN_FILE_SECRET = 8


class UnresolvedReferenceError(ValueError):
    """Raised when a `${...}` reference in the config cannot be resolved."""


def resolve_references(
    text: str,
    base_dir: Path,
    environ: Mapping[str, str],
    from_files: list[str] | None = None,
) -> str:
    """Return `text` with every `${...}` reference replaced by the value it names.

    Each value read from a file (of at least `MIN_FILE_SECRET` characters) is appended to
    `from_files`, to be kept out of logs and records like any secret.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        value, read_from_file = _resolve_one(match.group(1).strip(), base_dir, environ)
        if read_from_file and from_files is not None and len(value) >= MIN_FILE_SECRET:
            from_files.append(value)
        return value

    return _REFERENCE.sub(replace, text)


def _resolve_one(reference: str, base_dir: Path, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The value `reference` names, and whether it was read from a file."""
    kind, _, argument = reference.partition(":")
    named_by = f"${{{reference}}}"
    if kind == "file" and argument:
        path = base_dir / Path(argument).expanduser()
        return _read_secret_file(path, named_by, _file_folders(base_dir, environ)), True
    if kind == "credential" and argument:
        directory = environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise UnresolvedReferenceError(
                f"{named_by}: CREDENTIALS_DIRECTORY is not set "
                "(systemd sets it for a unit with LoadCredential=)"
            )
        return _read_secret_file(Path(directory) / argument, named_by, [Path(directory)]), True
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", reference):
        raise UnresolvedReferenceError(
            f"{named_by} is not a valid reference: expected ${{ENV_VAR}}, "
            "${file:PATH} or ${credential:NAME}"
        )
    if reference in environ:
        return environ[reference], False
    if f"{reference}_FILE" in environ:
        # Not confined: the environment is set by whoever starts dropcast, not by the config.
        secret_file = base_dir / Path(environ[f"{reference}_FILE"]).expanduser()
        return _read_secret_file(secret_file, f"${reference}_FILE", None), True
    raise UnresolvedReferenceError(f"environment variable {reference} is not set")


def _file_folders(base_dir: Path, environ: Mapping[str, str]) -> list[Path]:
    """The folders `${file:}` may read from."""
    folders = [base_dir, SECRETS_FOLDER]
    if environ.get("CREDENTIALS_DIRECTORY"):
        folders.append(Path(environ["CREDENTIALS_DIRECTORY"]))
    return folders


def _read_secret_file(path: Path, named_by: str, folders: Sequence[Path] | None) -> str:
    """The text of the regular file `path`, which must lie in one of `folders` (if given)."""
    if folders is not None:
        _check_inside(Path(os.path.realpath(path)), path, named_by, folders)
    try:
        # O_NONBLOCK: a FIFO opens at once (and is refused below) instead of hanging.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnresolvedReferenceError(f"{named_by}: {path} is not a regular file")
            if folders is not None:  # checked again on what was opened: a link may have moved
                _check_inside(_opened_path(fd, path), path, named_by, folders)
            data = file.read()
    except OSError as error:
        raise UnresolvedReferenceError(
            f"{named_by}: cannot read {path}: {error.strerror}"
        ) from None
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise UnresolvedReferenceError(f"{named_by}: {path} is not UTF-8 text") from None


def _opened_path(fd: int, path: Path) -> Path:
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:  # no /proc: the check before opening stands
        return Path(os.path.realpath(path))


def _check_inside(real: Path, path: Path, named_by: str, folders: Sequence[Path]) -> None:
    if any(real.is_relative_to(os.path.realpath(folder)) for folder in folders):
        return
    leads = f" (it leads to {real})" if real != path else ""
    raise UnresolvedReferenceError(
        f"{named_by}: {path}{leads} is outside the folders secrets are read from "
        f"({', '.join(map(str, folders))}): move the file into one of them"
    )


class Redactor:
    """Replaces known secret values in text; the last line of defence for logs and records.

    Each secret is hidden as written and in the forms it travels in: URL-encoded, escaped
    for JSON or `repr()`, and in base64 (either alphabet, with or without padding) at any
    position of a longer base64 text, as in AUTH PLAIN's `\\0user\\0password`. A base64
    text holding a secret is hidden whole.
    """

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._forms: tuple[str, ...] = ()
        self._base64: re.Pattern[str] | None = None

    def replace_secrets(self, secrets: Iterable[str]) -> None:
        """Make `secrets` the values to hide (longest first, so no fragment of one survives)."""
        unique = {secret for secret in secrets if secret}
        self._secrets = tuple(sorted(unique, key=len, reverse=True))
        forms = {form for secret in self._secrets for form in _text_forms(secret)}
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        cores = {core for secret in self._secrets for core in _base64_cores(secret)}
        self._base64 = (
            re.compile("|".join(map(re.escape, sorted(cores, key=len, reverse=True))))
            if cores
            else None
        )

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Hide `secrets` too, keeping the ones already known."""
        self.replace_secrets((*self._secrets, *secrets))

    def redact(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        if self._base64 is not None:
            text = _hide_base64(text, self._base64)
        return text


# A secret's base64 characters that depend on its bits alone need at least this many to be
# told from ordinary words; a secret that short is hidden as written only.
_MIN_BASE64_CORE = 4
_BASE64_CHARACTERS = frozenset(string.ascii_letters + string.digits + "+/-_=")


def _text_forms(secret: str) -> set[str]:
    """`secret` as written, URL-encoded (either case of hex) and escaped for JSON and repr."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.add(repr(secret)[1:-1])
    for safe in ("", "/"):
        for encoded in (quote(secret, safe=safe), quote_plus(secret, safe=safe)):
            forms.add(encoded)
            forms.add(re.sub(r"%[0-9A-F]{2}", lambda hexed: hexed.group(0).lower(), encoded))
    return forms


def _base64_cores(secret: str) -> set[str]:
    """The base64 characters that `secret` alone decides, at each of its 3 possible offsets.

    Base64 turns 3 bytes into 4 characters of 6 bits, so a secret inside a longer text
    encodes the same way up to its first and last characters, which share bits with its
    neighbours. Those are left out; the whole run of base64 around a core is hidden.
    """
    data = secret.encode()
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode()
        first = -(-8 * offset // 6)  # the first character with no bit of the padding bytes
        last = 8 * (offset + len(data)) // 6  # past the last one with only the secret's bits
        core = encoded[first:last]
        if len(core) >= _MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.translate(_URLSAFE))
    return cores


_URLSAFE = str.maketrans("+/", "-_")


def _hide_base64(text: str, cores: re.Pattern[str]) -> str:
    """`text` with each run of base64 characters that holds one of `cores` redacted."""
    pieces: list[str] = []
    done = 0
    for match in cores.finditer(text):
        start, end = match.start(), match.end()
        if start < done:
            continue  # inside a run already hidden
        while start > done and text[start - 1] in _BASE64_CHARACTERS:
            start -= 1
        while end < len(text) and text[end] in _BASE64_CHARACTERS:
            end += 1
        pieces += [text[done:start], REDACTED]
        done = end
    return "".join(pieces) + text[done:] if pieces else text


# One redactor for the process: logging and result records consult it, config loading fills it.
REDACTOR = Redactor()
