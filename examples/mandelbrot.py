"""The Mandelbrot set computed by a guest on vm's compute device, as a PNG.

    .venv/bin/python examples/mandelbrot.py [--arch arm64|riscv64] [--gpu SPEC] [--out mandelbrot.png]

Runs the bundled guest `gpu-mandelbrot-<arch>.elf` under `vm run` with a scratch directory as its
semihosting root; the guest computes the escape counts on the host device, checks them against its
own CPU, and saves them as `mandelbrot.pgm`. This script colours the counts and writes a PNG (zlib
only, no imaging library).
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path


def read_pgm(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, maxval and pixels of a binary PGM (P5) with 8-bit samples."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    if magic != b"P5" or maxval > 255:
        raise ValueError("not an 8-bit binary PGM")
    pixels = data[pos + 1:pos + 1 + width * height]
    if len(pixels) != width * height:
        raise ValueError("PGM is truncated")
    return width, height, maxval, pixels


def colour(count: int, max_iter: int) -> bytes:
    """Black inside the set; outside, navy through orange to white as the escape count grows."""
    if count >= max_iter:
        return b"\0\0\0"
    t = (count / max_iter) ** 0.35
    return bytes((min(255, int(40 + 400 * t)), min(255, int(10 + 300 * t * t)), int(80 + 120 * t * (1 - t))))


def write_png(path: Path, width: int, height: int, rgb_rows: list[bytes]) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\0" + row for row in rgb_rows)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="arm64", choices=("arm64", "riscv64"))
    ap.add_argument("--gpu", default="auto")
    ap.add_argument("--out", default="mandelbrot.png", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        proc = subprocess.run([sys.executable, "-m", "vmcli", "run", f"gpu-mandelbrot-{args.arch}", "--gpu", args.gpu,
                               "--semihosting-root", root], text=True, capture_output=True, check=False)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            sys.exit(f"mandelbrot: the guest exited with status {proc.returncode}")
        width, height, maxval, pixels = read_pgm((Path(root) / "mandelbrot.pgm").read_bytes())
    palette = [colour(i, maxval) for i in range(256)]
    rows = [b"".join(palette[p] for p in pixels[y * width:(y + 1) * width]) for y in range(height)]
    write_png(args.out, width, height, rows)
    print(f"mandelbrot: wrote {args.out} ({width}x{height})")


if __name__ == "__main__":
    main()
