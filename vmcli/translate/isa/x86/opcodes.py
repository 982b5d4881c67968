"""The x86-64 opcode map of the supported subset, as a table in Intel SDM notation (Vol. 2, App. A).

One line per opcode: `[mandatory prefix] [0F [38|3A]] opcode[/digit|+r] mnemonic operands`.
Operand codes follow Intel's opcode-map abbreviations:
  E  general register or memory (ModRM.rm)       G  general register (ModRM.reg)
  W  xmm register or memory (ModRM.rm)           V  xmm register (ModRM.reg)
  U  xmm register only (ModRM.rm, mod = 3)       M  memory only (ModRM.rm, mod != 3)
  Z  general register in the opcode's low bits   I  immediate
and sizes b (8), w (16), d (32), q (64), v (16/32/64 by operand size), x (128), z (imm 16/32),
bs (imm8 sign-extended to the operand size). `AL`, `rAX`, `CL`, `1` and `X0` (implicit xmm0)
are fixed operands. The decoder (decoder.py), the encoder (encoder.py) and the x86-64 -> AArch64
rules all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmcli.translate.isa.x86.conditions import CC

_ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
_SHIFTS = {0: "rol", 1: "ror", 4: "shl", 5: "shr", 7: "sar"}


def _integer() -> list[str]:
    lines = []
    for i, name in enumerate(_ALU):
        base = i * 8
        lines += [f"{base:02X} {name} Eb,Gb", f"{base + 1:02X} {name} Ev,Gv", f"{base + 2:02X} {name} Gb,Eb",
                  f"{base + 3:02X} {name} Gv,Ev", f"{base + 4:02X} {name} AL,Ib",
                  f"{base + 5:02X} {name} rAX,Iz",
                  f"80/{i} {name} Eb,Ib", f"81/{i} {name} Ev,Iz", f"83/{i} {name} Ev,Ibs"]
    lines += ["84 test Eb,Gb", "85 test Ev,Gv", "A8 test AL,Ib", "A9 test rAX,Iz", "F6/0 test Eb,Ib",
              "F7/0 test Ev,Iz",
              "86 xchg Eb,Gb", "87 xchg Ev,Gv",
              "88 mov Eb,Gb", "89 mov Ev,Gv", "8A mov Gb,Eb", "8B mov Gv,Ev", "B0+r mov Zb,Ib",
              "B8+r mov Zv,Iv", "C6/0 mov Eb,Ib", "C7/0 mov Ev,Iz", "8D lea Gv,M",
              "0F B6 movzx Gv,Eb", "0F B7 movzx Gv,Ew", "0F BE movsx Gv,Eb", "0F BF movsx Gv,Ew",
              "63 movsxd Gv,Ed",
              "98 cbw", "99 cwd",
              "F6/2 not Eb", "F7/2 not Ev", "F6/3 neg Eb", "F7/3 neg Ev",
              "F6/4 mul Eb", "F7/4 mul Ev", "F6/5 imul Eb", "F7/5 imul Ev",
              "0F AF imul Gv,Ev", "69 imul Gv,Ev,Iz", "6B imul Gv,Ev,Ibs",
              "FE/0 inc Eb", "FF/0 inc Ev", "FE/1 dec Eb", "FF/1 dec Ev",
              "0F C8+r bswap Zv", "F3 0F B8 popcnt Gv,Ev",
              "0F A3 bt Ev,Gv", "0F BA/4 bt Ev,Ib", "0F AB bts Ev,Gv", "0F BA/5 bts Ev,Ib",
              "0F B3 btr Ev,Gv", "0F BA/6 btr Ev,Ib", "0F BB btc Ev,Gv", "0F BA/7 btc Ev,Ib",
              "0F BC bsf Gv,Ev", "0F BD bsr Gv,Ev", "F3 0F BC tzcnt Gv,Ev", "F3 0F BD lzcnt Gv,Ev",
              "F9 stc", "F8 clc", "F5 cmc",
              "0F B0 cmpxchg Eb,Gb", "0F B1 cmpxchg Ev,Gv", "0F C0 xadd Eb,Gb", "0F C1 xadd Ev,Gv",
              "0F A4 shld Ev,Gv,Ib", "0F AC shrd Ev,Gv,Ib"]
    for digit, name in _SHIFTS.items():
        lines += [f"C0/{digit} {name} Eb,Ib", f"C1/{digit} {name} Ev,Ib", f"D0/{digit} {name} Eb,1",
                  f"D1/{digit} {name} Ev,1", f"D2/{digit} {name} Eb,CL", f"D3/{digit} {name} Ev,CL"]
    for cc, name in enumerate(CC):
        lines += [f"0F {0x40 + cc:02X} cmov{name} Gv,Ev", f"0F {0x90 + cc:02X} set{name} Eb",
                  f"{0x70 + cc:02X} j{name} Jb", f"0F {0x80 + cc:02X} j{name} Jz"]
    lines += ["EB jmp Jb", "E9 jmp Jz", "E8 call Jz", "C3 ret", "50+r push Zq", "58+r pop Zq",
              "6A push Ibs", "68 push Iz", "FF/6 push Ev", "8F/0 pop Ev", "FF/2 call Ev", "FF/4 jmp Ev",
              "0F 05 syscall",
              "90 nop", "0F 1F/0 nop Ev", "90+r xchg Zv,rAX", "F3 0F 1E/7 endbr64 Ed",
              "0F 18/0 prefetchnta Mb", "0F 18/1 prefetcht0 Mb", "0F 18/2 prefetcht1 Mb",
              "0F 18/3 prefetcht2 Mb", "0F 0D/1 prefetchw Mb"]
    return lines


# SSE .. SSE4.1, grouped by extension. `ps`/`pd`/`ss`/`sd` forms share their opcode byte.
_SSE = """
0F 10 movups V,W | 66 0F 10 movupd V,W | F3 0F 10 movss V,Wd | F2 0F 10 movsd V,Wq
0F 11 movups W,V | 66 0F 11 movupd W,V | F3 0F 11 movss Wd,V | F2 0F 11 movsd Wq,V
0F 12 movhlps V,U | 0F 12 movlps V,Mq | 66 0F 12 movlpd V,Mq | 0F 13 movlps Mq,V | 66 0F 13 movlpd Mq,V
0F 16 movlhps V,U | 0F 16 movhps V,Mq | 66 0F 16 movhpd V,Mq | 0F 17 movhps Mq,V | 66 0F 17 movhpd Mq,V
F3 0F 12 movsldup V,W | F3 0F 16 movshdup V,W | F2 0F 12 movddup V,Wq
0F 14 unpcklps V,W | 66 0F 14 unpcklpd V,W | 0F 15 unpckhps V,W | 66 0F 15 unpckhpd V,W
0F 28 movaps V,W | 66 0F 28 movapd V,W | 0F 29 movaps W,V | 66 0F 29 movapd W,V
F3 0F 2A cvtsi2ss V,Ey | F2 0F 2A cvtsi2sd V,Ey
F3 0F 2C cvttss2si Gy,Wd | F2 0F 2C cvttsd2si Gy,Wq | F3 0F 2D cvtss2si Gy,Wd | F2 0F 2D cvtsd2si Gy,Wq
0F 2E ucomiss V,Wd | 66 0F 2E ucomisd V,Wq | 0F 2F comiss V,Wd | 66 0F 2F comisd V,Wq
0F 50 movmskps Gd,U | 66 0F 50 movmskpd Gd,U
0F 51 sqrtps V,W | 66 0F 51 sqrtpd V,W | F3 0F 51 sqrtss V,Wd | F2 0F 51 sqrtsd V,Wq
0F 54 andps V,W | 66 0F 54 andpd V,W | 0F 55 andnps V,W | 66 0F 55 andnpd V,W
0F 56 orps V,W | 66 0F 56 orpd V,W | 0F 57 xorps V,W | 66 0F 57 xorpd V,W
0F 58 addps V,W | 66 0F 58 addpd V,W | F3 0F 58 addss V,Wd | F2 0F 58 addsd V,Wq
0F 59 mulps V,W | 66 0F 59 mulpd V,W | F3 0F 59 mulss V,Wd | F2 0F 59 mulsd V,Wq
0F 5A cvtps2pd V,Wq | 66 0F 5A cvtpd2ps V,W | F3 0F 5A cvtss2sd V,Wd | F2 0F 5A cvtsd2ss V,Wq
0F 5B cvtdq2ps V,W | 66 0F 5B cvtps2dq V,W | F3 0F 5B cvttps2dq V,W
0F 5C subps V,W | 66 0F 5C subpd V,W | F3 0F 5C subss V,Wd | F2 0F 5C subsd V,Wq
0F 5D minps V,W | 66 0F 5D minpd V,W | F3 0F 5D minss V,Wd | F2 0F 5D minsd V,Wq
0F 5E divps V,W | 66 0F 5E divpd V,W | F3 0F 5E divss V,Wd | F2 0F 5E divsd V,Wq
0F 5F maxps V,W | 66 0F 5F maxpd V,W | F3 0F 5F maxss V,Wd | F2 0F 5F maxsd V,Wq
66 0F 60 punpcklbw V,W | 66 0F 61 punpcklwd V,W | 66 0F 62 punpckldq V,W | 66 0F 63 packsswb V,W
66 0F 64 pcmpgtb V,W | 66 0F 65 pcmpgtw V,W | 66 0F 66 pcmpgtd V,W | 66 0F 67 packuswb V,W
66 0F 68 punpckhbw V,W | 66 0F 69 punpckhwd V,W | 66 0F 6A punpckhdq V,W | 66 0F 6B packssdw V,W
66 0F 6C punpcklqdq V,W | 66 0F 6D punpckhqdq V,W | 66 0F 6E movd V,Ey | 66 0F 6F movdqa V,W
F3 0F 6F movdqu V,W | 66 0F 70 pshufd V,W,Ib | F3 0F 70 pshufhw V,W,Ib | F2 0F 70 pshuflw V,W,Ib
66 0F 71/2 psrlw U,Ib | 66 0F 71/4 psraw U,Ib | 66 0F 71/6 psllw U,Ib
66 0F 72/2 psrld U,Ib | 66 0F 72/4 psrad U,Ib | 66 0F 72/6 pslld U,Ib
66 0F 73/2 psrlq U,Ib | 66 0F 73/3 psrldq U,Ib | 66 0F 73/6 psllq U,Ib | 66 0F 73/7 pslldq U,Ib
66 0F 74 pcmpeqb V,W | 66 0F 75 pcmpeqw V,W | 66 0F 76 pcmpeqd V,W
66 0F 7C haddpd V,W | F2 0F 7C haddps V,W | 66 0F 7D hsubpd V,W | F2 0F 7D hsubps V,W
66 0F 7E movd Ey,V | F3 0F 7E movq V,Wq | 66 0F 7F movdqa W,V | F3 0F 7F movdqu W,V
0F C2 cmpps V,W,Ib | 66 0F C2 cmppd V,W,Ib | F3 0F C2 cmpss V,Wd,Ib | F2 0F C2 cmpsd V,Wq,Ib
66 0F C4 pinsrw V,Ew,Ib | 66 0F C5 pextrw Gd,U,Ib | 0F C6 shufps V,W,Ib | 66 0F C6 shufpd V,W,Ib
66 0F D0 addsubpd V,W | F2 0F D0 addsubps V,W
66 0F D1 psrlw V,W | 66 0F D2 psrld V,W | 66 0F D3 psrlq V,W | 66 0F D4 paddq V,W | 66 0F D5 pmullw V,W
66 0F D6 movq Wq,V | 66 0F D7 pmovmskb Gd,U
66 0F D8 psubusb V,W | 66 0F D9 psubusw V,W | 66 0F DA pminub V,W | 66 0F DB pand V,W
66 0F DC paddusb V,W | 66 0F DD paddusw V,W | 66 0F DE pmaxub V,W | 66 0F DF pandn V,W
66 0F E0 pavgb V,W | 66 0F E1 psraw V,W | 66 0F E2 psrad V,W | 66 0F E3 pavgw V,W
66 0F E4 pmulhuw V,W | 66 0F E5 pmulhw V,W | F3 0F E6 cvtdq2pd V,Wq | 66 0F E6 cvttpd2dq V,W
F2 0F E6 cvtpd2dq V,W | 66 0F E7 movntdq M,V | F2 0F F0 lddqu V,M
66 0F E8 psubsb V,W | 66 0F E9 psubsw V,W | 66 0F EA pminsw V,W | 66 0F EB por V,W
66 0F EC paddsb V,W | 66 0F ED paddsw V,W | 66 0F EE pmaxsw V,W | 66 0F EF pxor V,W
66 0F F1 psllw V,W | 66 0F F2 pslld V,W | 66 0F F3 psllq V,W | 66 0F F4 pmuludq V,W
66 0F F5 pmaddwd V,W | 66 0F F6 psadbw V,W
66 0F F8 psubb V,W | 66 0F F9 psubw V,W | 66 0F FA psubd V,W | 66 0F FB psubq V,W
66 0F FC paddb V,W | 66 0F FD paddw V,W | 66 0F FE paddd V,W
66 0F 38 00 pshufb V,W | 66 0F 38 01 phaddw V,W | 66 0F 38 02 phaddd V,W | 66 0F 38 03 phaddsw V,W
66 0F 38 04 pmaddubsw V,W | 66 0F 38 05 phsubw V,W | 66 0F 38 06 phsubd V,W | 66 0F 38 07 phsubsw V,W
66 0F 38 08 psignb V,W | 66 0F 38 09 psignw V,W | 66 0F 38 0A psignd V,W | 66 0F 38 0B pmulhrsw V,W
66 0F 38 1C pabsb V,W | 66 0F 38 1D pabsw V,W | 66 0F 38 1E pabsd V,W
66 0F 3A 0F palignr V,W,Ib
66 0F 38 10 pblendvb V,W,X0 | 66 0F 38 14 blendvps V,W,X0 | 66 0F 38 15 blendvpd V,W,X0
66 0F 38 17 ptest V,W
66 0F 38 20 pmovsxbw V,Wq | 66 0F 38 21 pmovsxbd V,Wd | 66 0F 38 22 pmovsxbq V,Ww
66 0F 38 23 pmovsxwd V,Wq | 66 0F 38 24 pmovsxwq V,Wd | 66 0F 38 25 pmovsxdq V,Wq
66 0F 38 28 pmuldq V,W | 66 0F 38 29 pcmpeqq V,W | 66 0F 38 2A movntdqa V,M | 66 0F 38 2B packusdw V,W
66 0F 38 30 pmovzxbw V,Wq | 66 0F 38 31 pmovzxbd V,Wd | 66 0F 38 32 pmovzxbq V,Ww
66 0F 38 33 pmovzxwd V,Wq | 66 0F 38 34 pmovzxwq V,Wd | 66 0F 38 35 pmovzxdq V,Wq
66 0F 38 38 pminsb V,W | 66 0F 38 39 pminsd V,W | 66 0F 38 3A pminuw V,W | 66 0F 38 3B pminud V,W
66 0F 38 3C pmaxsb V,W | 66 0F 38 3D pmaxsd V,W | 66 0F 38 3E pmaxuw V,W | 66 0F 38 3F pmaxud V,W
66 0F 38 40 pmulld V,W | 66 0F 38 41 phminposuw V,W
0F 2B movntps M,V | 66 0F 2B movntpd M,V
66 0F 3A 08 roundps V,W,Ib | 66 0F 3A 09 roundpd V,W,Ib | 66 0F 3A 0A roundss V,Wd,Ib
66 0F 3A 0B roundsd V,Wq,Ib | 66 0F 3A 0C blendps V,W,Ib | 66 0F 3A 0D blendpd V,W,Ib
66 0F 3A 0E pblendw V,W,Ib | 66 0F 3A 14 pextrb Ed,V,Ib | 66 0F 3A 15 pextrw Ed,V,Ib
66 0F 3A 16 pextrd Ey,V,Ib | 66 0F 3A 17 extractps Ed,V,Ib | 66 0F 3A 20 pinsrb V,Ed,Ib
66 0F 3A 21 insertps V,Wd,Ib | 66 0F 3A 22 pinsrd V,Ey,Ib
"""

# x87 (the one-byte opcodes D8..DF): `D9/0 fld Md` takes memory; `D9 C0+i fld ST` a stack register
# (mod 3, ModRM.rm = i of st(i)); `D9 E0 fchs` one ModRM byte exactly. ST is st(i), ST0 st(0), AX
# the ax register; the size letter t is 80 bits (10 bytes). REX.W does not change an x87 operand.
_X87 = """
D9/0 fld Md | DD/0 fld Mq | DB/5 fld Mt | D9 C0+i fld ST
DB/7 fstp Mt | DD D8+i fstp ST | DD D0+i fst ST
DF/0 fild Mw | DB/0 fild Md | DF/5 fild Mq
D9 C8+i fxch ST | D9 E0 fchs | D9 E1 fabs | D9 E5 fxam | D9 E8 fld1 | D9 EE fldz
DB E8+i fucomi ST0,ST | DB F0+i fcomi ST0,ST | DF E8+i fucomip ST0,ST | DF F0+i fcomip ST0,ST
DF E0 fnstsw AX | DD/7 fnstsw Mw | D9/7 fnstcw Mw | D9/5 fldcw Mw
D9 F6 fdecstp | D9 F7 fincstp | DD C0+i ffree ST
D8 C8+i fmul ST0,ST | DC C8+i fmul ST,ST0 | DE C8+i fmulp ST,ST0 | D8/1 fmul Md | DC/1 fmul Mq
D8 C0+i fadd ST0,ST | DC C0+i fadd ST,ST0 | DE C0+i faddp ST,ST0 | D8/0 fadd Md | DC/0 fadd Mq
D8 E0+i fsub ST0,ST | DC E8+i fsub ST,ST0 | DE E8+i fsubp ST,ST0 | D8/4 fsub Md | DC/4 fsub Mq
D8 E8+i fsubr ST0,ST | DC E0+i fsubr ST,ST0 | DE E0+i fsubrp ST,ST0 | D8/5 fsubr Md | DC/5 fsubr Mq
D8 F0+i fdiv ST0,ST | DC F8+i fdiv ST,ST0 | DE F8+i fdivp ST,ST0 | D8/6 fdiv Md | DC/6 fdiv Mq
D8 F8+i fdivr ST0,ST | DC F0+i fdivr ST,ST0 | DE F0+i fdivrp ST,ST0 | D8/7 fdivr Md | DC/7 fdivr Mq
DA C0+i fcmovb ST0,ST | DA C8+i fcmove ST0,ST | DA D0+i fcmovbe ST0,ST | DA D8+i fcmovu ST0,ST
DB C0+i fcmovnb ST0,ST | DB C8+i fcmovne ST0,ST | DB D0+i fcmovnbe ST0,ST | DB D8+i fcmovnu ST0,ST
D9 FC frndint | DF/2 fist Mw | DB/2 fist Md | DF/3 fistp Mw | DB/3 fistp Md | DF/7 fistp Mq
D9 E9 fldl2t | D9 EA fldl2e | D9 EB fldpi | D9 EC fldlg2 | D9 ED fldln2
9B wait | D9 FA fsqrt | D9/2 fst Md | DD/2 fst Mq | D9/3 fstp Md | DD/3 fstp Mq
"""

# VEX (AVX, AVX2, BMI1/2): `VEX[.L0|.L1].[66|F2|F3.]0F|0F38|0F3A[.W0|.W1] opcode mnemonic operands`
# (the SDM's notation; no .L means either vector length, no .W either W). Operand codes as above,
# and H (a vector register in VEX.vvvv), B (a general register in VEX.vvvv), L (a vector register
# in bits 7:4 of an immediate byte, the SDM's /is4); the size letter l is the vector length (16
# bytes for VEX.L 0, 32 for 1).
_VEX = """
VEX.0F 10 vmovups Vl,Wl | VEX.0F 11 vmovups Wl,Vl | VEX.66.0F 10 vmovupd Vl,Wl | VEX.66.0F 11 vmovupd Wl,Vl
VEX.0F 28 vmovaps Vl,Wl | VEX.0F 29 vmovaps Wl,Vl | VEX.66.0F 28 vmovapd Vl,Wl | VEX.66.0F 29 vmovapd Wl,Vl
VEX.F3.0F 6F vmovdqu Vl,Wl | VEX.F3.0F 7F vmovdqu Wl,Vl | VEX.66.0F 6F vmovdqa Vl,Wl | VEX.66.0F 7F vmovdqa Wl,Vl
VEX.66.0F E7 vmovntdq Ml,Vl
VEX.66.0F 74 vpcmpeqb Vl,Hl,Wl | VEX.66.0F 75 vpcmpeqw Vl,Hl,Wl | VEX.66.0F 76 vpcmpeqd Vl,Hl,Wl
VEX.66.0F38 29 vpcmpeqq Vl,Hl,Wl | VEX.66.0F 64 vpcmpgtb Vl,Hl,Wl | VEX.66.0F 65 vpcmpgtw Vl,Hl,Wl
VEX.66.0F 66 vpcmpgtd Vl,Hl,Wl | VEX.66.0F DA vpminub Vl,Hl,Wl | VEX.66.0F DE vpmaxub Vl,Hl,Wl
VEX.66.0F EA vpminsw Vl,Hl,Wl | VEX.66.0F EE vpmaxsw Vl,Hl,Wl | VEX.66.0F38 38 vpminsb Vl,Hl,Wl
VEX.66.0F38 39 vpminsd Vl,Hl,Wl | VEX.66.0F38 3A vpminuw Vl,Hl,Wl | VEX.66.0F38 3B vpminud Vl,Hl,Wl
VEX.66.0F38 3C vpmaxsb Vl,Hl,Wl | VEX.66.0F38 3D vpmaxsd Vl,Hl,Wl | VEX.66.0F38 3E vpmaxuw Vl,Hl,Wl
VEX.66.0F38 3F vpmaxud Vl,Hl,Wl | VEX.66.0F DB vpand Vl,Hl,Wl | VEX.66.0F DF vpandn Vl,Hl,Wl
VEX.66.0F EB vpor Vl,Hl,Wl | VEX.66.0F EF vpxor Vl,Hl,Wl | VEX.66.0F FC vpaddb Vl,Hl,Wl
VEX.66.0F FD vpaddw Vl,Hl,Wl | VEX.66.0F FE vpaddd Vl,Hl,Wl | VEX.66.0F D4 vpaddq Vl,Hl,Wl
VEX.66.0F F8 vpsubb Vl,Hl,Wl | VEX.66.0F F9 vpsubw Vl,Hl,Wl | VEX.66.0F FA vpsubd Vl,Hl,Wl
VEX.66.0F FB vpsubq Vl,Hl,Wl | VEX.66.0F D8 vpsubusb Vl,Hl,Wl | VEX.66.0F D9 vpsubusw Vl,Hl,Wl
VEX.66.0F DC vpaddusb Vl,Hl,Wl | VEX.66.0F DD vpaddusw Vl,Hl,Wl | VEX.66.0F38 00 vpshufb Vl,Hl,Wl
VEX.0F 54 vandps Vl,Hl,Wl | VEX.66.0F 54 vandpd Vl,Hl,Wl | VEX.0F 55 vandnps Vl,Hl,Wl
VEX.66.0F 55 vandnpd Vl,Hl,Wl | VEX.0F 56 vorps Vl,Hl,Wl | VEX.66.0F 56 vorpd Vl,Hl,Wl
VEX.0F 57 vxorps Vl,Hl,Wl | VEX.66.0F 57 vxorpd Vl,Hl,Wl
VEX.0F 58 vaddps Vl,Hl,Wl | VEX.66.0F 58 vaddpd Vl,Hl,Wl | VEX.0F 59 vmulps Vl,Hl,Wl
VEX.66.0F 59 vmulpd Vl,Hl,Wl | VEX.0F 5C vsubps Vl,Hl,Wl | VEX.66.0F 5C vsubpd Vl,Hl,Wl
VEX.0F 5E vdivps Vl,Hl,Wl | VEX.66.0F 5E vdivpd Vl,Hl,Wl
VEX.F3.0F 58 vaddss Vx,Hx,Wd | VEX.F2.0F 58 vaddsd Vx,Hx,Wq | VEX.F3.0F 59 vmulss Vx,Hx,Wd
VEX.F2.0F 59 vmulsd Vx,Hx,Wq | VEX.F3.0F 5C vsubss Vx,Hx,Wd | VEX.F2.0F 5C vsubsd Vx,Hx,Wq
VEX.F3.0F 5E vdivss Vx,Hx,Wd | VEX.F2.0F 5E vdivsd Vx,Hx,Wq | VEX.F3.0F 51 vsqrtss Vx,Hx,Wd
VEX.F2.0F 51 vsqrtsd Vx,Hx,Wq | VEX.F3.0F 5D vminss Vx,Hx,Wd | VEX.F2.0F 5D vminsd Vx,Hx,Wq
VEX.F3.0F 5F vmaxss Vx,Hx,Wd | VEX.F2.0F 5F vmaxsd Vx,Hx,Wq
VEX.F2.0F 10 vmovsd Vx,Hx,Ux | VEX.F2.0F 10 vmovsd Vx,Mq | VEX.F2.0F 11 vmovsd Mq,Vx
VEX.F3.0F 10 vmovss Vx,Hx,Ux | VEX.F3.0F 10 vmovss Vx,Md | VEX.F3.0F 11 vmovss Md,Vx
VEX.F2.0F 11 vmovsd Ux,Hx,Vx | VEX.F3.0F 11 vmovss Ux,Hx,Vx
VEX.L0.66.0F.W0 6E vmovd Vx,Ed | VEX.L0.66.0F.W1 6E vmovq Vx,Eq | VEX.L0.66.0F.W0 7E vmovd Ed,Vx
VEX.L0.66.0F.W1 7E vmovq Eq,Vx | VEX.L0.F3.0F 7E vmovq Vx,Wq | VEX.L0.66.0F D6 vmovq Wq,Vx
VEX.66.0F D7 vpmovmskb Gd,Ul
VEX.66.0F38.W0 78 vpbroadcastb Vl,Wb | VEX.66.0F38.W0 79 vpbroadcastw Vl,Ww
VEX.66.0F38.W0 58 vpbroadcastd Vl,Wd | VEX.66.0F38.W0 59 vpbroadcastq Vl,Wq
VEX.L0.0F 77 vzeroupper | VEX.L1.0F 77 vzeroall
VEX.66.0F 2E vucomisd Vx,Wq | VEX.66.0F 2F vcomisd Vx,Wq | VEX.0F 2E vucomiss Vx,Wd | VEX.0F 2F vcomiss Vx,Wd
VEX.F2.0F 2A vcvtsi2sd Vx,Hx,Ey | VEX.F3.0F 2A vcvtsi2ss Vx,Hx,Ey
VEX.0F C2 vcmpps Vl,Hl,Wl,Ib | VEX.66.0F C2 vcmppd Vl,Hl,Wl,Ib | VEX.F3.0F C2 vcmpss Vx,Hx,Wd,Ib
VEX.F2.0F C2 vcmpsd Vx,Hx,Wq,Ib | VEX.F3.0F 5A vcvtss2sd Vx,Hx,Wd | VEX.F2.0F 5A vcvtsd2ss Vx,Hx,Wq
VEX.F3.0F 2C vcvttss2si Gy,Wd | VEX.F2.0F 2C vcvttsd2si Gy,Wq | VEX.F3.0F 2D vcvtss2si Gy,Wd
VEX.F2.0F 2D vcvtsd2si Gy,Wq
VEX.66.0F3A.W0 4A vblendvps Vl,Hl,Wl,Ll | VEX.66.0F3A.W0 4B vblendvpd Vl,Hl,Wl,Ll
VEX.66.0F3A.W0 4C vpblendvb Vl,Hl,Wl,Ll
VEX.66.0F38.W0 99 vfmadd132ss Vx,Hx,Wd | VEX.66.0F38.W1 99 vfmadd132sd Vx,Hx,Wq
VEX.66.0F38.W0 A9 vfmadd213ss Vx,Hx,Wd | VEX.66.0F38.W1 A9 vfmadd213sd Vx,Hx,Wq
VEX.66.0F38.W0 B9 vfmadd231ss Vx,Hx,Wd | VEX.66.0F38.W1 B9 vfmadd231sd Vx,Hx,Wq
VEX.66.0F38.W0 9B vfmsub132ss Vx,Hx,Wd | VEX.66.0F38.W1 9B vfmsub132sd Vx,Hx,Wq
VEX.66.0F38.W0 AB vfmsub213ss Vx,Hx,Wd | VEX.66.0F38.W1 AB vfmsub213sd Vx,Hx,Wq
VEX.66.0F38.W0 BB vfmsub231ss Vx,Hx,Wd | VEX.66.0F38.W1 BB vfmsub231sd Vx,Hx,Wq
VEX.66.0F38.W0 9D vfnmadd132ss Vx,Hx,Wd | VEX.66.0F38.W1 9D vfnmadd132sd Vx,Hx,Wq
VEX.66.0F38.W0 AD vfnmadd213ss Vx,Hx,Wd | VEX.66.0F38.W1 AD vfnmadd213sd Vx,Hx,Wq
VEX.66.0F38.W0 BD vfnmadd231ss Vx,Hx,Wd | VEX.66.0F38.W1 BD vfnmadd231sd Vx,Hx,Wq
VEX.66.0F38.W0 9F vfnmsub132ss Vx,Hx,Wd | VEX.66.0F38.W1 9F vfnmsub132sd Vx,Hx,Wq
VEX.66.0F38.W0 AF vfnmsub213ss Vx,Hx,Wd | VEX.66.0F38.W1 AF vfnmsub213sd Vx,Hx,Wq
VEX.66.0F38.W0 BF vfnmsub231ss Vx,Hx,Wd | VEX.66.0F38.W1 BF vfnmsub231sd Vx,Hx,Wq
VEX.L0.0F38 F2 andn Gy,By,Ey | VEX.L0.0F38 F3/1 blsr By,Ey | VEX.L0.0F38 F3/2 blsmsk By,Ey
VEX.L0.0F38 F3/3 blsi By,Ey | VEX.L0.0F38 F5 bzhi Gy,Ey,By | VEX.L0.F3.0F38 F7 sarx Gy,Ey,By
VEX.L0.66.0F38 F7 shlx Gy,Ey,By | VEX.L0.F2.0F38 F7 shrx Gy,Ey,By | VEX.L0.F2.0F3A F0 rorx Gy,Ey,Ib
"""


# what the translation takes with LOCK (adc, sbb, neg, not, bts, btr and btc may take it too on x86)
LOCKABLE = frozenset(("add", "and", "or", "sub", "xor", "inc", "dec", "xadd", "cmpxchg", "xchg"))


@dataclass(frozen=True)
class OpSpec:
    """One opcode-table line."""

    id: int
    mnemonic: str
    operands: tuple[str, ...]
    map: int            # 0 one-byte, 1 = 0F, 2 = 0F 38, 3 = 0F 3A
    prefix: int         # mandatory prefix: 0, 0x66, 0xF2 or 0xF3
    opcode: int
    digit: int          # ModRM.reg extension, -1 when ModRM.reg names an operand
    plus_r: bool        # register number in the opcode's low 3 bits
    vex: bool = False   # VEX-encoded (prefix and map in the VEX prefix)
    vex_l: int = -1     # VEX.L it takes: 0, 1, or -1 for either
    vex_w: int = -1     # VEX.W it takes: 0, 1, or -1 for either
    rm: int = -1        # x87: the ModRM.rm a register form without operands takes (mod 3), -1 any

    @property
    def x87(self) -> bool:
        return self.map == 0 and (0xD8 <= self.opcode <= 0xDF or self.opcode == 0x9B)      # 9B: fwait

    @property
    def has_modrm(self) -> bool:
        return any(o[0] in "EGWVUM" for o in self.operands) or self.digit >= 0

    @property
    def uses_vvvv(self) -> bool:
        """VEX.vvvv names an operand (else it must be 1111)."""
        return any(o[0] in "HB" for o in self.operands)

    @property
    def stack64(self) -> bool:
        """push/pop/call/ret and indirect jmp: 64-bit operand size without REX.W; the 66 prefix
        (16-bit stack operations and targets) is outside the subset."""
        indirect_jmp = self.mnemonic == "jmp" and self.operands[0][0] == "E"
        return self.mnemonic in ("push", "pop", "call", "ret") or indirect_jmp

    @property
    def lockable(self) -> bool:
        """A read-modify-write of a memory destination the LOCK prefix may make atomic (xchg is
        atomic without it)."""
        return self.mnemonic in LOCKABLE and bool(self.operands) and self.operands[0][0] == "E"

    @property
    def ends_block(self) -> bool:
        """A branch or a system call: the block's exit."""
        return self.mnemonic in ("ret", "call", "jmp", "syscall") or any(o[0] == "J" for o in self.operands)

    @property
    def needs_next_ip(self) -> bool:
        """Its code holds the address of the next instruction (the return address of an indirect
        call, where a system call returns to) without a relative operand."""
        return self.mnemonic in ("call", "syscall") and not any(o[0] == "J" for o in self.operands)

    @property
    def is_sse(self) -> bool:
        return any(o[0] in "VWUH" for o in self.operands)

    def opcode_bytes(self) -> bytes:
        esc = {0: b"", 1: b"\x0f", 2: b"\x0f\x38", 3: b"\x0f\x3a"}[self.map]
        return esc + bytes([self.opcode])

    def syntax(self) -> str:
        return f"{self.mnemonic} {','.join(self.operands)}".strip()


