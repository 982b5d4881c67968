"""The numba hot path of AArch64 -> x86-64: template lookup -> copy-and-patch, over numpy arrays.

AArch64 words are fixed 32-bit, and an instruction's x86 code depends only on its word and its
flag context (builder.FLAGS_IN, NO_STORE) - except for the PC-relative encodings (adr, adrp,
branches), whose code holds guest addresses. So:
  Stage A (numba, core/hashtable.lookup): every word of every block -> its template, through an
    open-addressing table keyed by the word (a PC-relative one without its offset field, one of
    shapes.py's encodings without its immediate field: kernels.keys_of) and the flag context (0,
    then kernels.contexts finds the others from the templates picked).
  Stage B (Python, once per new key only): the decoder decodes the word and its rule builds the
    code (frontend.rule_code; the table is the cache, so the Python path's levels 1 and 2 are
    passed by and only count); for a key by shape, per class of its values, from two of its words.
  Stage C (numba, kernels.plan, then kernels.emit): pick each instruction's template, then copy
    every block's templates into one buffer (blocks in parallel) and patch the values in.
A PC-relative template is built for one word at one address; builder.Ctx.mov_addr marks where
each address sits, how it follows the instruction (pc + k, or the address the word's offset field
names: isa pc_target) and which of mov_imm's encodings holds it. The template serves every word
of its key at every address whose values keep those encodings; another gets another template of
the same key (a chain, tpl_next). A template by shape likewise serves the words of its key whose
derived values keep their classes (shapes.py); a word alone in its class gets its own.
As in frontend.translate, a block is translated up to its first unsupported word or up to and
including its first branch; both give the same bytes and counts (tests/translate/a64_to_x86/
test_fast.py, test_shapes.py), and a block at an address beyond 2**62 goes through
frontend.translate itself. Whole blocks are cached at level 3. Importing this module imports
numba (only the bulk path does); the kernels compile with cache=True.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from vmcli.translate.a64_to_x86 import kernels as k
from vmcli.translate.a64_to_x86.builder import ADDR_WIDE, REL_TARGET, Code, addr_fits
from vmcli.translate.a64_to_x86.frontend import rule_code, translate
from vmcli.translate.a64_to_x86.shapes import (
    ENV_REGS,
    ENV_SLOT,
    FIELD_KIND,
    HOST_CLASS,
    HOST_FLIP,
    HOST_LOW,
    REL_EQUAL,
    REL_FIELD,
    REL_REG,
    REL_WORD,
    SHAPES,
    derive_patches,
    descriptor,
    field_value,
    value_class,
)
from vmcli.translate.core import cache, disk
from vmcli.translate.core.direction import Result
from vmcli.translate.core.hashtable import HashTable
from vmcli.translate.core.jobs import cpus, fork_map
from vmcli.translate.isa.a64.decoder import Insn, decode, decode_as
from vmcli.translate.isa.a64.encodings import pc_relative_mask, pc_target

# one template: word, flag context, x86 code, flags, the address it was built at, its patches
# (Code.addrs, then shapes.py's field values or word)
Patch = tuple[int, int, int, int]
Record = tuple[int, int, bytes, int, int, tuple[Patch, ...]]
# a new key's first word, its pc and flag context, the other words of its shape in the batch, and
# the word's first matching decoder pattern (kernels.keys_and_patterns; -1: none)
Todo = tuple[int, int, int, tuple[int, ...], int]
Builder = Callable[[list[Todo]], list[list[Record]]]    # each key's templates, the chain's head first

F_EXIT, F_UNSUPPORTED = k.F_EXIT, k.F_UNSUPPORTED


def _record(word: int, pc: int, context: int, code: Code, patches: tuple[Patch, ...] = ()) -> Record:
    raw = code.bytes
    for o, _page, value, kind in code.addrs:           # the value sits where the mark says
        size = 8 if kind in ADDR_WIDE else 4
        assert raw[o:o + size] == (value & (1 << 64) - 1).to_bytes(8, "little")[:size], code.addrs
    return word, context, raw, (F_EXIT if code.exit else 0) | code.nzcv, pc, code.addrs + patches


def _decode(word: int, pc: int, pattern: int | None) -> Insn | None:
    """The decoder's answer for `word`, from its first matching pattern when the kernels found it."""
    if pattern is None:
        return decode(word, pc)
    return None if pattern < 0 else decode_as(k.PATTERN_LIST[pattern], word, pc)


