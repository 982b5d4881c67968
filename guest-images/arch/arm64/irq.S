/* arm64 exception vectors for the interrupt guests: IRQs call irq_handler(), synchronous
 * exceptions call sync_handler(esr, elr, far). Caller-saved registers are kept on the EL1 stack. */
    .file "irq.S"
    .section .text.vectors, "ax"
    .balign 2048
    .global vectors
vectors:
    .irp slot, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 0x80
    .if (\slot % 4) == 1
    b       irq_entry
    .else
    b       sync_entry
    .endif
    .endr

    .macro save
    sub     sp, sp, #176
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    str     x30, [sp, #160]
    .endm
    .macro restore
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x29, [sp, #144]
    ldr     x30, [sp, #160]
    add     sp, sp, #176
    .endm

irq_entry:
    save
    bl      irq_handler
    restore
    eret

sync_entry:
    save
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    bl      sync_handler
    restore
    eret

    .section .note.GNU-stack, "", %progbits
