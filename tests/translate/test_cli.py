"""`vm translate` end to end through the click command, both directions."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from unicorn import UC_ARCH_X86, UC_MODE_64, Uc
from unicorn import x86_const as x86c

from vmcli.cli import vm
from vmcli.translate.verify.state import DATA
from vmcli.translate.x86_to_a64.check import A64Target, random_state


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(vm, ["translate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_the_documented_fields() -> None:
    code, out, _ = run("--hex", "4801c8 0f58c1 0fa2", "--json", "--address", "0x1000")
    assert code == 0
    obj = json.loads(out)
    assert {"code", "state", "guest_base", "env_reg", "source", "target", "unsupported"} <= set(obj)
    assert obj["guest_base"] == 0 and obj["env_reg"] is None
    assert obj["state"]["rax"] == {"reg": "x0"} and obj["state"]["xmm1"] == {"reg": "v1"}
    assert obj["state"]["rflags"] == {"nzcv": "SF ZF !CF OF", "pf": "x20", "af": "x21"}
    assert [s["text"] for s in obj["source"]] == ["add rax, rcx", "addps xmm0, xmm1", "cpuid"]
    assert obj["source"][0]["address"] == 0x1000
    assert [u["text"] for u in obj["unsupported"]] == ["cpuid"]
    assert {t["source"] for t in obj["target"]} == {0, 1}
    assert bytes.fromhex(obj["code"]) == b"".join(bytes.fromhex(t["bytes"]) for t in obj["target"])


def test_json_code_runs_and_matches_the_source() -> None:
    """Run the emitted code with the `state` mapping, independently of the verifier's wiring."""
    _, out, _ = run("--asm", "imul rdx, rcx, 7; sub rdx, rax", "--json")
    obj = json.loads(out)
    state = {g: loc["reg"] for g, loc in obj["state"].items() if "reg" in loc}
    rng = random.Random(0)
    st = random_state(rng, {"rax": 5, "rcx": 6, "rdx": 0})
    target = A64Target()
    got = target.run(bytes.fromhex(obj["code"]), state, st.regs, st.memory, rng)
    assert not isinstance(got, str)
    assert got[0]["rdx"] == 37
    # 42 - 5: CF ZF SF OF clear (C set: NOT CF); PF 0 (37 has three ones); AF 0 (42 ^ 5 ^ 37 = 0b1010)
    flags = obj["state"]["rflags"]
    assert flags == {"nzcv": "SF ZF !CF OF", "pf": "x20", "af": "x21"}
    assert target.read("nzcv") == 0x20000000 and target.read("x20") & 0xFF == 37
    assert not (target.read("x21") ^ target.read("x20")) & 0x10


def test_side_by_side_view_and_stats() -> None:
    code, out, err = run("--asm", "add eax, ebx; pshufb xmm1, xmm2; div rcx", "--stats")
    assert code == 0
    assert "add eax, ebx" in out and "pshufb xmm1, xmm2" in out and "tbl" in out
    assert "unsupported" in out
    assert "instructions/s" in err and "cache instruction templates" in err


def test_views_show_instruction_text_as_it_is() -> None:
    """Operands in brackets are text, not rich markup, in every table of the command."""
    code, out, _ = run("--hex", "480f4544cb10", "--address", "0x401000")    # cmovne rax, [rbx + rcx*8 + 16]
    assert code == 0
    assert "cmovne rax, qword ptr [rbx + rcx*8 + 0x10]" in out and "ldr x16, [x17, #0x10]" in out
    code, out, _ = run("--from", "arm64", "--hex", "110240f9 20008052")    # ldr x17, [x16]; mov w0, #1
    assert code == 0 and "ldr x17, [x16]" in out and "qword ptr [r15 + 0x80]" in out and "x0=rsi" in out
    code, out, _ = run("--hex", "480f4544cb10", "--verify", "--states", "5")
    assert code == 0 and "[rbx + rcx*8 + 0x10]" in out and "pass" in out
    code, out, _ = run("--from", "arm64", "--list-supported")
    assert code == 0 and "ldr xt, [xn|sp, #uimm]" in out and "ld1 {vt.16b}, [xn|sp]" in out


