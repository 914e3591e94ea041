/*
 * A guest that takes its time (the same contract as the x86 guest): prints "tick 1" .. "tick 40"
 * with 20 ms of the virtual counter between ticks, keeps its count (32 bits) 0xff0 bytes past its
 * load address, then exits 0x10. Used to pause, resume, save and move a running guest.
 */
        .include "common.inc"
        .set TICKS, 40
        .section .text.start, "ax"
        .globl  _start
_start:
        adr     x21, count
        str     wzr, [x21]
        mrs     x20, cntfrq_el0
        mov     x9, #50
        udiv    x20, x20, x9            /* 20 ms in counter ticks */
tick:   DELAY   x20
        ldr     w19, [x21]
        add     w19, w19, #1
        str     w19, [x21]
        PUTS    msg_tick
        mov     x0, x19
        bl      putdec
        PUTS    msg_nl
        ldr     w19, [x21]
        cmp     w19, #TICKS
        b.lo    tick
        EXIT    0x10

        DEFINE_CONSOLE
msg_tick: .asciz "tick "
msg_nl:   .asciz "\n"
        .org    0xff0                   /* fails to assemble should the code grow past it */
count:  .word   0
