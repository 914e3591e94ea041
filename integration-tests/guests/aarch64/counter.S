/*
 * A guest that takes its time (the same contract as the x86 guest): prints "tick 1" .. "tick 40"
 * with 20 ms of the virtual counter between ticks, then exits 0x10. Used to pause and resume a
 * running guest.
 */
        .include "common.inc"
        .set TICKS, 40
        .section .text.start, "ax"
        .globl  _start
_start:
        mrs     x20, cntfrq_el0
        mov     x9, #50
        udiv    x20, x20, x9            /* 20 ms in counter ticks */
        mov     x19, #0
tick:   DELAY   x20
        add     x19, x19, #1
        PUTS    msg_tick
        mov     x0, x19
        bl      putdec
        PUTS    msg_nl
        cmp     x19, #TICKS
        b.lo    tick
        EXIT    0x10

        DEFINE_CONSOLE
msg_tick: .asciz "tick "
msg_nl:   .asciz "\n"
