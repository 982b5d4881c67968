"""numba kernels of the AArch64 -> x86-64 hot path (fast_a64.py): template lookup, then copy-and-patch.

Imported only by fast_a64._kernels, so numba loads only on the paths that use it; every kernel
compiles with cache=True.
"""

from __future__ import annotations

import numba
import numpy as np

# template flags
F_EXIT, F_UNSUPPORTED, F_PINNED = 1, 2, 4
KEY_WORD, KEY_PCREL = -1, -2          # second key column: the word alone / the word at any address


@numba.njit(cache=True)
def lookup(words, pc_mask, pc_value, hkeys, hval, hused, first_new):
    """Level 2 in numba: each instruction word -> template id, through an open-addressing table
    keyed by (word, KEY_WORD) or, for the PC-relative encodings, (word, KEY_PCREL) whose template
    is patched to the instruction's address. Unknown keys get a placeholder -(j + 2); the first
    instruction that needs new template j is first_new[j]."""
    n = len(words)
    out = np.empty(n, np.int64)
    mask = len(hused) - 1
    nnew = 0
    for i in range(n):
        w = np.int64(words[i])
        k2 = KEY_WORD
        for e in range(len(pc_mask)):
            if (w & pc_mask[e]) == pc_value[e]:
                k2 = KEY_PCREL
                break
        h = (np.uint64(w) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(k2 + 3)
        s = np.int64(h >> np.uint64(32)) & mask
        while hused[s] and (hkeys[s, 0] != w or hkeys[s, 1] != k2):
            s = (s + 1) & mask
        if hused[s]:
            out[i] = hval[s]
        else:
            hused[s] = True
            hkeys[s, 0] = w
            hkeys[s, 1] = k2
            hval[s] = -(nnew + 2)
            first_new[nnew] = i
            out[i] = hval[s]
            nnew += 1
    return out, nnew


@numba.njit(cache=True)
def resolve(tpl_of, hval, hused, new_ids):
    """Replace the placeholders by the template ids made for them (in the table too)."""
    for i in range(len(tpl_of)):
        v = tpl_of[i]
        if v <= -2:
            tpl_of[i] = new_ids[-v - 2]
    for s in range(len(hused)):
        if hused[s] and hval[s] <= -2:
            hval[s] = new_ids[-hval[s] - 2]


@numba.njit(cache=True)
def _patched(value, kind, pc, base):
    """An address value of a template built at `base`, moved to the instruction at `pc`."""
    if kind == 1:
        return value + ((pc >> 12) - (base >> 12)) * 4096
    return value + (pc - base)


@numba.njit(cache=True)
def emit(wstart, addrs, pre_ok, tpl_of, tpl_start, tpl_len, tpl_flags, tpl_base, tbytes, patches, pstart, plen):
    """Copy each block's templates into one buffer and patch the addresses in. A block is taken
    whole or not at all (block_ok false: pipeline_a64 translates it): it must hold only supported
    instructions, a branch only as its last one, and every patched address must still fit the
    imm32 the template holds it in."""
    n = len(wstart) - 1
    size = np.zeros(n + 1, np.int64)
    block_ok = np.zeros(n, np.bool_)
    for b in range(n):
        ok = pre_ok[b]
        total = 0
        last = wstart[b + 1] - 1
        for i in range(wstart[b], wstart[b + 1]):
            if not ok:
                break
            t = tpl_of[i]
            f = tpl_flags[t]
            if (f & (F_UNSUPPORTED | F_PINNED)) != 0 or ((f & F_EXIT) != 0 and i != last):
                ok = False
                break
            pc = addrs[b] + 4 * (i - wstart[b])
            for p in range(pstart[t], pstart[t] + plen[t]):
                v = _patched(patches[p, 2], patches[p, 1], pc, tpl_base[t])
                if v < 0 or v >= (np.int64(1) << 32):
                    ok = False
            total += tpl_len[t]
        block_ok[b] = ok
        size[b + 1] = size[b] + (total if ok else 0)
    out = np.empty(size[n], np.uint8)
    for b in range(n):
        if not block_ok[b]:
            continue
        o = size[b]
        for i in range(wstart[b], wstart[b + 1]):
            t = tpl_of[i]
            s = tpl_start[t]
            ln = tpl_len[t]
            out[o:o + ln] = tbytes[s:s + ln]
            pc = addrs[b] + 4 * (i - wstart[b])
            for p in range(pstart[t], pstart[t] + plen[t]):
                v = _patched(patches[p, 2], patches[p, 1], pc, tpl_base[t])
                q = o + patches[p, 0]
                out[q] = v & 0xFF
                out[q + 1] = (v >> 8) & 0xFF
                out[q + 2] = (v >> 16) & 0xFF
                out[q + 3] = (v >> 24) & 0xFF
            o += ln
    return out, size, block_ok