def _parse(line: str, ident: int) -> OpSpec:
    tokens = line.split()
    if tokens[0].startswith("VEX."):
        return _parse_vex(tokens, ident)
    n = next(i for i, t in enumerate(tokens) if t[0].islower())
    code, rest = tokens[:n], tokens[n:]
    prefix = 0
    if len(code) > 1 and code[0] in ("66", "F2", "F3") and code[1] == "0F":
        prefix = int(code.pop(0), 16)
    mapno = 0
    if len(code) > 1 and code[0] == "0F":
        code.pop(0)
        mapno = 1
        if len(code) > 1:
            mapno = 2 if code.pop(0) == "38" else 3
    if len(code) == 2 and 0xD8 <= int(code[0], 16) <= 0xDF:     # x87 with its ModRM byte
        second = code[1].removesuffix("+i")
        modrm = int(second, 16)
        operands = tuple(rest[1].split(",")) if len(rest) > 1 else ()
        return OpSpec(ident, rest[0], operands, 0, 0, int(code[0], 16), (modrm >> 3) & 7, False,
                      rm=-1 if code[1].endswith("+i") else modrm & 7)
    op = code[0]
    digit, plus_r = -1, False
    if "/" in op:
        op, d = op.split("/")
        digit = int(d)
    if op.endswith("+r"):
        op, plus_r = op[:-2], True
    operands = tuple(rest[1].split(",")) if len(rest) > 1 else ()
    return OpSpec(ident, rest[0], operands, mapno, prefix, int(op, 16), digit, plus_r)