def test_input_file_output_and_jobs(tmp_path: Path) -> None:
    src = tmp_path / "blocks.txt"
    src.write_text("4801c8\n# a comment\n0f58c1\n4801c8\n")
    out_file = tmp_path / "out.bin"
    code, out, err = run("--input-file", str(src), "--json", "--output", str(out_file), "--stats", "-j", "1")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert len(lines) == 3
    assert out_file.read_bytes() == b"".join(bytes.fromhex(x["code"]) for x in lines)
    assert "translated blocks:" in err and "host instructions: " in err


def test_input_file_lines_may_give_their_address(tmp_path: Path) -> None:
    """`@ADDRESS HEX` puts a block at its address (a RIP-relative operand and a branch show it)."""
    src = tmp_path / "blocks.txt"
    src.write_text("@0x401000 488b0500100000 eb00\n4801c8\n")    # mov rax, [rip + 0x1000]; jmp; add
    code, out, _ = run("--input-file", str(src), "--json")
    first, second = (json.loads(x) for x in out.splitlines())
    assert code == 0 and first["address"] == 0x401000 and second["address"] == 0
    assert [si["text"] for si in first["source"]] == ["mov rax, qword ptr [rip + 0x1000]", "jmp 0x401009"]
    (tmp_path / "bad.txt").write_text("@0x10000000000000000 90\n")
    _refused(["--input-file", str(tmp_path / "bad.txt")], "bad.txt:1: @0x10000000000000000 is not a 64-bit address")
    (tmp_path / "bad.txt").write_text("90\n@zz 90\n")
    _refused(["--input-file", str(tmp_path / "bad.txt")], "bad.txt:2: not an address: @zz")


def test_verify_prints_pass_per_instruction() -> None:
    code, out, _ = run("--asm", "add rax, [rbx + rcx*8 + 16]; addps xmm0, xmm1; jne 0x20", "--verify",
                       "--states", "50", "--json")
    assert code == 0
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["status"] for r in rows] == ["pass", "pass", "pass"]
    assert all(r["runs"] == 50 for r in rows)


def test_list_supported() -> None:
    code, out, _ = run("--list-supported", "--json")
    assert code == 0
    forms = [json.loads(x)["form"] for x in out.splitlines()]
    assert "addps xmm, m128" in forms and "adc r64, r64" in forms and len(forms) >= 250
    code, out, _ = run("--list-supported", "--from", "arm64", "--json")
    assert code == 0 and len(out.splitlines()) >= 150


@pytest.mark.parametrize("args, message", [
    (["--hex", "zz"], "not a sequence of hex bytes"),
    (["--hex", "90", "--asm", "nop"], "exactly one of"),
    (["--asm", "bogus rax"], "--asm"),
    (["--from", "mips", "--hex", "00"], "unknown architecture"),
    (["--image", "/nonexistent/file"], "--image"),
    (["--input-file", "/nonexistent/file"], "--input-file"),
    (["--hex", "90", "--verify", "--states", "0"], "--states"),       # a check of nothing is no pass
    (["--hex", "90", "--address", "-1"], "--address"),
    (["--hex", "90", "--address", str(2**64)], "--address"),
    (["--hex", "90", "--address", "0x1_0000_0000_0000_0000"], "--address"),
    (["--hex", "90", "-j", "-1"], "--jobs"),
    (["--list-supported", "--jobs", "-2"], "--jobs"),                 # refused before anything runs
    (["--image", "/dev/zero"], "--image: not a regular file"),        # would read forever
    (["--input-file", "/dev/urandom", "--output", "/dev/null"], "--input-file: not a regular file"),
])
def test_bad_input_is_one_line_and_status_2(args: list[str], message: str) -> None:
    _refused(args, message)


