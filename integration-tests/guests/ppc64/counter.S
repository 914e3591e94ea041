/*
 * Shared contract "counter": prints "tick 1" .. "tick 40" with a busy loop between ticks, then
 * exits 0x10. Used to pause and resume a running guest.
 */
        .include "common.inc"
        .set TICKS, 40
        .set SPIN, 1 << 22
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        li      %r31, 0
1:      lis     %r9, SPIN@h
        mtctr   %r9
2:      bdnz    2b
        addi    %r31, %r31, 1
        PRINT   msg_tick
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl
        cmpdi   %r31, TICKS
        blt     1b
        EXIT    0x10

        DEFINE_COMMON
msg_tick: .asciz "tick "
