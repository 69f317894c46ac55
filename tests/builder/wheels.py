"""Tiny wheels built in a test's folder: the local package index of offline tests."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def wheel(folder: Path, name: str, version: str, code: str, requires: tuple[str, ...] = ()
          ) -> Path:
    """A minimal pure-Python wheel of one module (as a build backend would write it)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": code,
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version
                            + "\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={_digest(text)},{len(text.encode())}\n"
                     for path, text in files.items()) + f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(member, text)
    return path
