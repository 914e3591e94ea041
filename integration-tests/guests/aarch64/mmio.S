/*
 * MMIO round trip (the same contract as the x86 guest): the test puts a device at 0xd0000000
 * (above RAM on arm64) that records writes and answers a 32-bit read at +4 with the bitwise NOT
 * of the last 32-bit write, and a byte read at +8 with the last byte written there plus one.
 * Exits 0x10 when both answers are right, 0x11 otherwise.
 */
        .include "common.inc"
        .set DEV, 0xd0000000
        .section .text.start, "ax"
        .globl  _start
_start:
        mov     x19, #DEV
        mov     w1, #0xbeef
        movk    w1, #0xdead, lsl #16
        str     w1, [x19]               /* 32-bit MMIO write */
        ldr     w2, [x19, #4]           /* 32-bit MMIO read */
        mvn     w1, w1
        cmp     w2, w1
        b.ne    fail
        mov     w1, #0x41
        strb    w1, [x19, #8]           /* 8-bit write */
        ldrb    w2, [x19, #8]           /* 8-bit read */
        cmp     w2, #0x42
        b.ne    fail
        PUTS    msg_ok
        EXIT    0x10
fail:
        PUTS    msg_fail
        EXIT    0x11

        DEFINE_CONSOLE
msg_ok:   .asciz "mmio: ok\n"
msg_fail: .asciz "mmio: wrong answer\n"