def _refused(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "vmcli", "translate", *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_an_input_file_that_is_not_text_is_bad_input(tmp_path: Path) -> None:
    binary = tmp_path / "code.bin"
    binary.write_bytes(bytes.fromhex("4801c8") + b"\xff\xfe\x00\x90")      # machine code, not hex text
    _refused(["--input-file", str(binary)], "--input-file: ")
    _refused(["--input-file", str(binary), "--output", str(tmp_path / "o.bin")], "not UTF-8")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os
    os.mkfifo(tmp_path / "blocks")
    _refused(["--input-file", str(tmp_path / "blocks")], "--input-file: not a regular file")


def test_the_last_address_is_one_below_2_to_the_64() -> None:
    code, out, _ = run("--hex", "90", "--address", hex(2**64 - 1), "--json")
    assert code == 0 and json.loads(out)["address"] == 2**64 - 1


def test_image_raw(tmp_path: Path) -> None:
    raw = tmp_path / "code.bin"
    raw.write_bytes(b"\x90" * 16 + bytes.fromhex("4801c8480faf"))
    code, out, _ = run("--image", str(raw), "--start", "16", "--count", "1", "--json")
    obj = json.loads(out)
    assert code == 0 and [s["text"] for s in obj["source"]] == ["add rax, rcx"] and obj["address"] == 16


def test_branch_ends_the_block_and_the_rest_is_listed() -> None:
    code, out, _ = run("--hex", "4801c8 7405 4801c8", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["exit_reg"] == "x18"
    assert [s["supported"] for s in obj["source"]] == [True, True, False]
    assert "exit branch" in obj["unsupported"][0]["reason"]


def test_arm64_json_code_runs_with_its_state_contract() -> None:
    """Run --json's code on a bare x86-64 Unicorn using only what the JSON says."""
    result = CliRunner().invoke(vm, ["translate", "--from", "arm64", "--json", "--asm",
                                     "madd x0, x1, x2, x3; str x0, [x4, #8]; b.ne #0x100"])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["env_reg"] == "r15" and obj["exit_reg"] == "r14" and obj["guest_base"] == 0
    assert set(obj["state"]) == {"x0", "x1", "x2", "x3", "x4", "nzcv"}
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0x10000, 0x10000)
    uc.mem_map(DATA, 0x1000)
    env_addr = 0x18000
    regs = {"x1": 6, "x2": 7, "x3": 100, "x4": DATA, "nzcv": 0x40000000}
    env = bytearray(0x400)
    for name, loc in obj["state"].items():
        if "reg" in loc:                # a guest register that lives in a host register
            uc.reg_write(getattr(x86c, f"UC_X86_REG_{loc['reg'].upper()}"), regs.get(name, 0))
        else:
            # nzcv in x86's form (docs/translator-arm64.md): byte 1 = lahf's SF=N ZF=Z CF=NOT C, byte 0 = V
            value = 0x4200 if loc.get("layout") == "x86" else regs.get(name, 0)
            env[loc["env"]:loc["env"] + 8] = value.to_bytes(8, "little")
    code = bytes.fromhex(obj["code"])
    uc.mem_write(0x10000, code)
    uc.mem_write(env_addr, bytes(env))
    uc.reg_write(x86c.UC_X86_REG_R15, env_addr)
    uc.emu_start(0x10000, 0x10000 + len(code))
    assert uc.reg_read(getattr(x86c, f"UC_X86_REG_{obj['state']['x0']['reg'].upper()}")) == 142
    assert int.from_bytes(uc.mem_read(DATA + 8, 8), "little") == 142
    assert uc.reg_read(x86c.UC_X86_REG_R14) == 8 + 4   # Z set: b.ne not taken, next instruction


def test_arm64_verify_flag_prints_pass_per_instruction() -> None:
    result = CliRunner().invoke(vm, ["translate", "--from", "arm64", "--verify", "--states", "40", "--json",
                                     "--asm", "ldp x1, x2, [sp, #-16]!; csinc w3, w4, w5, hi; tbnz x6, #63, #0x40"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["pass", "pass", "pass"]
    assert all(r["runs"] == 40 for r in rows)
