"""`${...}` references in config strings, and the redaction of secret values.

A config string may hold references that are resolved when the config is loaded:
- `${NAME}`: the environment variable NAME (or, Docker style, the file named by NAME_FILE);
- `${file:PATH}`: the contents of a file, e.g. a Docker secret in /run/secrets;
- `${credential:NAME}`: a systemd credential, `$CREDENTIALS_DIRECTORY/NAME`;
- `$${` stands for a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

REDACTED = "[redacted]"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class UnresolvedReferenceError(ValueError):
    """Raised when a `${...}` reference in the config cannot be resolved."""


def resolve_references(text: str, base_dir: Path, environ: Mapping[str, str]) -> str:
    """Return `text` with every `${...}` reference replaced by the value it names."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        return _resolve_one(match.group(1).strip(), base_dir, environ)

    return _REFERENCE.sub(replace, text)


def _resolve_one(reference: str, base_dir: Path, environ: Mapping[str, str]) -> str:
    kind, _, argument = reference.partition(":")
    if kind == "file" and argument:
        return _read_secret_file(base_dir / Path(argument).expanduser(), f"${{{reference}}}")
    if kind == "credential" and argument:
        directory = environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise UnresolvedReferenceError(
                f"${{{reference}}}: CREDENTIALS_DIRECTORY is not set "
                "(systemd sets it for a unit with LoadCredential=)"
            )
        return _read_secret_file(Path(directory) / argument, f"${{{reference}}}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", reference):
        raise UnresolvedReferenceError(
            f"${{{reference}}} is not a valid reference: expected ${{ENV_VAR}}, "
            "${file:PATH} or ${credential:NAME}"
        )
    if reference in environ:
        return environ[reference]
    if f"{reference}_FILE" in environ:
        secret_file = base_dir / Path(environ[f"{reference}_FILE"]).expanduser()
        return _read_secret_file(secret_file, f"${reference}_FILE")
    raise UnresolvedReferenceError(f"environment variable {reference} is not set")


def _read_secret_file(path: Path, named_by: str) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        raise UnresolvedReferenceError(
            f"{named_by}: cannot read {path}: {error.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise UnresolvedReferenceError(f"{named_by}: {path} is not UTF-8 text") from None


class Redactor:
    """Replaces known secret values in text; the last line of defence for logs and records."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def replace_secrets(self, secrets: Iterable[str]) -> None:
        """Make `secrets` the values to hide (longest first, so no fragment of one survives)."""
        unique = {secret for secret in secrets if secret}
        self._secrets = tuple(sorted(unique, key=len, reverse=True))

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Hide `secrets` too, keeping the ones already known."""
        self.replace_secrets((*self._secrets, *secrets))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


# One redactor for the process: logging and result records consult it, config loading fills it.
REDACTOR = Redactor()
