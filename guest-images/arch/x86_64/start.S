/* x86_64 entry: runs in 64-bit long mode, flat, from the image's first byte (vm run, board pc-flat). */
    .file "start.S"
    .section .text.start, "ax"
    .global _start
_start:
    mov     $__stack_top, %rsp
    cld
    mov     $__bss_start, %rdi
    mov     $__bss_end, %rcx
    sub     %rdi, %rcx
    shr     $3, %rcx
    xor     %eax, %eax
    rep stosq
    call    _cstart             /* main(), then board_exit(status); never returns */
1:  hlt
    jmp     1b

    .section .note.GNU-stack, "", %progbits