def _build(word: int, pc: int, context: int, insn: Insn | None) -> Record:
    """The code of `word` (decoded: `insn`, None when it does not decode) at `pc` in flag context
    `context` from its rule (for a word keyed by shape: a template that serves this word only).
    Each word comes here once (the table is the cache), so it bypasses the Python path's caches:
    counted as their misses (by _build_groups)."""
    if insn is None:
        return word, context, b"", F_UNSUPPORTED, pc, ()
    exact = ((0, REL_WORD, word, 0),) if insn.enc.name in SHAPES else ()
    return _record(word, pc, context, rule_code(insn, context), exact)


def _partner(word: int, others: list[int], descs: list[int]) -> int:
    """A word whose derived values all differ from `word`'s (else the one differing in most, of a
    few looked at): the values two words share, their template serves only."""
    mine = [field_value(word, d) for d in descs]
    best, most = others[0], -1
    for w in others[:8]:
        apart = sum(1 for d, v in zip(descs, mine, strict=True) if field_value(w, d) != v)
        if apart == len(descs):
            return w
        if apart > most:
            best, most = w, apart
    return best


def _build_shape(word: int, pc: int, context: int, others: tuple[int, ...],
                 pattern: int | None = None) -> list[Record]:
    """The templates of the words of one shape (shapes.py): per class of their derived values, one
    made from two of its words whose values are patched in, or the word's own when it is alone."""
    insn = _decode(word, pc, pattern)
    if insn is None or not others or insn.enc.name not in SHAPES:
        return [_build(word, pc, context, insn)]        # an undecodable word's shape is (Enc.valid reads no immediate)
    descs = _descriptors(insn)
    words = (word, *others)
    by_class: dict[int, list[int]] = {}
    for w, c in zip(words, k.classes_of(np.array(words, np.int64), np.array(descs, np.int64)).tolist(), strict=True):
        by_class.setdefault(c, []).append(w)
    out: list[Record] = []
    for signature, group in by_class.items():
        classes = [(signature >> (3 * j)) & 7 for j in range(len(descs))]
        pending = group
        while pending:                         # until every word of the class has its template
            made = _class_templates(pending, insn if pending[0] == word else decode(pending[0], pc), pc, context,
                                    descs, classes)
            out += made
            pending = [w for w in pending[1:] if not any(_fits(r, pc, w) for r in made)]
    return out


def _class_templates(ws: list[int], insn: Insn | None, pc: int, context: int, descs: list[int],
                     classes: list[int]) -> list[Record]:
    """A template for words of one shape and class, made from the first (decoded: `insn`) and
    another with the first's host registers (values the two share, it serves only: a later call
    makes one for the words it does not serve) and, where the words name other host registers of
    the same classes, a third with the first's flipped (where the codes differ, a register's
    number is); or the first word's own when it is alone or the codes have nothing in common."""
    w0 = ws[0]
    if len(ws) == 1 or insn is None:
        return [_build(w0, pc, context, insn)]
    hosts = _host_fields(insn)
    w1 = _with_hosts(_partner(w0, ws[1:], descs), hosts)
    c0 = rule_code(insn, context)
    c1 = c0 if w1 == w0 else rule_code(_decoded(w1, pc), context)
    windows = None
    if (c0.exit, c0.nzcv, c0.addrs, c1.addrs) == (c1.exit, c1.nzcv, (), ()):
        windows = derive_patches(c0.bytes, c1.bytes, [field_value(w0, d) for d in descs],
                                 [field_value(w1, d) for d in descs])
    if windows is None:                        # no common code: its own
        return [_record(w0, pc, context, c0, ((0, REL_WORD, w0, 0),))]
    patched = {j for _, j, _ in windows}
    patches = tuple((o, REL_FIELD, descs[j], FIELD_KIND | nbytes << 3 | classes[j]) for o, j, nbytes in windows)
    guards: list[Patch] = []                   # the values not in the code: their classes, or one value
    for j, (desc, c) in enumerate(zip(descs, classes, strict=True)):
        d0 = field_value(w0, desc)
        if j not in patched:
            guards.append((d0, REL_EQUAL, desc, 0) if d0 == field_value(w1, desc) else
                          (0, REL_FIELD, desc, FIELD_KIND | c))
    regs: list[Patch] | None = None
    if hosts and any(_with_hosts(w, hosts) != w for w in ws[1:]):
        flipped = _decoded(_with_hosts(w0, [(lsb, HOST_FLIP[r]) for lsb, r in hosts]), pc)
        regs = _register_patches(c0.bytes, rule_code(flipped, context).bytes, hosts, windows)
    if regs is None:                           # the host registers it was made with, only
        regs = [(r, REL_EQUAL, descriptor(lsb, 5, False, (0, 0, 0)), 0) for lsb, r in hosts]
    return [_record(w0, pc, context, c0, patches + tuple(guards) + tuple(regs))]


