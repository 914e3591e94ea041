/*
 * Shared contract "mmio": the test puts a device at 0xd0000000 that records writes and answers
 * a 32-bit read at +4 with the bitwise NOT of the last 32-bit write, and a byte read at +8 with
 * the last byte written there plus one. Exits 0x10 when both answers are right, 0x11 otherwise.
 * Real-mode loads and stores outside RAM exit to tetra as MMIO.
 */
        .include "common.inc"
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        lis     %r31, 0xd000
        rldicl  %r31, %r31, 0, 32       /* 0xd0000000, not sign-extended */
        lis     %r9, 0xdead
        ori     %r9, %r9, 0xbeef
        stw     %r9, 0(%r31)            /* 32-bit MMIO write */
        lwz     %r10, 4(%r31)           /* 32-bit MMIO read */
        not     %r9, %r9
        cmpw    %r10, %r9
        bne     fail
        li      %r9, 0x41
        stb     %r9, 8(%r31)            /* 8-bit write */
        lbz     %r10, 8(%r31)           /* 8-bit read */
        cmpwi   %r10, 0x42
        bne     fail
        PRINT   msg_ok
        EXIT    0x10
fail:
        PRINT   msg_fail
        EXIT    0x11

        DEFINE_COMMON
msg_ok:   .asciz "mmio: ok\n"
msg_fail: .asciz "mmio: wrong answer\n"
