"""Every folder that ships has to be listed in setup.cfg, or a wheel silently drops it."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_shipped_folder_is_a_listed_package() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    packages = set(cfg["options"]["packages"].split())
    mapping = dict(
        line.split("=", 1) for line in cfg["options"]["package_dir"].split("\n") if "=" in line
    )
    roots = {"plog_ci": ROOT / "plog_ci"}
    roots.update({k.strip(): ROOT / v.strip() for k, v in mapping.items()})
    missing = []
    for name, root in roots.items():
        for folder in [root, *root.rglob("*")]:
            if not folder.is_dir() or folder.name == "__pycache__":
                continue
            if not any(f.is_file() for f in folder.iterdir()):
                continue
            dotted = ".".join([name, *folder.relative_to(root).parts])
            if dotted not in packages:
                missing.append(dotted)
    assert missing == []
