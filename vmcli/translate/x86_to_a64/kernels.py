"""numba kernels of the x86-64 -> AArch64 fast path (fast.py). This module imports numba; only the
bulk path imports it, so `vm translate --hex ...` and `vm run` never pay for numba.

decode_all mirrors isa/x86/decoder.decode, forms.supported_form, builder.template_key and
frontend.dead_flags exactly; the tests compare the two paths byte for byte. The level-2 table's
kernels are core/hashtable.py's.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

import vmcli.translate.core.parallel  # noqa: F401  (a fork-safe threading layer before any kernel runs)
from vmcli.translate.isa.x86.flags import STATUS
from vmcli.translate.isa.x86.opcodes import SPECS

XCHG_90 = next(sp.id for sp in SPECS if sp.mnemonic == "xchg" and sp.plus_r)

(K_AL, K_RAX, K_CL, K_ONE, K_X0, K_G, K_V, K_Z, K_E, K_W, K_U, K_M, K_I, K_J, K_AX, K_ST, K_ST0, K_H, K_B,
 K_L) = range(1, 21)
RIP = 16
# spec table columns (fast._tables); four operands, eight operand-size cases (size_case)
S_FLAGS, S_FIXED, S_IMM_LIMIT, S_SIZE_OF, S_DATA_IMM, S_FORMS, S_OPK, S_OSZ, S_IMMB = 0, 1, 2, 3, 4, 5, 6, 10, 42
S_FREAD, S_FWRITE = 74, 75      # rules.flag_effect
S_RM_REGS = 76                  # the registers ModRM.rm may name, as bits (Rule.rm_regs; all when -1)
S_SHAPED = 77                   # its code depends on the flags live after it (effects.liveness_shaped)
S_NF = 78
# a template key: word 0 holds the spec (bits 0..9), the operand size's code (10..12) and the first
# operand's shape (13..33), word 1 the other three operands' shapes (21 bits each); then in word 0:
KEY_DEAD = 40                   # the dead flags
KEY_RIP, KEY_NEXT = 52, 56      # the chunk masks of the address slots (builder.address_slots)
KEY_LOCK = 60                   # and the LOCK prefix
SF_SSE, SF_STACK64, SF_ENDS, SF_HAS_RM, SF_NEXT_IP, SF_LOCKABLE = 1, 2, 4, 8, 16, 32
SF_X87, SF_VVVV, SF_VLEN, SF_HIGH = 64, 128, 256, 512    # x87; VEX.vvvv names an operand; VEX.L sizes
#                                                         operands; ModRM.rm may name ah..bh
STOP_AFTER_EXIT = 1 << 40       # decode_all's stop[b]: the rest follows an exit


def size_code(size: int) -> int:
    """A size in bytes (an operand's, the operand size) as 3 bits."""
    if size == 10:
        return 7
    return 0 if size == 0 else 1 if size == 1 else 2 if size == 2 else 3 if size == 4 else 4 if size == 8 \
        else 5 if size == 16 else 6


def pick_index(vex: bool, vl: int, w: int, mod3: int, reg: int, rm: int) -> int:
    """Where a slot's spec for these ModRM fields (and VEX.L, VEX.W) sits among its 128 (fast._tables)."""
    if vex:
        return ((vl * 2 + w) * 2 + mod3) * 8 + reg
    return (mod3 * 8 + reg) * 8 + rm


_size_code = numba.njit(cache=True, inline="always")(size_code)
_pick_index = numba.njit(cache=True, inline="always")(pick_index)


# L1 entry columns: the 15-byte window (2 words), then everything decoding gives
L_K1, L_K2, L_META, L_KEY0, L_KEY1, L_PARAMS, L_IMM, L_DISP = range(8)
L_NF = 8
F_RIP, F_JUMP, F_NEXT = 1, 2, 4   # what the slots need besides imm/disp (meta bits 24..26)


# helpers that take arrays are compiled without NRT: calling them costs no reference counting
_plain = numba.njit(cache=True, _nrt=False)  # type: ignore[call-overload]


@_plain
def _load8(data: np.ndarray, p: int) -> np.uint64:
    """Eight bytes little-endian (LLVM folds this into one load)."""
    return (np.uint64(data[p]) | (np.uint64(data[p + 1]) << np.uint64(8))
            | (np.uint64(data[p + 2]) << np.uint64(16)) | (np.uint64(data[p + 3]) << np.uint64(24))
            | (np.uint64(data[p + 4]) << np.uint64(32)) | (np.uint64(data[p + 5]) << np.uint64(40))
            | (np.uint64(data[p + 6]) << np.uint64(48)) | (np.uint64(data[p + 7]) << np.uint64(56)))


@_plain
def _byte(data: np.ndarray, p: int) -> Any:
    return np.int64(data[p])     # signed: numba types mixed uint64/int64 arithmetic as float


@_plain
def _read(data: np.ndarray, p: int, n: int, signed: bool) -> Any:
    v = np.int64(np.uint64(_load8(data, p)))
    if n < 8:
        bits = 64 - 8 * n
        if signed:
            v = (v << bits) >> bits
        else:
            v &= (np.int64(1) << (8 * n)) - 1
    return v


@numba.njit(cache=True, inline="always")
def _cls(kind: int, num: int, seen: np.ndarray, fixed: int) -> int:
    """Register class as builder._classes: the rule's implicit registers exact (fixed: bits 0..15
    for the general registers, bit 16 for xmm0), the others renamed 8, 9 ... in order of
    appearance (seen[0..3] gprs, seen[4..7] xmms)."""
    if kind == 0 and (fixed >> num) & 1:
        return num
    if kind == 1 and num == 0 and (fixed >> 16) & 1:
        return 0
    base = 4 * kind
    for k in range(4):
        if seen[base + k] == num:
            return 8 + k
        if seen[base + k] < 0:
            seen[base + k] = num
            return 8 + k
    return 99  # more than 4 distinct registers of a kind: never in the subset


@numba.njit(cache=True, inline="always")
def _disp_class(disp: Any, size: Any, small: Any) -> int:
    """builder.disp_class."""
    if not -small < disp < small:
        return 6
    if disp == 0:
        return 0
    if disp > 0 and (size == 1 or size == 2 or size == 4 or size == 8 or size == 16) and disp % size == 0:
        return 1
    if -256 <= disp < 256:
        return 2 if disp > 0 else 3
    return 4 if disp > 0 else 5


@numba.njit(cache=True, inline="always")
def _chunk_mask(value: Any) -> Any:
    """builder.chunk_mask."""
    m = 0
    for i in range(4):
        if (value >> (16 * i)) & 0xFFFF:
            m |= 1 << i
    return m if m else 1


@_plain
def _decode(data, pos, end, ptab, vtab, pick, stab, small, seen, out):  # noqa: C901
    """Decode the instruction at pos, check its form and build its template key (decoder.decode,
    forms.supported_form and builder.template_key in one pass). Fills out[L_META..] and returns
    the length, or -1 outside the verified subset. Reads past `end` (the data is padded) and lets
    the caller reject a length that runs over it: the result is the same as stopping there."""
    p = pos
    osp = 0
    rep = 0
    seg = 0
    lock = 0
    while p < end:
        c = _byte(data, p)
        if c == 0x66:
            osp = 1
        elif c == 0xF0:
            lock = 1
        elif c == 0xF2:
            rep = 1
        elif c == 0xF3:
            rep = 2
        elif c == 0x64 or c == 0x65:
            if seg:
                return -1       # two segment overrides (decoder.decode)
            seg = c - 0x63      # FS 1, GS 2
        elif not (c == 0x26 or c == 0x2E or c == 0x36 or c == 0x3E):
            break
        p += 1
    rex = 0
    vex = 0
    vvvv = 0
    vl = 0
    mapno = 0
    c = _byte(data, p)
    if c == 0xC4 or c == 0xC5:
        if osp or rep or lock:
            return -1           # a legacy prefix before VEX is #UD
        b1 = _byte(data, p + 1)
        if c == 0xC5:
            rex = 0x40 | (0 if b1 & 0x80 else 4)
            mapno = 1
            b2 = b1
            p += 2
        else:
            b2 = _byte(data, p + 2)
            mapno = b1 & 0x1F
            if mapno < 1 or mapno > 3:
                return -1
            rex = (0x40 | (0 if b1 & 0x80 else 4) | (0 if b1 & 0x40 else 2) | (0 if b1 & 0x20 else 1)
                   | ((b2 & 0x80) >> 4))
            p += 3
        vex = 1
        vvvv = (~b2 >> 3) & 15
        vl = (b2 >> 2) & 1
        op = _byte(data, p)
        p += 1
        res = vtab[(mapno * 4 + (b2 & 3)) * 256 + op]
        if res < 0:
            return -1
        opsize = 32 if vl else 16
    else:
        if 0x40 <= c <= 0x4F:
            rex = c     # 0x40 too: it selects spl/bpl/sil/dil over ah/ch/dh/bh
            p += 1
        op = _byte(data, p)
        if op == 0x0F:
            op = _byte(data, p + 1)
            if op == 0x38 or op == 0x3A:
                mapno = 2 if op == 0x38 else 3
                op = _byte(data, p + 2)
                p += 3
            else:
                mapno = 1
                p += 2
        else:
            p += 1
        # the mandatory prefix (F2/F3 before 66 before none) is one table look-up
        res = ptab[(mapno * 256 + op) * 6 + rep * 2 + osp]
        if res < 0:
            return -1
        if (res & 3) == 1:
            osp = 0
        opsize = 8 if rex & 8 else (2 if osp else 4)
    slot = res >> 3
    rex_w = (rex >> 3) & 1
    rex_r = (rex >> 2) & 1
    rex_x = (rex >> 1) & 1
    rex_b = rex & 1
    mod = 0
    reg = 0
    rm = 0
    base = -1
    index = -1
    scale = 0            # log2
    disp = np.int64(0)
    if res & 4:      # ModRM
        modrm = _byte(data, p)
        p += 1
        mod = modrm >> 6
        reg = (modrm >> 3) & 7
        rm = modrm & 7
        if mod != 3:
            base = rm | (rex_b << 3)
            if rm == 4:
                sib = _byte(data, p)
                p += 1
                scale = sib >> 6
                idx = ((sib >> 3) & 7) | (rex_x << 3)
                index = -1 if idx == 4 else idx
                base = (sib & 7) | (rex_b << 3)
                if (sib & 7) == 5 and mod == 0:
                    base = -1
                    disp = _read(data, p, 4, True)
                    p += 4
            elif rm == 5 and mod == 0:
                base = RIP
                disp = _read(data, p, 4, True)
                p += 4
            if mod == 1:
                disp = _read(data, p, 1, True)
                p += 1
            elif mod == 2:
                disp = _read(data, p, 4, True)
                p += 4
    mod3 = 1 if mod == 3 else 0
    spec = pick[slot * 128 + _pick_index(vex == 1, vl, rex_w, mod3, reg, rm)]
    if spec < 0:
        return -1
    if mapno == 0 and op == 0x90 and rex_b and not vex:
        spec = XCHG_90  # 41 90 is xchg r8d, eax, not nop
    sf = stab[spec, S_FLAGS]
    if lock and not ((sf & SF_LOCKABLE) and mod != 3):
        return -1  # LOCK on anything else is #UD (decoder.decode)
    if vex and vvvv and not (sf & SF_VVVV):
        return -1  # VEX.vvvv must be 1111 when it names nothing
    if vex and not (sf & SF_VLEN):
        opsize = 8 if rex_w else 4     # no vectors of VEX.L's length: W sizes the operands
    if (sf & (SF_SSE | SF_STACK64)) and opsize == 2:
        return -1  # SSE or push/pop/call/ret with a 66 prefix
    if sf & SF_STACK64:
        opsize = 8
    if (sf & SF_X87) and (opsize == 2 or (mod == 3 and rex)):
        return -1  # x87 with 66, or a REX prefix on a stack-register form
    # the operand-size case of the spec table's columns (fast._SIZE_CASES)
    if opsize == 2:
        sc = 0
    elif opsize == 4:
        sc = 1
    elif opsize == 8:
        sc = 2 + rex_w
    else:
        sc = (4 if opsize == 16 else 6) + rex_w
    fx = stab[spec, S_FIXED]
    di = stab[spec, S_DATA_IMM]
    for f in range(8):
        seen[f] = -1
    sh0 = np.int64(0)
    sh1 = np.int64(0)
    sh2 = np.int64(0)
    sh3 = np.int64(0)
    imm = np.int64(0)
    flags = 0
    for j in range(4):
        kind = stab[spec, S_OPK + j]
        if kind == 0:
            break
        size = stab[spec, S_OSZ + 8 * j + sc]
        v = np.int64(0)
        t = 0            # 1 gpr, 2 xmm (register number in num), 3 memory, 4 immediate, 5 st(num), 6 ah..bh
        num = 0
        if kind in (K_AL, K_RAX, K_AX):
            t = 1
        elif kind == K_CL:
            t = 1
            num = 1
        elif kind == K_X0:
            t = 2
        elif kind in (K_ST, K_ST0):
            t = 5
            if kind == K_ST:
                num = rm
                if not (stab[spec, S_RM_REGS] >> num) & 1:
                    return -1
        elif kind == K_G:
            if size == 1 and rex == 0 and reg >= 4:
                return -1  # ah/ch/dh/bh
            t = 1
            num = reg | (rex_r << 3)
        elif kind == K_V:
            t = 2
            if not vex:
                size = 16
            num = reg | (rex_r << 3)
        elif kind in (K_H, K_B):
            t = 2 if kind == K_H else 1
            num = vvvv
        elif kind == K_L:
            t = 2
            num = _byte(data, p) >> 4      # bits 7:4 of an immediate byte (/is4)
            p += 1
        elif kind == K_Z:
            num = (op & 7) | (rex_b << 3)
            if size == 1 and rex == 0 and num >= 4:
                return -1
            t = 1
        elif kind == K_ONE:
            t = 4
            size = 0
            v = np.int64(1)
        elif kind in (K_I, K_J):
            nbs = stab[spec, S_IMMB + 8 * j + sc]      # bytes | 16 when sign-extended
            nb = nbs & 15
            v = _read(data, p, nb, nbs >= 16)
            p += nb
            size = nb
            t = 4
            if kind == K_J:
                flags = F_JUMP
            if nb == 1 and (v & 0xFF) >= stab[spec, S_IMM_LIMIT]:
                return -1
        elif mod == 3:   # E W U M with a register
            num = rm | (rex_b << 3)
            if kind == K_E:
                t = 1
                if size == 1 and rex == 0 and rm >= 4:
                    if not sf & SF_HIGH:
                        return -1
                    t = 6       # ah, ch, dh, bh: bits 15:8 of register rm - 4
                    num = rm - 4
            else:
                t = 2
                if not (vex and size > 16):
                    size = 16
            if not (stab[spec, S_RM_REGS] >> num) & 1:
                return -1
        else:
            t = 3
        if t <= 2:
            cl = _cls(t - 1, num, seen, fx)
            sh = np.int64(1 | ((t - 1) << 3) | (cl << 4) | (_size_code(size) << 8))
        elif t == 6:     # not renamed: the register is part of the shape
            sh = np.int64(1 | ((12 + num) << 4) | (_size_code(1) << 8))
        elif t == 5:
            sh = np.int64(4 | (num << 3))
        elif t == 3:
            bc = 0 if base < 0 else 1 if base == RIP else 2 + _cls(0, base, seen, fx)
            xc = 0 if index < 0 else 2 + _cls(0, index, seen, fx)
            sh = np.int64(2 | (bc << 3) | (xc << 7) | (scale << 11) | (_size_code(size) << 13) | (seg << 19))
            if base != RIP:
                sh |= np.int64(1 + _disp_class(disp, size, small)) << 16
            if base == RIP:
                flags |= F_RIP
        else:
            imm = v
            sh = np.int64(3 | (size << 3))
            if size == 0 or (size == 1 and not di):
                sh |= (np.int64(1) << 7) | (np.int64(v + 256) << 9)
            elif -small < v < small:        # its sign class (builder._sign): zero, positive, negative
                sh |= (np.int64(2 + (1 if v < 0 else 0)) << 7) | (np.int64(1 if v == 0 else 0) << 9)
        if j == 0:
            sh0 = sh
        elif j == 1:
            sh1 = sh
        elif j == 2:
            sh2 = sh
        else:
            sh3 = sh
    if sf & SF_NEXT_IP:
        flags |= F_NEXT
    # the verified forms only (forms.supported_form); single-size forms are listed under their size
    kind_f = 0 if (sf & SF_HAS_RM) == 0 else 1 if mod == 3 else 2
    norm = opsize if stab[spec, S_SIZE_OF] == 0 else stab[spec, S_SIZE_OF]
    if not (stab[spec, S_FORMS] >> (3 * _size_code(norm) + kind_f)) & 1:
        return -1
    params = np.int64(0)
    for f in range(8):
        if seen[f] >= 0:
            params |= np.int64(seen[f]) << (4 * f)
    length = p - pos
    out[L_META] = spec | (length << 16) | (flags << 24)
    out[L_KEY0] = spec | (_size_code(opsize) << 10) | (sh0 << 13) | (np.int64(lock) << KEY_LOCK)
    out[L_KEY1] = sh1 | (sh2 << 21) | (sh3 << 42)
    out[L_PARAMS] = params
    out[L_IMM] = imm
    out[L_DISP] = disp
    return length


@numba.njit(cache=True)
def decode_all(data, starts, addrs, ptab, vtab, pick, stab, l1, small, b0, n0, rows, keys, slots, params, stop, counts,
               l1_count):
    """Blocks b0.. into rows n0..: per instruction (spec, length), template key, data slots (imm,
    disp, rip target) and packed register parameters, up to the block's first instruction outside
    the subset, or up to and including an exit that bytes follow, as frontend.translate
    translates it: stop[b] is -1 for a whole block, else the byte offset where the rest starts
    (| STOP_AFTER_EXIT after an exit; the caller tells the rest's instructions, or hands the block to
    the Python path when the instruction is one only it translates). l1 (cache level 1) maps the
    15-byte window at an instruction to all of that but the address-dependent rip target. Returns
    the block it stopped at and the rows used: the caller grows the row arrays and resumes when
    they are full (the kernel never reallocates, which keeps reference counting out of its loop)."""
    nblocks = len(starts) - 1
    cap = len(params)
    seen = np.empty(8, np.int64)
    entry = np.zeros(L_NF, np.int64)
    hits = 0
    misses = 0
    mask = len(l1) - 1
    window = np.uint64(0x00FFFFFFFFFFFFFF)
    n = n0
    for b in range(b0, nblocks):
        pos = starts[b]
        end = starts[b + 1]
        if n + (end - pos) > cap:      # room for the block (an instruction is at least a byte)
            l1_count[0] += hits
            l1_count[1] += misses
            return b, n
        first_row = n
        stopped = np.int64(-1)
        while pos < end:
            # level 1: the 15-byte window (an instruction never exceeds it) -> decoded entry
            k1 = _load8(data, pos)
            k2 = _load8(data, pos + 8) & window
            h = (k1 * np.uint64(0x9E3779B97F4A7C15) ^ k2 * np.uint64(0xC2B2AE3D27D4EB4F)) >> np.uint64(40)
            e = np.int64(h) & mask
            ik1 = np.int64(k1)
            ik2 = np.int64(k2)
            if l1[e, L_META] != 0 and l1[e, L_K1] == ik1 and l1[e, L_K2] == ik2:
                hits += 1
                meta = l1[e, L_META]
                length = (meta >> 16) & 0xFF
                if length > end - pos:
                    stopped = pos - starts[b]   # runs over the block's end
                    break
                for f in range(L_META, L_NF):
                    entry[f] = l1[e, f]
            else:
                misses += 1
                length = _decode(data, pos, end, ptab, vtab, pick, stab, small, seen, entry)
                if length < 0 or length > end - pos:
                    stopped = pos - starts[b]
                    break
                meta = entry[L_META]
                l1[e, L_K1] = ik1
                l1[e, L_K2] = ik2
                for f in range(L_META, L_NF):
                    l1[e, f] = entry[f]
            spec = meta & 0xFFFF
            rows[n, 0] = spec
            rows[n, 1] = length
            keys[n, 0] = entry[L_KEY0]
            keys[n, 1] = entry[L_KEY1]
            params[n] = entry[L_PARAMS]
            next_ip = addrs[b] + (pos - starts[b]) + length
            imm = entry[L_IMM]
            disp = entry[L_DISP]
            rip = np.int64(0)
            flags = meta >> 24
            if flags & F_JUMP:
                rip = next_ip + imm
                disp = imm                      # the relative offset
                imm = next_ip
                keys[n, 0] |= (_chunk_mask(rip) << KEY_RIP) | (_chunk_mask(imm) << KEY_NEXT)
            elif flags & F_RIP:
                rip = next_ip + disp
                keys[n, 0] |= _chunk_mask(rip) << KEY_RIP
            if flags & F_NEXT:
                imm = next_ip
                keys[n, 0] |= _chunk_mask(imm) << KEY_NEXT
            slots[n, 0] = imm
            slots[n, 1] = disp
            slots[n, 2] = rip
            n += 1
            pos += length
            if (stab[spec, S_FLAGS] & SF_ENDS) and pos < end:
                stopped = (pos - starts[b]) | STOP_AFTER_EXIT    # bytes after the exit: listed only
                break
        # dead flags (frontend.dead_flags): backwards from the end of what is translated, where
        # all are live
        live = STATUS
        for i in range(n - 1, first_row - 1, -1):
            writes = stab[rows[i, 0], S_FWRITE]
            if stab[rows[i, 0], S_SHAPED]:
                keys[i, 0] |= (STATUS & ~live) << KEY_DEAD
            live = (live & ~writes) | stab[rows[i, 0], S_FREAD]
        stop[b] = stopped
        counts[b] = n - first_row
    l1_count[0] += hits
    l1_count[1] += misses
    return nblocks, n


@numba.njit(cache=True, parallel=True)
def emit_all(counts, slots, params, tpl_of, prog):
    """Copy and patch every instruction's template. tpl_of[i] is where instruction i's template
    starts in prog: a header (words | data patches << 16 | register patches << 32), the words,
    data patches (word | slot << 16 | bit offset << 24 | kind << 32: 0 movz/movk imm16, 1 add/sub
    imm12 of |value|, 2 movn imm16 of ~value) and register patches (word | bit << 16 | parameter
    << 24). Blocks are independent, so they run in parallel (each writes its own range)."""
    nblocks = len(counts)
    out_start = np.zeros(nblocks + 1, np.int64)
    first = np.zeros(nblocks + 1, np.int64)
    i = 0
    total = 0
    for b in range(nblocks):
        out_start[b] = total
        first[b] = i
        for _ in range(counts[b]):
            total += prog[tpl_of[i]] & 0xFFFF
            i += 1
    out_start[nblocks] = total
    first[nblocks] = i
    out = np.empty(total, np.uint32)      # every word is written below
    for b in numba.prange(nblocks):
        w = out_start[b]
        for i in range(first[b], first[b + 1]):
            t = tpl_of[i]
            head = prog[t]
            nw = head & 0xFFFF
            npatch = (head >> 16) & 0xFFFF
            for k in range(nw):
                out[w + k] = np.uint32(prog[t + 1 + k])
            p0 = t + 1 + nw
            for q in range(p0, p0 + npatch):
                pq = prog[q]
                widx = w + (pq & 0xFFFF)
                v = slots[i, (pq >> 16) & 0xFF]
                kind = pq >> 32
                off = (pq >> 24) & 0xFF
                if kind == 0:
                    out[widx] |= np.uint32(((v >> off) & 0xFFFF) << 5)
                elif kind == 1:
                    out[widx] |= np.uint32((abs(v) & 0xFFF) << 10)
                elif kind == 2:
                    out[widx] |= np.uint32((~v & 0xFFFF) << 5)
                elif kind == 3:
                    out[widx] |= np.uint32(((v >> off) & 0xFFF) << 10)
                elif kind == 4:
                    out[widx] |= np.uint32((v & 0x1FF) << 12)
                else:
                    out[widx] |= np.uint32(((v << off) & 0xFFFF) << 5)
            pr = params[i]
            r0 = p0 + npatch
            for q in range(r0, r0 + (head >> 32)):
                rq = prog[q]
                out[w + (rq & 0xFFFF)] |= np.uint32(((pr >> (4 * (rq >> 24))) & 15) << ((rq >> 16) & 0xFF))
            w += nw
    return out, out_start
