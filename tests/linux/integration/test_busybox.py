"""Debian's arm64 busybox-static: applets and `sh` scripts (pipelines, $(...), redirects, loops,
tar/gzip/find/awk/sed) under vm, each against qemu-aarch64 running the same command in a copy of the
same folder."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from debian import unpacked
from linux_helpers import reference, run, vm

# Scripts run as `busybox sh -c SCRIPT`; those starting with @ run one applet directly, with the same
# words: qemu-user cannot execve /proc/self/exe, so under it busybox's sh runs the host's tools for
# applets it would start as a new program (wc, xargs, env, diff), and the outputs would not compare.
SCRIPTS = {
    "echo": "echo hello world",
    "printf": "printf '%s-%d-%x\\n' abc 42 255",
    "arith": "echo $((3 * 7 + 2)) $((1 << 10)) $((17 % 5))",
    "for-loop": "for i in 1 2 3 4 5; do printf '%s,' $i; done; echo",
    "while-loop": "i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo $i",
    "case": "for w in apple kiwi zebra; do case $w in a*) echo A;; z*) echo Z;; *) echo other;; esac; done",
    "functions": "f() { echo \"f got $# args: $*\"; return 3; }; f a b c; echo status $?",
    "subst": "x=$(echo inner | tr a-z A-Z); echo \"[$x]\"",
    "backticks": "echo `expr 6 \\* 7`",
    "pipeline": "seq 1 20 | grep 1 | wc -l",
    "long-pipeline": "seq 1 200 | sort -rn | head -5 | tr '\\n' ' '; echo",
    "redirects": "echo one > f1; echo two >> f1; cat < f1; wc -l < f1",
    "stderr-redirect": "ls /nonexistent 2>&1 | grep -c nonexistent",
    "heredoc": "cat <<EOF\nline $((1+1))\nEOF",
    "exit-status": "false; echo $?; true; echo $?; (exit 7); echo $?",
    "and-or": "true && echo yes || echo no; false && echo yes || echo no",
    "subshell": "(cd /; pwd); pwd | grep -c /",
    "variables": "A=1; B=${A}2; C=${UNSET:-default}; echo $A $B $C ${#B}",
    "ifs": "IFS=:; set -- a:b:c; echo $# $2",
    "test": "[ -d . ] && [ ! -f nofile ] && [ abc = abc ] && echo ok",
    "background": "sleep 0.1 & wait $!; echo waited $?",
    "trap": "trap 'echo trapped' EXIT; echo body",
    "kill-self": "sh -c 'kill -TERM $$'; echo status $?",
    "sigpipe": "yes | head -n 3; echo after",
    "seq": "seq 3 3 15",
    "sort-uniq": "printf 'b\\na\\nb\\nc\\na\\n' | sort | uniq -c",
    "cut": "echo a:b:c:d | cut -d: -f2,4",
    "tr": "echo Hello World | tr 'a-z' 'A-Z' | tr -d O",
    "sed": "printf 'one\\ntwo\\nthree\\n' | sed -e 's/o/0/g' -e '2d'",
    "sed-inplace": "printf 'x=1\\ny=2\\n' > conf; sed -i 's/y=2/y=3/' conf; cat conf",
    "awk": "printf '1 2\\n3 4\\n5 6\\n' | awk '{s += $1 * $2} END {print s, NR}'",
    "awk-printf": "echo 3.14159 | awk '{printf \"%.2f %d\\n\", $1, $1 * 100}'",
    "grep": "printf 'alpha\\nbeta\\ngamma\\n' | grep -n -e a$ -e ^b",
    "grep-count": "grep -c . data.txt",
    "head-tail": "seq 1 100 | tail -n 3; seq 1 100 | head -n 2",
    "wc": "@wc -c -l -w data.txt",
    "find": "find tree -type f | sort",
    "find-name": "find tree -name '*.c' | sort",
    "xargs": "@xargs -n 1 echo item",
    "tar": "tar -cf t.tar tree && tar -tf t.tar | sort && rm -r tree && tar -xf t.tar && cat tree/a/one.c",
    "gzip": "cp data.txt d2 && gzip d2 && ls d2.gz && gzip -dc d2.gz | md5sum",
    "tar-gz": "tar -czf t.tgz tree && tar -tzf t.tgz | sort | head -3",
    "md5sum": "md5sum data.txt",
    "sha256sum": "sha256sum data.txt",
    "mkdir-rm": "mkdir -p x/y/z && touch x/y/z/f && ls -R x | head -8 && rm -rf x && ls x 2>&1 | wc -l",
    "cp-mv": "cp data.txt c1 && mv c1 c2 && cmp data.txt c2 && echo same",
    "ln": "ln -s data.txt sl && readlink sl && cat sl | head -1",
    "stat": "stat -c '%s %F' data.txt",
    "chmod": "touch m && chmod 640 m && stat -c %a m",
    "dd": "dd if=/dev/zero bs=512 count=4 2>/dev/null | wc -c",
    "od": "printf 'AB' | od -An -tx1",
    "basename": "basename /a/b/c.txt .txt; dirname /a/b/c.txt",
    "expr": "expr length hello; expr 10 / 3",
    "date": "date -u -d @86400 +%Y-%m-%d",
    "env": "@env -i FOO=bar",
    "read": "printf 'x y z\\n' | { read a b c; echo $c $b $a; }",
    "nested-subst": "echo $(echo $(echo deep))",
    "uname": "uname -m",
    "cmp": "@cmp data.txt tree/readme",
}


@pytest.fixture(scope="module")
def busybox() -> Path:
    return unpacked(["busybox-static"]) / "bin" / "busybox"


def _workdir(base: Path) -> Path:
    base.mkdir()
    (base / "data.txt").write_text("".join(f"line {i} of the data\n" for i in range(50)))
    for rel, text in {"tree/a/one.c": "int one;\n", "tree/a/two.h": "#define TWO\n", "tree/b/three.c": "3\n",
                      "tree/readme": "tree\n"}.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_busybox_script(busybox: Path, name: str, tmp_path: Path) -> None:
    script = SCRIPTS[name]
    env = {"PATH": "/bin:/usr/bin", "LC_ALL": "C", "HOME": "/tmp"}
    words = shlex.split(script[1:]) if script.startswith("@") else ["sh", "-c", script]
    got = vm(busybox, *words, cwd=str(_workdir(tmp_path / "vm")), env=env)
    want = reference("arm64", busybox, *words, cwd=str(_workdir(tmp_path / "ref")), env=env)
    assert got.stdout.decode(errors="replace") == want.stdout.decode(errors="replace")
    assert got.status == want.status


def test_busybox_applets_run_directly(busybox: Path, tmp_path: Path) -> None:
    """An applet as argv[0] (busybox's own dispatch), not through sh."""
    link = tmp_path / "seq"
    link.symlink_to(busybox)
    got = vm(link, "2", "4")
    assert (got.status, got.stdout) == (0, b"2\n3\n4\n")
    assert shutil.which("qemu-aarch64") is None or run(["qemu-aarch64", str(link), "2", "4"]).stdout == got.stdout
