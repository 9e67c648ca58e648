"""Deployment configuration shipped with the package: instance YAML per environment, k8s GPU tags."""

from __future__ import annotations

from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent

#: UPSTAGE_ASSETS_ENV -> the dagster.yaml that environment's instance should use (None: Dagster's default).
INSTANCE_YAML_BY_ENV: dict[str, Path | None] = {
    "local": None,
    "aws": DEPLOY_DIR / "dagster-aws.yaml",
    "k8s": DEPLOY_DIR / "dagster-k8s.yaml",
}


def instance_yaml_for(env: str) -> Path | None:
    """The instance config file for an environment; raises on an unknown name so typos fail loudly."""
    try:
        return INSTANCE_YAML_BY_ENV[env]
    except KeyError:
        raise ValueError(f"unknown UPSTAGE_ASSETS_ENV {env!r}; expected one of {sorted(INSTANCE_YAML_BY_ENV)}") from None
