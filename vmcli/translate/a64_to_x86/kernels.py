"""numba kernels of the AArch64 -> x86-64 hot path (fast.py): plan each block, then copy-and-patch.

Imported only by fast.py, so numba loads only on the paths that use it; every kernel compiles with
cache=True. The level-2 table's kernels are core/hashtable.py's.
"""

from __future__ import annotations

import numba
import numpy as np

import vmcli.translate.core.parallel  # noqa: F401  (a fork-safe threading layer before any kernel runs)
from vmcli.translate.a64_to_x86.builder import (
    ADDR_64,
    ADDR_M32,
    ADDR_M64,
    ADDR_MU32,
    ADDR_S32,
    ADDR_U32,
    FLAGS_IN,
    N_CANON,
    N_CLOBBER,
    N_READS,
    N_WRITES,
    NO_STORE,
    REL_TARGET,
)
from vmcli.translate.a64_to_x86.shapes import (
    ENV_REGS,
    HOST_CLASS,
    HOST_LOW,
    REL_EQUAL,
    REL_FIELD,
    REL_REG,
    REL_WORD,
    SHAPES,
)
from vmcli.translate.isa.a64.decoder import BY_TOP

F_EXIT, F_UNSUPPORTED = 1, 2          # template flags, besides the builder's N_* (what it does with NZCV)
SHAPED = np.int64(1) << 32            # a key without its immediate field (shapes.py)


def _pattern_tables() -> tuple[np.ndarray, ...]:
    """The decoder's patterns by top byte for keys_of: the start of each top byte's list, masks,
    values; for the encodings keyed by shape, whether they are, their immediate field's bits and
    their register fields' lowest bits (-1 past the last)."""
    start = np.zeros(257, np.int64)
    masks, values, shaped, clear, regs = [], [], [], [], []
    for top, patterns in enumerate(BY_TOP):
        for p in patterns:
            masks.append(p.mask)
            values.append(p.value)
            shape = SHAPES.get(p.enc.name)
            shaped.append(shape is not None)
            lsbs = [-1] * 4
            if shape is None or shape.field is None:
                clear.append(0)
            else:
                lsb, width = p.enc.fields[shape.field]
                clear.append(((1 << width) - 1) << lsb)
            for i, name in enumerate(shape.regs if shape is not None else ()):
                lsbs[i] = p.enc.fields[name][0]
            regs.append(lsbs)
        start[top + 1] = len(masks)
    # each register's renaming class: the env block's two (x4..x15, x16..x30), then HOST_CLASS's
    cls = np.array([(0 if n < 16 else 1) if n in ENV_REGS else 2 + HOST_CLASS[n] if n in HOST_CLASS else -1
                    for n in range(32)], np.int64)
    return (start, np.array(masks, np.int64), np.array(values, np.int64), np.array(shaped, np.bool_),
            np.array(clear, np.int64), np.array(regs, np.int64).reshape(-1, 4), cls)


PATTERNS = _pattern_tables()
PATTERN_LIST = [p for patterns in BY_TOP for p in patterns]     # the tables' rows, in order
# a renamed register's name in a key: the first of its class to appear, the next ... (env x4..x15,
# env x16..x30, host x0/x1, host x2/x3/x19/x20; never a name another class's registers keep)
CLASS_NAMES = (4, 22, 0, 16)
HOST_LOW_TABLE = np.array(HOST_LOW, np.int64)


def keys_of(words: np.ndarray) -> np.ndarray:
    """The template keys' first words: a PC-relative word without its offset field; a word of an
    encoding keyed by shape without its immediate field, its env registers renamed (shapes.py),
    and SHAPED; any other word itself."""
    return _keys_of(words, *PATTERNS)[0]


