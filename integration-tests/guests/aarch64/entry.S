/*
 * Entry state: checks what the arm64 boot protocol (and tetra) promise the boot vCPU: x0 is the
 * device tree (FDT magic 0xd00dfeed, big-endian, 8-byte aligned, at most 2 MiB), x1-x3 are 0,
 * the CPU is at EL1 on SP_EL1 (EL1h) with D, A, I and F masked, and the MMU is off. Prints
 * "entry: dtb at 0x..., N bytes" and "entry: ok", then exits 0x10; prints what is wrong and exits
 * 0x11 otherwise.
 */
        .include "common.inc"
        .section .text.start, "ax"
        .globl  _start
_start:
        mov     x19, x0                 /* keep the entry registers */
        mov     x20, x1
        mov     x21, x2
        mov     x22, x3
        adr     x23, bad_args
        orr     x9, x20, x21
        orr     x9, x9, x22
        cbnz    x9, fail
        adr     x23, bad_align
        tst     x19, #7
        b.ne    fail
        adr     x23, bad_magic
        ldr     w9, [x19]
        rev     w9, w9
        mov     w10, #0xfeed
        movk    w10, #0xd00d, lsl #16
        cmp     w9, w10
        b.ne    fail
        ldr     w24, [x19, #4]          /* totalsize */
        rev     w24, w24
        adr     x23, bad_size
        cmp     w24, #(2 << 20)
        b.hi    fail
        adr     x23, bad_el
        mrs     x9, CurrentEL
        cmp     x9, #(1 << 2)
        b.ne    fail
        adr     x23, bad_spsel
        mrs     x9, SPSel
        cmp     x9, #1
        b.ne    fail
        adr     x23, bad_daif
        mrs     x9, DAIF
        cmp     x9, #0x3c0
        b.ne    fail
        adr     x23, bad_mmu
        mrs     x9, SCTLR_EL1
        tst     x9, #1
        b.ne    fail

        PUTS    msg_dtb
        mov     x0, x19
        bl      puthex
        PUTS    msg_comma
        mov     x0, x24
        bl      putdec
        PUTS    msg_bytes
        PUTS    msg_ok
        EXIT    0x10
fail:
        PUTS    msg_bad
        mov     x0, x23
        bl      puts
        PUTS    msg_nl
        EXIT    0x11

        DEFINE_CONSOLE
msg_dtb:    .asciz "entry: dtb at "
msg_comma:  .asciz ", "
msg_bytes:  .asciz " bytes\n"
msg_ok:     .asciz "entry: ok\n"
msg_bad:    .asciz "entry: bad "
msg_nl:     .asciz "\n"
bad_args:   .asciz "x1-x3 (not zero)"
bad_align:  .asciz "x0 (not 8-byte aligned)"
bad_magic:  .asciz "x0 (no FDT magic there)"
bad_size:   .asciz "FDT totalsize (over 2 MiB)"
bad_el:     .asciz "exception level (not EL1)"
bad_spsel:  .asciz "stack pointer selection (not SP_EL1)"
bad_daif:   .asciz "DAIF (not all masked)"
bad_mmu:    .asciz "SCTLR_EL1.M (MMU on)"
