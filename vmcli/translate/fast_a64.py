"""The numba hot path of AArch64 -> x86-64: template lookup -> copy-and-patch, over numpy arrays.

AArch64 words are fixed 32-bit, and an instruction's x86 code depends only on its word - except for
the PC-relative encodings (adr, adrp, branches), whose code holds guest addresses. So:
  Stage A (numba, fast_a64_kernels.lookup): every word of every block -> template id, through an
    open-addressing table keyed by the word (the PC-relative ones by the word at any address).
  Stage B (Python, once per new word only): decode_a64 decodes it (cache level 1) and its rule
    builds the code (level 2, pipeline_a64.code_for). A PC-relative template is built at one
    address; emit_x86.Ctx.mov_addr marks where each address sits (an imm32) and how it moves with
    the instruction's address (pc + k, or pc's 4 KiB page + k for adrp).
  Stage C (numba, fast_a64_kernels.emit): copy every block's templates into one buffer and patch
    the addresses in.
Blocks it cannot take whole (an unsupported word, a branch before the block's end, an address
that no longer fits an imm32, a length that is not a multiple of 4) go through
pipeline_a64.translate_a64, which reports what it cannot translate; both give the same bytes
(tests/translate/test_a64_fast.py). Whole blocks are cached at level 3. numba is imported only
here (lazily), and its kernels compile with cache=True.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vmcli.translate import cache
from vmcli.translate.decode_a64 import active
from vmcli.translate.pipeline_a64 import _PC_RELATIVE, code_for, decode_cached, translate_a64

Result = tuple[bytes | memoryview, int, int]   # code, instructions, unsupported instructions

# PC-relative templates are built here first: any guest address within +-2 GiB of it fits an imm32
CANONICAL_PC = 0x8000_0000
F_EXIT, F_UNSUPPORTED, F_PINNED = 1, 2, 4     # as in fast_a64_kernels

_NUMBA: dict[str, Any] = {}


def _kernels() -> dict[str, Any]:
    """Compile (or load from numba's cache) the kernels; imported lazily."""
    if not _NUMBA:
        from vmcli.translate import fast_a64_kernels as k

        _NUMBA.update(lookup=k.lookup, resolve=k.resolve, emit=k.emit)
    return _NUMBA


class FastA64:
    """Translates many AArch64 blocks through the numba kernels; keeps its tables between calls."""

    def __init__(self) -> None:
        pcrel = [e for e in active() if e.name in _PC_RELATIVE]
        self.pc_mask = np.array([e.mask for e in pcrel], np.int64)
        self.pc_value = np.array([e.value for e in pcrel], np.int64)
        self.hkeys = np.zeros((1 << 12, 2), np.int64)
        self.hval = np.zeros(1 << 12, np.int64)
        self.hused = np.zeros(1 << 12, np.bool_)
        self.nkeys = 0
        self.tpl_start: list[int] = []
        self.tpl_len: list[int] = []
        self.tpl_flags: list[int] = []
        self.tpl_base: list[int] = []
        self.patches: list[tuple[int, int, int]] = []      # (byte offset, page, value at tpl_base)
        self.tpl_pstart: list[int] = []
        self.tpl_plen: list[int] = []
        self._bytes: list[bytes] = []
        self._nbytes = 0
        self._arrays: tuple[np.ndarray, ...] | None = None
        self.fallbacks = 0             # blocks handed to pipeline_a64

    def _grow(self, want: int) -> None:
        """Rehash the table into one of at least `want` slots."""
        size = len(self.hused)
        while size < want:
            size *= 2
        words = self.hkeys[self.hused, 0].astype(np.uint32)
        vals = self.hval[self.hused].copy()
        self.hkeys = np.zeros((size, 2), np.int64)
        self.hval = np.zeros(size, np.int64)
        self.hused = np.zeros(size, np.bool_)
        if len(vals):
            k = _kernels()
            first_new = np.empty(len(vals), np.int64)
            tpl_of, nnew = k["lookup"](words, self.pc_mask, self.pc_value, self.hkeys, self.hval, self.hused,
                                       first_new)
            assert nnew == len(vals)           # distinct keys: placeholder j is words[j]
            k["resolve"](tpl_of, self.hval, self.hused, vals)

    def _is_pcrel(self, word: int) -> bool:
        return bool(np.any((word & self.pc_mask) == self.pc_value))

    def _add_template(self, word: int, pc: int) -> int:
        """Decode `word` and build its template (the rule's code; a PC-relative one at CANONICAL_PC,
        or at `pc` when the canonical place would not fit its addresses in imm32s)."""
        flags, base, code = 0, 0, None
        for base in ((CANONICAL_PC, pc) if self._is_pcrel(word) else (0,)):
            insn = decode_cached(word, base)
            if insn is None:
                flags = F_UNSUPPORTED
                break
            code = code_for(insn)
            if not code.pinned:
                break
        raw = b""
        addrs: tuple[tuple[int, int, int], ...] = ()
        if code is not None:
            raw, addrs = code.bytes, code.addrs
            assert all(raw[o:o + 4] == v.to_bytes(4, "little") for o, _page, v in addrs), addrs
            flags |= (F_EXIT if code.exit else 0) | (F_PINNED if code.pinned else 0)
        index = len(self.tpl_start)
        self.tpl_start.append(self._nbytes)
        self.tpl_len.append(len(raw))
        self.tpl_flags.append(flags)
        self.tpl_base.append(base)
        self.tpl_pstart.append(len(self.patches))
        self.tpl_plen.append(len(addrs))
        self.patches += addrs
        self._bytes.append(raw)
        self._nbytes += len(raw)
        self._arrays = None
        return index

    def _tables(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            self._bytes = [b"".join(self._bytes)]
            self._arrays = (np.array(self.tpl_start, np.int64), np.array(self.tpl_len, np.int64),
                            np.array(self.tpl_flags, np.int64), np.array(self.tpl_base, np.int64),
                            np.frombuffer(self._bytes[0] + b"\0", np.uint8),
                            np.array(self.patches, np.int64).reshape(-1, 3),
                            np.array(self.tpl_pstart, np.int64), np.array(self.tpl_plen, np.int64))
        return self._arrays

    def translate(self, blocks: list[tuple[bytes, int]]) -> list[Result]:
        """(code, instructions, unsupported) of each block; code is the same bytes as
        pipeline_a64.translate_a64(...).code."""
        k = _kernels()
        n = len(blocks)
        pre_ok = np.ones(n, np.bool_)
        lengths = np.zeros(n + 1, np.int64)
        addrs = np.zeros(n, np.int64)
        parts = []
        for b, (code, address) in enumerate(blocks):
            if len(code) & 3 or not 0 <= address < (1 << 62):
                pre_ok[b] = False
                continue
            parts.append(code)
            lengths[b + 1] = len(code) >> 2
            addrs[b] = address
        words = np.frombuffer(b"".join(parts), "<u4")
        wstart = np.cumsum(lengths)
        ninsn = len(words)
        if 2 * (self.nkeys + ninsn) > len(self.hused):
            self._grow(2 * (self.nkeys + ninsn))
        first_new = np.empty(ninsn, np.int64)
        tpl_of, nnew = k["lookup"](words, self.pc_mask, self.pc_value, self.hkeys, self.hval, self.hused, first_new)
        self.nkeys += nnew
        if nnew:
            block_of = np.searchsorted(wstart, first_new[:nnew], side="right") - 1
            new_ids = np.empty(nnew, np.int64)
            for j in range(nnew):
                i, b = int(first_new[j]), int(block_of[j])
                new_ids[j] = self._add_template(int(words[i]), int(addrs[b]) + 4 * (i - int(wstart[b])))
            k["resolve"](tpl_of, self.hval, self.hused, new_ids)
        cache.TEMPLATES.count(ninsn - nnew, 0)          # the misses count in code_for
        out, size, block_ok = k["emit"](wstart, addrs, pre_ok, tpl_of, *self._tables())
        raw = memoryview(out)                       # blocks are views into one buffer, no copies
        bounds = size.tolist()
        ok = block_ok.tolist()
        result: list[Result] = []
        for b in range(n):
            if ok[b]:
                result.append((raw[bounds[b]:bounds[b + 1]], int(lengths[b + 1]), 0))
            else:
                code, address = blocks[b]
                self.fallbacks += 1
                tr = translate_a64(code, address)
                result.append((tr.code, len(tr.insns), len(tr.unsupported)))
        return result


_TRANSLATOR: FastA64 | None = None


def reset() -> None:
    """Forget the numba-side template table (the Python caches are cache.clear's)."""
    global _TRANSLATOR
    _TRANSLATOR = None


def translate_fast(blocks: list[tuple[bytes, int]]) -> list[Result]:
    """(code, instructions, unsupported) of many AArch64 blocks via the numba path, with cache
    level 3 on whole blocks."""
    import gc

    global _TRANSLATOR
    if _TRANSLATOR is None:
        _TRANSLATOR = FastA64()
    # a few objects per block and no cycles: the cyclic collector would only rescan the caches
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _translate_fast(blocks, _TRANSLATOR)
    finally:
        if enabled:
            gc.enable()


def _translate_fast(blocks: list[tuple[bytes, int]], translator: FastA64) -> list[Result]:
    out: list[Result | None] = []
    todo: dict[tuple[bytes, int], list[int]] = {}
    stored = cache.BLOCKS.data
    hits = misses = 0
    for i, block in enumerate(blocks):
        pending = todo.get(block)
        if pending is not None:
            pending.append(i)          # a repeat inside this batch: a level-3 hit
            hits += 1
            out.append(None)
            continue
        hit = stored.get(("fast-a64", *block))
        out.append(hit)
        if hit is None:
            misses += 1
            todo[block] = [i]
        else:
            hits += 1
    cache.BLOCKS.count(hits, misses)
    if todo:
        uniq = list(todo)
        for block, result in zip(uniq, translator.translate(uniq), strict=True):
            cache.BLOCKS.put(("fast-a64", *block), result)
            for i in todo[block]:
                out[i] = result
    return [o if o is not None else (b"", 0, 0) for o in out]


# ---- level 2 on disk ----------------------------------------------------------------------------------
# One-shot processes (`vm translate --from arm64 --input-file ... --output ...`) would run every rule
# again; the x86 code of each word persists between runs instead, in a file named by a hash of the
# code that makes it (any change to the decoder, rules or encoder starts a new file), next to the
# x86-64 direction's (fast.py). VM_TRANSLATE_NO_DISK_CACHE=1 turns this off.

_SOURCES = ("decode_a64.py", "emit_x86.py", "encode_x86.py", "decode_x86.py", "rules.py", "rules_a64_to_x86.py",
            "pipeline_a64.py", "fast_a64.py")


def _disk_path() -> Path | None:
    if os.environ.get("VM_TRANSLATE_NO_DISK_CACHE"):
        return None
    import hashlib

    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    base = Path(os.environ.get("VM_CACHE_DIR") or Path.home() / ".cache" / "vmcli")
    return base / f"translate-a64-templates-{digest.hexdigest()[:16]}.pickle"


def _ours() -> dict[Any, Any]:
    """This direction's templates, but for those of PC-relative words built at one address only."""
    return {k: v for k, v in cache.TEMPLATES.data.items()
            if isinstance(k, tuple) and k[0] == "a64" and k[2] in (None, CANONICAL_PC)}


def load_templates() -> int:
    """Fill cache level 2 from disk; returns how many templates were loaded."""
    import pickle

    path = _disk_path()
    if path is None or not path.exists():
        return 0
    try:
        templates = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
        return 0
    for key, code in templates.items():
        cache.TEMPLATES.data.setdefault(key, code)
    return len(templates)


def save_templates() -> None:
    """Write this direction's cache level 2 to disk (atomically; a failure only costs the next run
    time)."""
    import pickle

    path = _disk_path()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(_ours(), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    except OSError:
        pass


# ---- parallel translation ----------------------------------------------------------------------------

def _chunk(blocks: list[tuple[bytes, int]]) -> tuple[list[Result], list[int], dict[Any, Any]]:
    before = set(cache.TEMPLATES.data)
    out: list[Result] = [(bytes(code), n, u) for code, n, u in translate_fast(blocks)]  # to pickle
    new = {k: v for k, v in _ours().items() if k not in before}
    return out, [v for level in cache.LEVELS for v in (level.hits, level.misses)], new


def translate_fast_jobs(blocks: list[tuple[bytes, int]], jobs: int) -> list[Result]:
    """translate_fast over `jobs` worker processes (each loads numba's cached kernels)."""
    if jobs <= 1 or len(blocks) < 64 * jobs:
        return translate_fast(blocks)
    import multiprocessing

    size = (len(blocks) + jobs - 1) // jobs
    parts = [blocks[i:i + size] for i in range(0, len(blocks), size)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        results = pool.map(_chunk, parts)
    out: list[Result] = []
    for res, counters, new in results:
        out += res
        for i, level in enumerate(cache.LEVELS):
            level.count(counters[2 * i], counters[2 * i + 1])
        for key, code in new.items():            # the workers' templates, for the disk cache
            cache.TEMPLATES.data.setdefault(key, code)
    return out