def _host_fields(insn: Insn) -> list[tuple[int, int]]:
    """(lsb, register) of the register fields of a word keyed by shape that name a host register
    of shapes.HOST_CLASS (the key holds their class, not the register)."""
    fields = insn.enc.fields
    return [(fields[name][0], r) for name in SHAPES[insn.enc.name].regs
            if (r := (insn.word >> fields[name][0]) & 31) in HOST_CLASS]


def _with_hosts(word: int, hosts: list[tuple[int, int]]) -> int:
    """`word` naming `hosts`' registers in their fields (a word of the same key: they are the
    same fields, of the same classes, equal where the key's are)."""
    for lsb, r in hosts:
        word = word & ~(31 << lsb) | r << lsb
    return word


def _register_patches(b0: bytes, b1: bytes, hosts: list[tuple[int, int]],
                      windows: list[tuple[int, int, int]]) -> list[Patch] | None:
    """Where code b0 holds the x86 numbers of `hosts`' registers, from code b1 of the same word with
    each of them flipped (HOST_FLIP: the lowest bit of its number): every bit where the two differ
    must be the lowest of a 3-bit field that holds one of the registers' low bits in b0 and the
    flipped one in b1, outside the value windows; None when one is not."""
    low_field: dict[int, int] = {}             # low three bits -> a field naming that register
    for lsb, r in hosts:
        low_field.setdefault(HOST_LOW[r], lsb)
    if len(b0) != len(b1):
        return None
    taken = {o + k for o, _, width in windows for k in range(width)}
    out: list[Patch] = []
    for o, (a, b) in enumerate(zip(b0, b1, strict=True)):
        x = a ^ b
        if not x:
            continue
        if o in taken:
            return None
        for shift in range(8):
            if not (x >> shift) & 1:
                continue
            low = (a >> shift) & 7
            if shift > 5 or (x >> (shift + 1)) & 3 or low not in low_field or (b >> shift) & 7 != low ^ 1:
                return None
            out.append((o, REL_REG, low_field[low], shift))
    return out


def _descriptors(insn: Insn) -> list[int]:
    """The values of a word keyed by shape that its template patches: its immediate's derived
    values, then the env slot offset of each env register it names (once each)."""
    shape = SHAPES[insn.enc.name]
    fields = insn.enc.fields
    out = []
    if shape.field is not None:
        lsb, width = fields[shape.field]
        out = [descriptor(lsb, width, shape.signed, d) for d in shape.derived(insn.fields)]
    named: set[int] = set()
    for name in shape.regs:
        lsb, width = fields[name]
        r = (insn.word >> lsb) & 31
        if r in ENV_REGS and r not in named:
            named.add(r)
            out.append(descriptor(lsb, width, False, ENV_SLOT))
    return out


def _decoded(word: int, pc: int) -> Insn:
    insn = decode(word, pc)
    assert insn is not None                    # the same encoding as its shape's first word
    return insn


def _build_groups(todo: list[Todo]) -> list[list[Record]]:
    """The templates of each new key, counted as misses of cache levels 1 and 2."""
    cache.DECODED.count(0, len(todo))
    cache.TEMPLATES.count(0, len(todo))
    return [_build_shape(*t) if t[3] else [_build(t[0], t[1], t[2], _decode(t[0], t[1], t[4]))] for t in todo]


