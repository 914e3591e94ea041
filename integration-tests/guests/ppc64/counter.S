/*
 * Shared contract "counter": prints "tick 1" .. "tick 40" with a busy loop between ticks, keeps
 * its count (32 bits) 0xff0 bytes past its load address (0x400ff0 here), then exits 0x10. Used to pause and resume a
 * running guest, and to move one (its registers and RAM) into another VM.
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
        lis     %r30, count@ha
        addi    %r30, %r30, count@l
        stw     %r31, 0(%r30)
1:      lis     %r9, SPIN@h
        mtctr   %r9
2:      bdnz    2b
        lwz     %r31, 0(%r30)
        addi    %r31, %r31, 1
        stw     %r31, 0(%r30)
        PRINT   msg_tick
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl
        cmpdi   %r31, TICKS
        blt     1b
        EXIT    0x10

        DEFINE_COMMON
msg_tick: .asciz "tick "
        .org    0xff0                   /* fails to assemble should the code grow past it */
count:  .long   0
