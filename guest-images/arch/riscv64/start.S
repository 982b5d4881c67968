/* riscv64 entry: runs in M-mode from the image's first byte (QEMU -bios none -kernel, vm run). */
    .file "start.S"
    .section .text.start, "ax"
    .global _start
_start:
    la      sp, __stack_top
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  call    _cstart             /* main(), then board_exit(status); never returns */
    j       .

    .section .note.GNU-stack, "", %progbits