def _fits(record: Record, pc: int, word: int) -> bool:
    """record's code is the instruction's (`word` at `pc`) once its addresses and fields are
    patched (kernels._fits, in Python)."""
    _word, _context, _raw, _flags, base, patches = record
    for offset, rel, value, kind in patches:
        if rel == REL_WORD:
            if word != value:
                return False
        elif rel == REL_EQUAL:
            if field_value(word, value) != offset:     # the one value it serves
                return False
        elif rel == REL_FIELD:
            if value_class(field_value(word, value)) != kind & 7:
                return False
        elif rel == REL_REG:
            continue                                  # the key holds the register's class
        elif not addr_fits(pc_target(word, pc) if rel == REL_TARGET else value + (pc - base), kind):
            return False
    return True


def _shape_words(keys: np.ndarray, tpl_of: np.ndarray, words: np.ndarray,
                 first_new: np.ndarray) -> dict[int, tuple[int, ...]]:
    """For each new key by shape (placeholder -(j + 2) in tpl_of) with more than one word, its
    other words (than the one at first_new[j])."""
    at = np.flatnonzero((tpl_of <= -2) & ((keys[:, 0] & k.SHAPED) != 0))
    if not len(at):
        return {}
    pairs = np.unique((-tpl_of[at] - 2) << 32 | words[at].astype(np.int64))
    by_key: dict[int, list[int]] = {}
    for j, w in zip((pairs >> 32).tolist(), (pairs & 0xFFFFFFFF).tolist(), strict=True):
        by_key.setdefault(j, []).append(w)
    out = {}
    for j, ws in by_key.items():
        if len(ws) > 1:
            first = int(words[first_new[j]])
            out[j] = tuple(w for w in ws if w != first)
    return out


