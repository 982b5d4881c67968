"""The golden corpus: `vm translate` output for the test snippets, every form of the expected-code
files and a few thousand real blocks of Debian's libc (both directions), recorded once and compared
byte for byte. It covers --json and the side-by-side view (the Python pipeline), --output from
--input-file (the numba path, -j 1 and -j 2), --image at the code's own addresses, --verify and
--list-supported. Small outputs are kept whole; large ones as one digest per line (the line number
says where they part).

Inputs: golden/inputs.json.xz (made by golden/make_inputs.py). Outputs: golden/outputs.json.xz;
after an intended change, rewrite them with VM_TRANSLATE_REGEN=1.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from vmcli.cli import vm

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
EXPECTED = HERE / "expected"
WHOLE_LINES = 64          # outputs up to this many lines are kept whole

# (hex, address, also --verify) per source architecture
SNIPPETS: dict[str, list[tuple[str, int, bool]]] = {
    "x86_64": [
        ("4801c8 0f58c1 0fa2", 0x1000, False),
        ("486bd1074829c2", 0, True),                                     # imul rdx, rcx, 7; sub rdx, rax
        ("01d8660f3800ca48f7f1", 0, False),                              # add; pshufb; div (unsupported)
        ("480344cb100f58c17516", 0, True),                               # add rax, [rbx + rcx*8 + 16] ...
        ("480f4544cb100f281d400000004a8d7487f8e8e90fc0ff", 0x401000, True),   # cmovne, rip-relative, call
        ("d3e06683d3050f9fc0660ff5d7f24c0f2cc841545dc3", 0x7FFF0000, True),   # shl cl, adc, setg ... ret
        ("4801c8 7405 4801c8", 0, False),                                # the rest after a branch
    ],
    "arm64": [
        ("200c029b800400f9c1070054", 0, True),                           # madd; str; b.ne
        ("e10bffa98384851ac601f8b7", 0x400000, True),                    # ldp pre; csinc; tbnz
        ("00040091e00100b4210400d1", 0x400000, False),                   # add; cbz; the rest
        ("110240f9f0e5f6902078e23c20cc224e20021fd6", 0x12345000, True),  # ldr [x16]; adrp; ldr q roff; fmla; br
        ("2008c29a200c021f833c160e00a09f4cbcdfff97", 0x8000, True),      # udiv; fmadd; umov; st1 post; bl
        ("010000d400040091", 0, False),                                  # svc (unsupported); add
        ("2000028b10000014", (1 << 64) - 8, False),                      # near the top of the address space
    ],
}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(vm, ["translate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:12]


def _record(status: int, text: str) -> dict[str, Any]:
    lines = text.splitlines()
    if len(lines) <= WHOLE_LINES:
        return {"status": status, "text": text}
    return {"status": status, "lines": len(lines), "digests": "".join(_digest(x) for x in lines)}


def _bytes(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _form_blocks(arch: str) -> list[str]:
    """Each form's canonical instance from the expected-code files."""
    prefix = "x86_to_a64_" if arch == "x86_64" else "a64_to_x86_"
    out = []
    for f in sorted(EXPECTED.glob(f"{prefix}*.json")):
        out += [entry["bytes"] for _, entry in sorted(json.loads(f.read_text()).items())]
    return out


def outputs(tmp: Path) -> dict[str, Any]:
    corpus = json.loads(lzma.decompress((GOLDEN / "inputs.json.xz").read_bytes()))
    out: dict[str, Any] = {}
    for arch in ("x86_64", "arm64"):
        src = tmp / f"{arch}.txt"
        hexes = ([h.replace(" ", "") for h, _, _ in SNIPPETS[arch]] + _form_blocks(arch)
                 + [b["hex"] for b in corpus[arch]["blocks"]])
        src.write_text("".join(h + "\n" for h in hexes))
        common = ("--from", arch, "--input-file", str(src))
        status, text = _run(*common, "--json")
        out[f"{arch} --input-file --json"] = _record(status, text)
        code = b"".join(bytes.fromhex(json.loads(line)["code"]) for line in text.splitlines())
        assert _run(*common, "--json", "-j", "2") == (status, text)
        for jobs in ("1", "2"):
            path = tmp / f"{arch}-{jobs}.bin"
            status, _ = _run(*common, "--output", str(path), "-j", jobs)
            out[f"{arch} --input-file --output -j {jobs}"] = {"status": status, **_bytes(path)}
            assert path.read_bytes() == code, f"{arch} -j {jobs}: the numba path parts from the Python one"
        for i, stretch in enumerate(corpus[arch]["stretches"]):
            image = tmp / f"{arch}-{i}.raw"        # a raw image: file offset = address
            with open(image, "wb") as fh:
                fh.seek(stretch["address"])
                fh.write(bytes.fromhex(stretch["hex"]))
            args = ("--from", arch, "--image", str(image), "--start", hex(stretch["address"]))
            out[f"{arch} --image {i} --json"] = _record(*_run(*args, "--json"))
            path = tmp / f"{arch}-image-{i}.bin"
            status, _ = _run(*args, "--output", str(path))
            out[f"{arch} --image {i} --output"] = {"status": status, **_bytes(path)}
        for hexcode, address, verify in SNIPPETS[arch]:
            args = ("--from", arch, "--hex", hexcode, "--address", hex(address))
            out[f"{arch} {hexcode} @{address:#x} --json"] = _record(*_run(*args, "--json"))
            out[f"{arch} {hexcode} @{address:#x} view"] = _record(*_run(*args))
            if verify:
                out[f"{arch} {hexcode} @{address:#x} --verify"] = _record(*_run(*args, "--verify", "--states", "20",
                                                                                "--json"))
        out[f"{arch} --list-supported --json"] = _record(*_run("--from", arch, "--list-supported", "--json"))
        out[f"{arch} --list-supported view"] = _record(*_run("--from", arch, "--list-supported"))
    return out


def _first_difference(want: dict[str, Any], got: dict[str, Any]) -> str:
    if "text" in want and "text" in got:
        w, g = want["text"].splitlines(), got["text"].splitlines()
    elif "digests" in want and "digests" in got:
        w = [want["digests"][i:i + 12] for i in range(0, len(want["digests"]), 12)]
        g = [got["digests"][i:i + 12] for i in range(0, len(got["digests"]), 12)]
    else:
        return f"want {want}\n  got  {got}"
    for i, (a, b) in enumerate(zip(w, g, strict=False)):
        if a != b:
            return f"line {i + 1}:\n  want {a}\n  got  {b}"
    return f"{len(w)} lines wanted, {len(g)} got (status {want.get('status')} / {got.get('status')})"


def test_output_is_the_recorded_one(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "cache"))
    got = outputs(tmp_path)
    stored = GOLDEN / "outputs.json.xz"
    if os.environ.get("VM_TRANSLATE_REGEN"):
        stored.write_bytes(lzma.compress(json.dumps(got, indent=0, sort_keys=True).encode(), preset=9))
    want = json.loads(lzma.decompress(stored.read_bytes()))
    assert sorted(want) == sorted(got), "commands added or removed (VM_TRANSLATE_REGEN=1)"
    parted = [f"{key}: {_first_difference(want[key], got[key])}" for key in sorted(want) if want[key] != got[key]]
    assert not parted, "\n".join(parted)
