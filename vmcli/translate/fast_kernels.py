"""numba kernels of the fast path (see fast.py). This module imports numba; nothing imports it
except fast._kernels(), so `vm translate --hex ...` and `vm run` never pay for numba.

decode_all mirrors decode_x86.decode and emit_a64.template_key exactly; the tests compare the
two paths byte for byte.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

NF = 21
T_NONE, T_GPR, T_XMM, T_MEM, T_IMM = 0, 1, 2, 3, 4
K_AL, K_RAX, K_CL, K_ONE, K_X0, K_G, K_V, K_Z, K_E, K_W, K_U, K_M, K_I, K_J = range(1, 15)
RIP = 16


@numba.njit(cache=True)
def _operand_size(kind: int, sz: int, opsize: int, rex_w: bool) -> int:
    if kind in (K_AL, K_CL, K_ONE):
        return 1
    if kind == K_X0:
        return 16
    if kind == K_RAX:
        return opsize
    if sz == 6:
        return opsize
    if sz == 7:
        return min(opsize, 4)
    if sz == 8:
        return 8 if rex_w else 4
    if sz == 9 or sz == 1:
        return 1
    if sz == 2:
        return 2
    if sz == 3:
        return 4
    if sz == 4:
        return 8
    if sz == 5:
        return 16
    # no size letter
    if kind in (K_W, K_V, K_U, K_M):
        return 16
    return opsize


@numba.njit(cache=True)
def _read(data: np.ndarray, p: int, n: int, signed: bool) -> Any:
    v = np.int64(0)
    for i in range(n):
        v |= np.int64(data[p + i]) << (8 * i)
    if signed and n < 8 and v >= (np.int64(1) << (8 * n - 1)):
        v -= np.int64(1) << (8 * n)
    return v


@numba.njit(cache=True)
def _decode_one(data, pos, end, first, count, cand, opk, opsz, nops, info, row) -> int:  # noqa: C901
    """Decode at pos into row; returns the length or -1 (outside the subset)."""
    p = pos
    opsize_prefix = False
    rep = 0
    rex = 0
    while p < end and (data[p] == 0x66 or data[p] == 0xF2 or data[p] == 0xF3):
        if data[p] == 0x66:
            opsize_prefix = True
        else:
            rep = data[p]
        p += 1
    if p < end and 0x40 <= data[p] <= 0x4F:
        rex = data[p]
        p += 1
    if p >= end:
        return -1
    mapno = 0
    if data[p] == 0x0F:
        p += 1
        mapno = 1
        if p < end and (data[p] == 0x38 or data[p] == 0x3A):
            mapno = 2 if data[p] == 0x38 else 3
            p += 1
    if p >= end:
        return -1
    opcode = data[p]
    p += 1
    slot = -1
    used_prefix = 0
    if mapno:
        tried = 0
        while tried < 3:
            prefix = -1
            if tried == 0 and rep:
                prefix = 2 if rep == 0xF2 else 3
            elif tried == 1 and opsize_prefix:
                prefix = 1
            elif tried == 2:
                prefix = 0
            tried += 1
            if prefix < 0:
                continue
            s = (mapno * 4 + prefix) * 256 + opcode
            if count[s] > 0:
                slot = s
                used_prefix = prefix
                break
    else:
        if rep:
            return -1
        s = opcode
        if count[s] > 0:
            slot = s
    if slot < 0:
        return -1
    rex_w = (rex & 8) != 0
    rex_r = (rex >> 2) & 1
    rex_x = (rex >> 1) & 1
    rex_b = rex & 1
    if used_prefix == 1:
        opsize_prefix = False
    opsize = 8 if rex_w else (2 if opsize_prefix else 4)
    spec0 = cand[first[slot]]
    mod = 0
    reg = 0
    rm = 0
    base = -1
    index = -1
    scale = 1
    disp = 0
    if info[spec0, 0]:
        if p >= end:
            return -1
        modrm = data[p]
        p += 1
        mod = modrm >> 6
        reg = (modrm >> 3) & 7
        rm = modrm & 7
        if mod != 3:
            base = rm | (rex_b << 3)
            if rm == 4:
                if p >= end:
                    return -1
                sib = data[p]
                p += 1
                scale = 1 << (sib >> 6)
                idx = ((sib >> 3) & 7) | (rex_x << 3)
                index = -1 if idx == 4 else idx
                base = (sib & 7) | (rex_b << 3)
                if (sib & 7) == 5 and mod == 0:
                    base = -1
                    if p + 4 > end:
                        return -1
                    disp = _read(data, p, 4, True)
                    p += 4
            elif rm == 5 and mod == 0:
                base = RIP
                if p + 4 > end:
                    return -1
                disp = _read(data, p, 4, True)
                p += 4
            if mod == 1:
                if p >= end:
                    return -1
                disp = _read(data, p, 1, True)
                p += 1
            elif mod == 2:
                if p + 4 > end:
                    return -1
                disp = _read(data, p, 4, True)
                p += 4
    spec = -1
    for c in range(count[slot]):
        cs = cand[first[slot] + c]
        if info[cs, 2] >= 0 and info[cs, 2] != reg:
            continue
        if mod == 3 and info[cs, 3] == 2:
            continue
        if mod != 3 and info[cs, 3] == 1:
            continue
        spec = cs
        break
    if spec < 0:
        return -1
    if mapno == 0 and opcode == 0x90 and rex_b:
        return -1  # xchg r8, rax, not nop
    if (info[spec, 1] or info[spec, 4]) and opsize == 2:
        return -1
    if info[spec, 4]:
        opsize = 8
    for f in range(3, NF):
        row[f] = 0
    for j in range(nops[spec]):
        kind = opk[spec, j]
        size = _operand_size(kind, opsz[spec, j], opsize, rex_w)
        o = 3 + 6 * j
        row[o + 4] = size
        if kind in (K_AL, K_RAX, K_CL):
            row[o] = T_GPR
            row[o + 1] = 1 if kind == K_CL else 0
        elif kind == K_ONE:
            row[o] = T_IMM
            row[o + 4] = 0
            row[o + 5] = 1
        elif kind == K_X0:
            row[o] = T_XMM
            row[o + 1] = 0
        elif kind == K_G:
            if size == 1 and rex == 0 and reg >= 4:
                return -1
            row[o] = T_GPR
            row[o + 1] = reg | (rex_r << 3)
        elif kind == K_V:
            row[o] = T_XMM
            row[o + 1] = reg | (rex_r << 3)
            row[o + 4] = 16
        elif kind == K_Z:
            r = (opcode & 7) | (rex_b << 3)
            if size == 1 and rex == 0 and r >= 4:
                return -1
            row[o] = T_GPR
            row[o + 1] = r
        elif kind in (K_E, K_W, K_U, K_M):
            if mod == 3:
                if kind == K_E:
                    if size == 1 and rex == 0 and rm >= 4:
                        return -1
                    row[o] = T_GPR
                else:
                    row[o] = T_XMM
                    row[o + 4] = 16
                row[o + 1] = rm | (rex_b << 3)
            else:
                row[o] = T_MEM
                row[o + 1] = base
                row[o + 2] = index
                row[o + 3] = scale
                row[o + 5] = disp
        else:  # I or J
            sz = opsz[spec, j]
            nbytes = 1
            if sz == 2:
                nbytes = 2
            elif sz == 7:
                nbytes = 2 if opsize == 2 else 4
            elif sz == 6:
                nbytes = opsize
            if p + nbytes > end:
                return -1
            signed = sz == 9 or sz == 7 or kind == K_J
            row[o] = T_IMM
            row[o + 4] = nbytes
            row[o + 5] = _read(data, p, nbytes, signed)
            row[o + 2] = 1 if kind == K_J else 0
            p += nbytes
    row[0] = spec
    row[1] = p - pos
    row[2] = opsize
    return p - pos


@numba.njit(cache=True)
def _cls(kind: int, num: int, seen: np.ndarray, params: np.ndarray, fixed: int) -> int:
    """Register class as emit_a64._classes: the rule's implicit registers exact (fixed: bits 0..2
    for rax/rcx/rdx, bit 3 for xmm0), the others renamed 8, 9 ..."""
    if kind == 0 and num <= 2 and (fixed >> num) & 1:
        return num
    if kind == 1 and num == 0 and (fixed >> 3) & 1:
        return 0
    base = 0 if kind == 0 else 4
    for k in range(4):
        if seen[base + k] == num:
            return 8 + k
        if seen[base + k] < 0:
            seen[base + k] = num
            params[base + k] = num
            return 8 + k
    return 99  # more than 4 distinct registers of a kind: never in the subset


@numba.njit(cache=True)
def _sign(v: int) -> int:
    return 0 if v == 0 else 1 if v > 0 else 2


@numba.njit(cache=True)
def _shape(row, j: int, small: int, seen: np.ndarray, params: np.ndarray, fixed: int,
           data_imm: bool) -> np.int64:
    o = 3 + 6 * j
    t = row[o]
    if t in (T_GPR, T_XMM):
        c = _cls(t - 1, row[o + 1], seen, params, fixed)
        return np.int64(1 | ((t - 1) << 3) | (c << 4) | (row[o + 4] << 9))
    if t == T_MEM:
        d = row[o + 5]
        b = row[o + 1]
        bc = 0 if b < 0 else 1 if b == RIP else 2 + _cls(0, b, seen, params, fixed)
        x = row[o + 2]
        xc = 0 if x < 0 else 2 + _cls(0, x, seen, params, fixed)
        sc = 0 if row[o + 3] == 1 else 1 if row[o + 3] == 2 else 2 if row[o + 3] == 4 else 3
        v = np.int64(2 | (bc << 3) | (xc << 8) | (sc << 13) | (row[o + 4] << 15))
        if b != RIP and -small < d < small:
            v |= (np.int64(1) << 20) | (np.int64(_sign(d)) << 21)
        return v
    if t == T_IMM:
        val = row[o + 5]
        v = np.int64(3 | (row[o + 4] << 3))
        if row[o + 4] == 0 or (row[o + 4] == 1 and not data_imm):
            v |= (np.int64(1) << 7) | (np.int64(val + small) << 9)
        elif -small < val < small:
            v |= np.int64(2 + (1 if val < 0 else 0)) << 7
        return v
    return np.int64(0)


@numba.njit(cache=True)
def decode_all(data, starts, addrs, first, count, cand, opk, opsz, nops, info, form_ok, imm_limit,
               size_of, fixed_regs, data_imm, l1_keys, l1_rows, l1_used, small):
    nblocks = len(starts) - 1
    cap = len(data) // 4 + 1024    # instructions of the subset average well over 4 bytes
    rows = np.zeros((cap, 2), np.int64)      # spec, length: all the later stages need
    keys = np.empty((cap, 2), np.int64)
    slots = np.empty((cap, 3), np.int64)
    params = np.empty((cap, 8), np.int64)
    seen = np.zeros(8, np.int64)
    block_ok = np.ones(nblocks, np.bool_)
    counts = np.zeros(nblocks, np.int64)
    row = np.zeros(NF, np.int64)
    hits = 0
    misses = 0
    mask = len(l1_used) - 1
    n = 0
    for b in range(nblocks):
        pos = starts[b]
        end = starts[b + 1]
        first_row = n
        ok = True
        while pos < end:
            # level 1: the 15-byte window (an instruction never exceeds it) -> decoded row
            avail = min(15, end - pos)
            k0 = np.uint64(avail)
            k1 = np.uint64(0)
            k2 = np.uint64(0)
            for i in range(avail):
                if i < 8:
                    k1 |= np.uint64(data[pos + i]) << np.uint64(8 * i)
                else:
                    k2 |= np.uint64(data[pos + i]) << np.uint64(8 * (i - 8))
            h = (k1 * np.uint64(0x9E3779B97F4A7C15) ^ k2 * np.uint64(0xC2B2AE3D27D4EB4F) ^ k0) >> np.uint64(40)
            slot = np.int64(h) & mask
            if l1_used[slot] and l1_keys[slot, 0] == k0 and l1_keys[slot, 1] == k1 and l1_keys[slot, 2] == k2:
                for f in range(NF):
                    row[f] = l1_rows[slot, f]
                length = row[1]
                hits += 1
            else:
                misses += 1
                length = _decode_one(data, pos, end, first, count, cand, opk, opsz, nops, info, row)
                if length < 0:
                    ok = False
                    break
                l1_used[slot] = True
                l1_keys[slot, 0] = k0
                l1_keys[slot, 1] = k1
                l1_keys[slot, 2] = k2
                for f in range(NF):
                    l1_rows[slot, f] = row[f]
            spec = row[0]
            # the verified forms only (forms.supported_form)
            opsize = row[2]
            kind = 0
            has_rm = False
            for j in range(3):
                if row[3 + 6 * j] == T_MEM:
                    kind = 2
            for j in range(nops[spec]):
                kk = opk[spec, j]
                if kk in (K_E, K_W, K_U, K_M):
                    has_rm = True
            if has_rm and kind == 0:
                kind = 1
            # single-size forms are listed under their one size
            norm = opsize if size_of[spec] == 0 else size_of[spec]
            if not form_ok[spec, norm, kind]:
                ok = False
                break
            for j in range(3):
                o = 3 + 6 * j
                if row[o] == T_IMM and row[o + 4] == 1 and (row[o + 5] & 0xFF) >= imm_limit[spec]:
                    ok = False
            if not ok:
                break
            if n >= cap:
                cap *= 2
                r2 = np.zeros((cap, 2), np.int64)
                r2[:n] = rows[:n]
                rows = r2
                k2a = np.zeros((cap, 2), np.int64)
                k2a[:n] = keys[:n]
                keys = k2a
                s2 = np.zeros((cap, 3), np.int64)
                s2[:n] = slots[:n]
                slots = s2
                p2 = np.full((cap, 8), -1, np.int64)
                p2[:n] = params[:n]
                params = p2
            rows[n, 0] = row[0]
            rows[n, 1] = row[1]
            for f in range(8):
                seen[f] = -1
                params[n, f] = -1
            fx = fixed_regs[spec]
            di = data_imm[spec]
            sh0 = _shape(row, 0, small, seen, params[n], fx, di)
            sh1 = _shape(row, 1, small, seen, params[n], fx, di)
            sh2 = _shape(row, 2, small, seen, params[n], fx, di)
            keys[n, 0] = spec | (opsize << 10) | (sh0 << 14)
            keys[n, 1] = sh1 | (sh2 << 34)
            next_ip = addrs[b] + (pos - starts[b]) + length
            imm = 0
            disp = 0
            rip = 0
            is_jump = False
            for j in range(3):
                o = 3 + 6 * j
                if row[o] == T_IMM:
                    imm = row[o + 5]
                    if row[o + 2] == 1:
                        is_jump = True
                elif row[o] == T_MEM:
                    disp = row[o + 5]
                    if row[o + 1] == RIP:
                        rip = next_ip + disp
            if is_jump:
                rip = next_ip + imm
                imm = next_ip
            slots[n, 0] = imm
            slots[n, 1] = disp
            slots[n, 2] = rip
            n += 1
            pos += length
            if info[spec, 5] and pos < end:
                ok = False  # bytes after the exit branch: the Python path reports them
                break
        if not ok:
            block_ok[b] = False
            n = first_row
        counts[b] = n - first_row
    return rows[:n], keys[:n], slots[:n], params[:n], block_ok, counts, np.array([hits, misses], np.int64)


@numba.njit(cache=True, parallel=True)
def emit_all(rows, counts, slots, params, tpl_of, block_ok, tpl_start, tpl_len, words, patches, pstart, plen,
             tpl_exit, regpatches, rstart, rlen):
    """Copy and patch every instruction's template; blocks are independent, so they run in
    parallel (each writes its own range of the output)."""
    nblocks = len(counts)
    out_start = np.zeros(nblocks + 1, np.int64)
    first = np.zeros(nblocks + 1, np.int64)
    i = 0
    total = 0
    for b in range(nblocks):
        out_start[b] = total
        first[b] = i
        for _ in range(counts[b]):
            total += tpl_len[tpl_of[i]]
            i += 1
    out_start[nblocks] = total
    first[nblocks] = i
    out = np.empty(total, np.uint32)      # every word is written below
    for b in numba.prange(nblocks):
        w = out_start[b]
        for i in range(first[b], first[b + 1]):
            t = tpl_of[i]
            s = tpl_start[t]
            for k in range(tpl_len[t]):
                out[w + k] = words[s + k]
            for q in range(plen[t]):
                widx = patches[pstart[t] + q, 0]
                v = slots[i, patches[pstart[t] + q, 1]]
                off = patches[pstart[t] + q, 2]
                kind = patches[pstart[t] + q, 3]
                if kind == 0:
                    out[w + widx] |= np.uint32(((v >> off) & 0xFFFF) << 5)
                elif kind == 1:
                    out[w + widx] |= np.uint32((abs(v) & 0xFFF) << 10)
                else:
                    out[w + widx] |= np.uint32((~v & 0xFFFF) << 5)
            for q in range(rlen[t]):
                widx = regpatches[rstart[t] + q, 0]
                shift = regpatches[rstart[t] + q, 1]
                out[w + widx] |= np.uint32(params[i, regpatches[rstart[t] + q, 2]] << shift)
            w += tpl_len[t]
    return out, out_start


@numba.njit(cache=True)
def lookup_templates(keys, hkeys, hval, hused, first_new):
    """Level 2 in numba: (k1, k2) -> template id through an open-addressing table. Unknown keys get
    a placeholder -(j + 2) and their first instruction is recorded in first_new[j]."""
    n = len(keys)
    out = np.empty(n, np.int64)
    mask = len(hused) - 1
    nnew = 0
    for i in range(n):
        k1 = keys[i, 0]
        k2 = keys[i, 1]
        h = (np.uint64(k1) * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(k2) * np.uint64(0xC2B2AE3D27D4EB4F))
        s = np.int64(h >> np.uint64(32)) & mask
        while hused[s] and (hkeys[s, 0] != k1 or hkeys[s, 1] != k2):
            s = (s + 1) & mask
        if hused[s]:
            out[i] = hval[s]
        else:
            hused[s] = True
            hkeys[s, 0] = k1
            hkeys[s, 1] = k2
            hval[s] = -(nnew + 2)
            first_new[nnew] = i
            out[i] = hval[s]
            nnew += 1
    return out, nnew


@numba.njit(cache=True)
def resolve_templates(tpl_of, hval, hused, new_ids):
    """Replace the placeholders by the template ids made for them (in the table too)."""
    for i in range(len(tpl_of)):
        v = tpl_of[i]
        if v <= -2:
            tpl_of[i] = new_ids[-v - 2]
    for s in range(len(hused)):
        if hused[s] and hval[s] <= -2:
            hval[s] = new_ids[-hval[s] - 2]
