/*
 * Shared contract "counter": prints "tick 1" .. "tick 40" with 20 ms of the timebase (512 MHz on
 * POWER) between ticks, keeps its count (32 bits) 0xff0 bytes past its load address (0x400ff0
 * here), then exits 0x10. Used to pause and resume a running guest, and to move one (its
 * registers and RAM) into another VM.
 */
        .include "common.inc"
        .set TICKS, 40
        .set DELAY, 10240000            /* 20 ms of a 512 MHz timebase */
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        li      %r31, 0
        lis     %r30, count@ha
        addi    %r30, %r30, count@l
        stw     %r31, 0(%r30)
        lis     %r28, DELAY@h
        ori     %r28, %r28, DELAY@l
1:      mftb    %r29
2:      mftb    %r9
        subf    %r9, %r29, %r9
        cmpld   %r9, %r28
        blt     2b
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
