"""Write the local stack's .env from .env.example, generating every secret it leaves empty.

    python3 scripts/compose_env.py .env          # creates .env; refuses to overwrite an existing one

Standard library only, so it runs before any virtualenv exists. Secrets are fresh on every machine and
never committed: .env is git-ignored and .env.example holds none.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def fernet_key() -> str:
    """The format of cryptography's Fernet.generate_key(): 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


GENERATORS: dict[str, Callable[[], str]] = {
    "AIRFLOW_FERNET_KEY": fernet_key,
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "AIRFLOW_API_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
    # 24 characters: MLflow refuses passwords shorter than 12.
    "MLFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),
    "MLFLOW_FLASK_SECRET_KEY": lambda: secrets.token_urlsafe(48),
}


def airflow_uid() -> str:
    """Your own uid, so files the containers write are yours; the image's airflow user (50000) for root."""
    uid = os.getuid()
    return str(uid) if uid != 0 else "50000"


def generated_env(example: str = "") -> dict[str, str]:
    """The example's values with generated secrets and this machine's AIRFLOW_UID filled in."""
    values: dict[str, str] = {}
    for line in (example or EXAMPLE.read_text()).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    values["AIRFLOW_UID"] = airflow_uid()
    for name, generate in GENERATORS.items():
        if not values.get(name):
            values[name] = generate()
    return values


def render(example: str, values: dict[str, str]) -> str:
    """The example file, comments kept, each assignment replaced by its value."""
    lines = []
    for line in example.splitlines():
        name = line.partition("=")[0].strip()
        if line.strip() and not line.lstrip().startswith("#") and name in values:
            line = f"{name}={values[name]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    target = Path(argv[0])
    if target.exists():
        print(f"{target} exists; delete it to generate a new one", file=sys.stderr)
        return 1
    example = EXAMPLE.read_text()
    target.write_text(render(example, generated_env(example)))
    target.chmod(0o600)
    print(f"wrote {target} with freshly generated secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
