"""The bundled guest images: package data in vmcli/guest_images (guest-images/bin in the source tree
links there), so they come with `pip install vmcli`; $VM_IMAGES points elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = (".elf", ".bin")


def images_dir() -> Path | None:
    """$VM_IMAGES if set (None if that is no directory), else the images installed with the package."""
    env = os.environ.get("VM_IMAGES")
    path = Path(env) if env else Path(__file__).resolve().parent / "guest_images"
    return path if path.is_dir() else None


def bundled_images() -> list[Path]:
    root = images_dir()
    if root is None:
        return []
    return sorted(p for p in root.iterdir() if p.suffix in IMAGE_SUFFIXES and p.is_file())


def resolve_image(name: str) -> str:
    """`name` itself if it is a path that exists; else a bundled image of that name ("hello-arm64")."""
    if os.path.exists(name) or os.sep in name:
        return name
    images = bundled_images()
    for path in images:
        if name == path.name:
            return str(path)
    for suffix in IMAGE_SUFFIXES:                # "hello-arm64" means the ELF before the raw image
        for path in images:
            if path.stem == name and path.suffix == suffix:
                return str(path)
    return name