class FastA64:
    """Translates many AArch64 blocks through the numba kernels; keeps its tables between calls."""

    def __init__(self) -> None:
        self.level2 = HashTable(1 << 12)        # (word, context) -> its first template (the chain's head)
        self.records: list[Record] = []    # every template, in id order (for the disk cache)
        self.tpl_next: list[int] = []
        self.tpl_start: list[int] = []
        self.patches: list[tuple[int, int, int, int]] = []
        self.tpl_pstart: list[int] = []
        self._bytes: list[bytes] = []
        self._nbytes = 0
        self._arrays: tuple[np.ndarray, ...] | None = None
        self.fallbacks = 0                 # blocks handed to frontend.translate
        self._new = 0                      # templates built in this call

    def _store(self, record: Record) -> int:
        index = len(self.records)
        self.records.append(record)
        self.tpl_next.append(-1)
        self.tpl_start.append(self._nbytes)
        self.tpl_pstart.append(len(self.patches))
        self.patches += record[5]
        self._bytes.append(record[2])
        self._nbytes += len(record[2])
        self._arrays = None
        return index

    def _serves(self, head: int, pc: int, word: int) -> bool:
        t = head
        while t >= 0 and not _fits(self.records[t], pc, word):
            t = self.tpl_next[t]
        return t >= 0

    def _chain(self, head: int, record: Record) -> None:
        """Add `record` to the templates of its word (unless one of them already serves its address)."""
        t = head
        while True:
            if _fits(self.records[t], record[4], record[0]):
                return
            if self.tpl_next[t] < 0:
                break
            t = self.tpl_next[t]
        self.tpl_next[t] = self._store(record)

    def _plan(self, wstart: np.ndarray, addrs: np.ndarray, words: np.ndarray, patterns: np.ndarray,
              pre_ok: np.ndarray, tpl_of: np.ndarray,
              pc_of: Callable[[int], int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """kernels.plan, after adding the templates its chains lack (PC-relative words at addresses
        their templates cannot serve, words of a shape in a class it has no template for yet)."""
        tpl_next, _start, tpl_len, tpl_flags, tpl_base, _bytes, patches, pstart, plen = self._tables()
        use, size, done, missing = k.plan(wstart, addrs, words, pre_ok, tpl_of, tpl_next, tpl_len, tpl_flags,
                                          tpl_base, patches, pstart, plen)
        if not len(missing):
            return use, size, done
        alike: dict[int, set[int]] = {}                   # head -> the missing words of its shape
        for i in missing.tolist():
            alike.setdefault(int(tpl_of[i]), set()).add(int(words[i]))
        for i in missing.tolist():
            head, word, pc = int(tpl_of[i]), int(words[i]), pc_of(i)
            if not self._serves(head, pc, word):
                others = () if pc_relative_mask(word) else tuple(alike[head] - {word})
                todo = (word, pc, self.records[head][1], others, int(patterns[i]))
                for record in _build_groups([todo])[0]:
                    self._chain(head, record)
        tpl_next, _start, tpl_len, tpl_flags, tpl_base, _bytes, patches, pstart, plen = self._tables()
        use, size, done, missing = k.plan(wstart, addrs, words, pre_ok, tpl_of, tpl_next, tpl_len, tpl_flags,
                                          tpl_base, patches, pstart, plen)
        assert not len(missing)
        return use, size, done

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each (word, context) key's first template id (placeholders for new keys) and the new
        keys' first positions in `keys`."""
        self.level2.reserve(len(keys))
        return self.level2.insert(keys)

    def insert(self, records: list[Record]) -> None:
        """Add templates made elsewhere (the disk cache, worker processes)."""
        if not records:
            return
        keys = np.empty((len(records), 2), np.int64)
        keys[:, 0] = k.keys_of(np.array([r[0] for r in records], np.int64))
        keys[:, 1] = [r[1] for r in records]
        tpl_of, first_new = self._lookup(keys)
        new_ids = np.array([self._store(records[int(i)]) for i in first_new], np.int64)
        self.level2.resolve(tpl_of, new_ids)
        heads = set(first_new.tolist())
        for i, record in enumerate(records):
            if i not in heads:
                self._chain(int(tpl_of[i]), record)

    def _tables(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            self._bytes = [b"".join(self._bytes)]
            recs = self.records
            self._arrays = (np.array(self.tpl_next, np.int64), np.array(self.tpl_start, np.int64),
                            np.array([len(r[2]) for r in recs], np.int64), np.array([r[3] for r in recs], np.int64),
                            np.array([r[4] for r in recs], np.int64), np.frombuffer(self._bytes[0] + b"\0", np.uint8),
                            np.array(self.patches, np.int64).reshape(-1, 4), np.array(self.tpl_pstart, np.int64),
                            np.array([len(r[5]) for r in recs], np.int64))
        return self._arrays

    def _templates(self, keys: np.ndarray, pc_of: Callable[[int], int], build: Builder | None,
                   words: np.ndarray, patterns: np.ndarray) -> np.ndarray:
        """The first template id of each (word, context) key, building the new ones from the word
        at their first position (at its pc, pc_of) and, for a key by shape, its other words."""
        tpl_of, first_new = self._lookup(keys)
        self._new += len(first_new)
        if len(first_new):
            others = _shape_words(keys, tpl_of, words, first_new)
            todo = [(int(words[i]), pc_of(int(i)), int(keys[i, 1]), others.get(j, ()), int(patterns[i]))
                    for j, i in enumerate(first_new.tolist())]
            groups = build(todo) if build is not None else _build_groups(todo)
            new_ids = np.array([self._store(g[0]) for g in groups], np.int64)
            self.level2.resolve(tpl_of, new_ids)
            for head, g in zip(new_ids.tolist(), groups, strict=True):
                for record in g[1:]:
                    self._chain(head, record)
        return tpl_of

    def translate(self, blocks: list[tuple[bytes, int]], build: Builder | None = None) -> list[Result]:
        """(code, instructions, unsupported) of each block; code is the same bytes as
        frontend.translate(...).code. `build` makes the templates of new words (default: here, one
        after the other)."""
        n = len(blocks)
        codes = [code for code, _ in blocks]
        where = [address for _, address in blocks]
        sizes = np.fromiter(map(len, codes), np.int64, n)
        # instructions per block as frontend.translate lists them: a partial last word is one more
        listed = (sizes + 3) >> 2
        if (sizes & 3).any():
            codes = [c[:len(c) & ~3] for c in codes]
        pre_ok = np.ones(n, np.bool_)
        if n and (min(where) < 0 or max(where) >= (1 << 62)):      # beyond the kernels' int64 addresses
            pre_ok = np.array([0 <= a < (1 << 62) for a in where], np.bool_)
            where = [a if ok else 0 for a, ok in zip(where, pre_ok.tolist(), strict=True)]
        addrs = np.array(where, np.int64)
        lengths = np.zeros(n + 1, np.int64)
        lengths[1:] = sizes >> 2
        words = np.frombuffer(b"".join(codes), "<u4")
        wstart = np.cumsum(lengths)

        pcs = np.repeat(addrs - 4 * wstart[:-1], lengths[1:]) + 4 * np.arange(len(words), dtype=np.int64)

        def pc_of(i: int) -> int:
            return int(pcs[i])

        self._new = 0
        word_keys, patterns = k.keys_and_patterns(words)
        keys = np.zeros((len(words), 2), np.int64)
        keys[:, 0] = word_keys
        tpl_of = self._templates(keys, pc_of, build, words, patterns)
        use, size, done = self._plan(wstart, addrs, words, patterns, pre_ok, tpl_of, pc_of)
        # the flag contexts, from what the context-0 templates picked do with NZCV (the templates of
        # a shape's classes may differ there); their own templates
        ctx = k.contexts(wstart, done, use, self._tables()[3])
        at = np.flatnonzero(ctx)
        if len(at):
            keys = np.empty((len(at), 2), np.int64)
            keys[:, 0] = word_keys[at]
            keys[:, 1] = ctx[at]
            tpl_of[at] = self._templates(keys, lambda j: pc_of(int(at[j])), build, words[at], patterns[at])
            use, size, done = self._plan(wstart, addrs, words, patterns, pre_ok, tpl_of, pc_of)
        cache.TEMPLATES.count(len(words) - self._new, 0)    # the misses count in _build_groups
        _next, tpl_start, tpl_len, _flags, tpl_base, tbytes, patches, pstart, plen = self._tables()
        out = k.emit(wstart, addrs, words, use, size, done, tpl_start, tpl_len, tpl_base, tbytes, patches, pstart,
                     plen)
        raw = memoryview(out)                       # blocks are views into one buffer, no copies
        bounds = size.tolist()
        counts = listed.tolist()
        result: list[Result] = [(raw[lo:hi], c, c - d)
                                for lo, hi, c, d in zip(bounds, bounds[1:], counts, done.tolist(), strict=False)]
        if not pre_ok.all():
            for b in np.flatnonzero(~pre_ok).tolist():
                code, address = blocks[b]
                self.fallbacks += 1
                tr = translate(code, address)
                result[b] = (tr.code, len(tr.insns), len(tr.unsupported))
        return result


_TRANSLATOR: FastA64 | None = None


def _translator() -> FastA64:
    global _TRANSLATOR
    if _TRANSLATOR is None:
        _TRANSLATOR = FastA64()
    return _TRANSLATOR


def reset() -> None:
    """Forget the numba-side template table (the Python caches are cache.clear's)."""
    global _TRANSLATOR, _LOADED
    _TRANSLATOR = None
    _LOADED = 0


def translate_fast(blocks: list[tuple[bytes, int]], build: Builder | None = None) -> list[Result]:
    """(code, instructions, unsupported) of many AArch64 blocks via the numba path, with cache
    level 3 on whole blocks."""
    translator = _translator()
    # a few objects per block and no cycles: the cyclic collector would only rescan the caches
    with disk.no_cyclic_gc():
        return _translate_fast(blocks, translator, build)


def _translate_fast(blocks: list[tuple[bytes, int]], translator: FastA64, build: Builder | None) -> list[Result]:
    level = cache.BLOCKS
    get = level.data.get
    keys = [("fast-a64", code, address) for code, address in blocks]
    out: list[Result | None] = list(map(get, keys))
    todo = dict.fromkeys(key for key, hit in zip(keys, out, strict=True) if hit is None)
    level.count(len(blocks) - len(todo), len(todo))
    if len(todo) == len(blocks):                  # all new and none twice: no merging
        results = translator.translate(blocks, build)
        level.put_many(zip(keys, results, strict=True))
        return results
    if todo:                                      # a repeat inside this batch is a level-3 hit
        uniq = list(todo)
        made = dict(zip(uniq, translator.translate([(code, address) for _, code, address in uniq], build),
                        strict=True))
        level.put_many(made.items())
        out = [made[key] if hit is None else hit for key, hit in zip(keys, out, strict=True)]
    return out  # type: ignore[return-value]   # every None was filled


# ---- level 2 on disk (core/disk.py) ----------------------------------------------------------------
# The template table itself (every word's x86 code), so a run loads it without decoding a word.

_LOADED = 0       # templates the table held when it was last loaded or saved


def load_templates() -> int:
    """Fill the template table (cache level 2) from disk; returns how many templates were loaded."""
    global _LOADED
    path = disk.path("a64-templates", ".npz")
    if path is None or not path.exists():
        return 0
    try:
        with np.load(path) as f:
            records = _records(*(f[name] for name in _SAVED))
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
        return 0     # unreadable: the templates are made again
    translator = _translator()
    translator.insert(records)
    _LOADED = len(translator.records)
    return len(records)


def save_templates() -> None:
    """Write the template table to disk when it grew (atomically; a failure only costs the next
    run time)."""
    global _LOADED
    path = disk.path("a64-templates", ".npz")
    if path is None or _TRANSLATOR is None or len(_TRANSLATOR.records) <= _LOADED:
        return
    t = _TRANSLATOR
    _next, start, length, flags, base, tbytes, patches, pstart, plen = t._tables()
    n = len(t.records)
    word = np.fromiter((r[0] for r in t.records), np.int64, n)
    context = np.fromiter((r[1] for r in t.records), np.int64, n)
    arrays: dict[str, Any] = dict(zip(_SAVED, (word, context, start, length, flags, base, tbytes, patches, pstart,
                                               plen), strict=True))
    if disk.save(path, lambda tmp: np.savez(tmp, **arrays)):
        _LOADED = n


# the saved table: the templates' arrays as _tables() makes them, with their words and flag contexts
# (a pickle of the records takes 0.05 s to write for glibc's and 0.04 s to read; these 0.01 s)
_SAVED = ("word", "context", "start", "length", "flags", "base", "bytes", "patches", "pstart", "plen")


def _records(word: np.ndarray, context: np.ndarray, start: np.ndarray, length: np.ndarray, flags: np.ndarray,
             base: np.ndarray, tbytes: np.ndarray, patches: np.ndarray, pstart: np.ndarray,
             plen: np.ndarray) -> list[Record]:
    """The records of a saved table."""
    raw = tbytes.tobytes()
    rows = list(map(tuple, patches.reshape(-1, 4).tolist()))
    return [(w, c, raw[s:s + ln], f, pc, tuple(rows[p:p + np_]))
            for w, c, s, ln, f, pc, p, np_ in zip(word.tolist(), context.tolist(), start.tolist(), length.tolist(),
                                                  flags.tolist(), base.tolist(), pstart.tolist(), plen.tolist(),
                                                  strict=True)]


# ---- parallel translation (core/jobs.py) -------------------------------------------------------------
# The numba kernels already copy on every core; what a single process does one at a time is running
# the rules for new words. With -j N, this process and N - 1 forked children build those templates
# (the children only run Python and the single-threaded classes_of: numba's thread pool does not
# survive a fork), and this process does the rest.

PER_JOB = 400     # new keys a process must have to be worth a fork (about 15 ms of rules)


def translate_fast_jobs(blocks: list[tuple[bytes, int]], jobs: int) -> list[Result]:
    """translate_fast with the templates of new words built by `jobs` processes (0: one per CPU);
    a batch with few new words builds them here."""
    if jobs == 0:
        jobs = cpus()
    if jobs <= 1:
        return translate_fast(blocks)

    def build(todo: list[Todo]) -> list[list[Record]]:
        n = min(jobs, len(todo) // PER_JOB)
        if n <= 1:
            return _build_groups(todo)
        # dealt round-robin: the first new keys of a batch have more words, and cost more
        out: list[list[Record]] = [[] for _ in todo]
        for i, part in enumerate(fork_map(_build_groups, [todo[i::n] for i in range(n)])):
            out[i::n] = part
        return out

    return translate_fast(blocks, build)