def _parse_vex(tokens: list[str], ident: int) -> OpSpec:
    """`VEX.L0.66.0F38.W0 opcode[/digit] mnemonic operands`."""
    prefix, mapno, vex_l, vex_w = 0, 1, -1, -1
    for part in tokens[0].split(".")[1:]:
        if part in ("66", "F2", "F3"):
            prefix = int(part, 16)
        elif part in ("0F", "0F38", "0F3A"):
            mapno = {"0F": 1, "0F38": 2, "0F3A": 3}[part]
        elif part in ("L0", "L1"):
            vex_l = int(part[1])
        elif part in ("W0", "W1"):
            vex_w = int(part[1])
        else:  # pragma: no cover - table error
            raise AssertionError(tokens)
    op, _, d = tokens[1].partition("/")
    operands = tuple(tokens[3].split(",")) if len(tokens) > 3 else ()
    return OpSpec(ident, tokens[2], operands, mapno, prefix, int(op, 16), int(d) if d else -1, False, True, vex_l,
                  vex_w)


def _build() -> list[OpSpec]:
    lines = _integer()
    for table in (_SSE, _VEX, _X87):
        for row in table.strip().splitlines():
            lines += [part.strip() for part in row.split("|") if part.strip()]
    return [_parse(line, i) for i, line in enumerate(lines)]


SPECS: list[OpSpec] = _build()