def keys_and_patterns(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """keys_of, and each word's first matching pattern (the decoder's match: an index into
    PATTERN_LIST, -1 for none), so that a new word is decoded without matching it again."""
    keys, patterns = _keys_of(words, *PATTERNS)
    return keys, patterns


@numba.njit(cache=True)
def _keys_of(words, start, masks, values, shaped, clear, regs, cls):
    out = np.empty(len(words), np.int64)
    pattern = np.full(len(words), -1, np.int64)
    seen = np.empty((4, 4), np.int64)
    for i in range(len(words)):
        w = np.int64(words[i])
        pm = pc_relative_mask(w)
        out[i] = w & ~pm
        top = w >> 24
        for p in range(start[top], start[top + 1]):        # the decoder's first match
            if w & masks[p] == values[p]:
                pattern[i] = p
                if shaped[p] and not pm:
                    key = w & ~clear[p]
                    nseen = np.zeros(4, np.int64)
                    for q in range(4):
                        lsb = regs[p, q]
                        if lsb < 0:
                            break
                        r = (w >> lsb) & 31
                        c = cls[r]
                        if c >= 0:
                            j = 0
                            while j < nseen[c] and seen[c, j] != r:
                                j += 1
                            if j == nseen[c]:
                                seen[c, j] = r
                                nseen[c] += 1
                            key = (key & ~(np.int64(31) << lsb)) | (np.int64(CLASS_NAMES[c] + j) << lsb)
                    out[i] = key | SHAPED
                break
    return out, pattern


@numba.njit(cache=True)
def value_class(d):
    """shapes.value_class."""
    if d == 0:
        return 0
    if -128 <= d < 128:
        return 1 if d > 0 else 2
    if -(np.int64(1) << 31) <= d < (np.int64(1) << 31):
        return 3 if d > 0 else 4
    if 0 < d < (np.int64(1) << 32):
        return 5
    return 6 if d > 0 else 7


@numba.njit(cache=True)
def field_value(word, desc):
    """shapes.field_value: the derived value `desc` of `word`."""
    lsb, width, signed, shift = desc & 31, (desc >> 5) & 31, (desc >> 10) & 1, (desc >> 11) & 63
    v = (np.int64(word) >> lsb) & ((np.int64(1) << width) - 1)
    if signed and (v >> (width - 1)) & 1:
        v -= np.int64(1) << width
    v <<= shift
    add = (desc >> 18) & 0x1FF
    if add & 0x100:
        add -= 0x200
    return (-v if (desc >> 17) & 1 else v) + add


@numba.njit(cache=True)
def classes_of(words, descs):
    """Each word's classes of the derived values `descs` (shapes.value_class), 3 bits each."""
    out = np.zeros(len(words), np.int64)
    for i in range(len(words)):
        for j in range(len(descs)):
            out[i] |= np.int64(value_class(field_value(words[i], descs[j]))) << (3 * j)
    return out


@numba.njit(cache=True)
def contexts(wstart, done, use, tpl_flags):
    """Each instruction's flag context (frontend.flag_contexts, block by block over the words
    translated, done[b] of them: plan's), from the templates plan picked (use)."""
    ctx = np.zeros(len(use), np.int64)
    for b in range(len(wstart) - 1):
        lo = wstart[b]
        hi = lo + done[b]
        canon = False
        for i in range(lo, hi):
            f = tpl_flags[use[i]]
            if (f & N_READS) != 0 and canon:
                ctx[i] = FLAGS_IN
            if (f & N_CANON) != 0:
                canon = True
            elif (f & N_CLOBBER) != 0:
                canon = False
        needed = True
        for i in range(hi - 1, lo - 1, -1):
            f = tpl_flags[use[i]]
            if (f & N_WRITES) != 0:
                if not needed:
                    ctx[i] |= NO_STORE
                needed = False
            if (f & N_READS) != 0 and (ctx[i] & FLAGS_IN) == 0:
                needed = True
    return ctx


@numba.njit(cache=True)
def _sext(value, bits):
    return value - (np.int64(1) << bits) if (value >> (bits - 1)) & 1 else value


@numba.njit(cache=True)
def pc_relative_mask(word):
    """isa.a64.encodings.pc_relative_mask."""
    if word & 0x7C000000 == 0x14000000:
        return 0x03FFFFFF
    if word & 0xFF000010 == 0x54000000 or word & 0x7E000000 == 0x34000000:
        return 0x00FFFFE0
    if word & 0x7E000000 == 0x36000000:
        return 0x0007FFE0
    if word & 0x1F000000 == 0x10000000:
        return 0x60FFFFE0
    return 0


@numba.njit(cache=True)
def _target(word, pc):
    """isa.a64.encodings.pc_target."""
    if word & 0x7C000000 == 0x14000000:
        return pc + 4 * _sext(word & 0x03FFFFFF, 26)
    if word & 0xFF000010 == 0x54000000 or word & 0x7E000000 == 0x34000000:
        return pc + 4 * _sext((word >> 5) & 0x7FFFF, 19)
    if word & 0x7E000000 == 0x36000000:
        return pc + 4 * _sext((word >> 5) & 0x3FFF, 14)
    imm = _sext(((word >> 5) & 0x7FFFF) << 2 | (word >> 29) & 3, 21)
    if word >> 31:
        return (pc & ~np.int64(0xFFF)) + (imm << 12)
    return pc + imm


@numba.njit(cache=True)
def _patched(value, rel, pc, base, word):
    """An address value of a template built at `base`, for the instruction `word` at `pc`."""
    if rel == REL_TARGET:
        return _target(np.int64(word), pc)
    return value + (pc - base)


@numba.njit(cache=True)
def _fits_kind(v, kind):
    """builder.addr_fits: `kind` is the encoding the builder gives value v."""
    if kind >= ADDR_M32:
        if -(np.int64(1) << 31) <= v < (np.int64(1) << 31):
            return kind == ADDR_M32
        if 0 <= v < (np.int64(1) << 32):
            return kind == ADDR_MU32
        return kind == ADDR_M64
    if 0 <= v < (np.int64(1) << 32):
        return kind == ADDR_U32
    if -(np.int64(1) << 31) <= v < 0:
        return kind == ADDR_S32
    return kind == ADDR_64


@numba.njit(cache=True)
def _fits(t, pc, word, tpl_base, patches, pstart, plen):
    """Template t's code is the instruction's (`word` at `pc`): every address keeps its encoding."""
    for p in range(pstart[t], pstart[t] + plen[t]):
        rel = patches[p, 1]
        if rel == REL_REG:
            continue                               # the key holds the register's class
        if rel == REL_WORD:
            if np.int64(word) != patches[p, 2]:
                return False
        elif rel == REL_EQUAL:
            if field_value(word, patches[p, 2]) != patches[p, 0]:
                return False
        elif rel == REL_FIELD:
            if value_class(field_value(word, patches[p, 2])) != patches[p, 3] & 7:
                return False
        elif not _fits_kind(_patched(patches[p, 2], rel, pc, tpl_base[t], word), patches[p, 3]):
            return False
    return True


@numba.njit(cache=True)
def plan(wstart, addrs, words, pre_ok, tpl_of, tpl_next, tpl_len, tpl_flags, tpl_base, patches, pstart, plen):
    """Pick each instruction's template and each block's place in the output. As in
    frontend.translate, a block is translated up to its first unsupported word, or up to
    and including its first branch: done[b] words. A word's templates form a chain (tpl_next), one
    per encoding of its addresses; an instruction none fits is returned in `missing`, and the
    caller adds templates for them all before emitting. Blocks not pre_ok are left to the caller."""
    n = len(wstart) - 1
    use = np.empty(len(tpl_of), np.int64)
    missing = np.empty(len(tpl_of), np.int64)
    nmissing = 0
    size = np.zeros(n + 1, np.int64)
    done = np.zeros(n, np.int64)
    for b in range(n):
        total = 0
        count = 0
        for i in range(wstart[b], wstart[b + 1] if pre_ok[b] else wstart[b]):
            t = tpl_of[i]
            f = tpl_flags[t]
            if (f & F_UNSUPPORTED) != 0:
                break
            pc = addrs[b] + 4 * (i - wstart[b])
            while t >= 0 and not _fits(t, pc, words[i], tpl_base, patches, pstart, plen):
                t = tpl_next[t]
            if t < 0:
                missing[nmissing] = i
                nmissing += 1
            else:
                use[i] = t
                total += tpl_len[t]
            count += 1
            if (f & F_EXIT) != 0:
                break
        done[b] = count
        size[b + 1] = size[b] + total
    return use, size, done, missing[:nmissing]


@numba.njit(cache=True)
def _copy_block(b, out, wstart, addrs, words, use, size, done, tpl_start, tpl_len, tpl_base, tbytes, patches,
                pstart, plen):
    """Block b's templates into its place in `out`, the addresses patched in."""
    o = size[b]
    for i in range(wstart[b], wstart[b] + done[b]):
        t = use[i]
        s = tpl_start[t]
        ln = tpl_len[t]
        out[o:o + ln] = tbytes[s:s + ln]
        if plen[t]:
            pc = addrs[b] + 4 * (i - wstart[b])
            for p in range(pstart[t], pstart[t] + plen[t]):
                rel, kind = patches[p, 1], patches[p, 3]
                q = o + patches[p, 0]
                if rel == REL_REG:                 # three bits of a byte: the host register's number
                    low = HOST_LOW_TABLE[(np.int64(words[i]) >> patches[p, 2]) & 31]
                    out[q] = (out[q] & ~(7 << kind)) | (low << kind)
                    continue
                if rel >= REL_WORD:                # REL_WORD, REL_EQUAL: guards, nothing to write
                    continue
                if rel == REL_FIELD:
                    v = field_value(words[i], patches[p, 2])
                    nbytes = (kind >> 3) & 15
                else:
                    v = _patched(patches[p, 2], rel, pc, tpl_base[t], words[i])
                    nbytes = 8 if patches[p, 3] == ADDR_64 or patches[p, 3] == ADDR_M64 else 4
                for k in range(nbytes):
                    out[q + k] = (v >> (8 * k)) & 0xFF
        o += ln


@numba.njit(cache=True, parallel=True)
def emit(wstart, addrs, words, use, size, done, tpl_start, tpl_len, tpl_base, tbytes, patches, pstart, plen):
    """Copy the planned blocks into one buffer, in parallel (each block has its own place)."""
    n = len(wstart) - 1
    out = np.empty(size[n], np.uint8)
    for b in numba.prange(n):
        _copy_block(b, out, wstart, addrs, words, use, size, done, tpl_start, tpl_len, tpl_base, tbytes, patches,
                    pstart, plen)
    return out
