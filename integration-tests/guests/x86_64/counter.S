/*
 * A guest that takes its time (the shared "counter" contract): prints "tick 1" .. "tick 40" on
 * COM1 with 40 million TSC cycles (10-20 ms) between ticks, keeps its count in memory at
 * 0x100ff0 (0xff0 past its load address), then exits with 0x10. Time, not an instruction count,
 * spaces the ticks, so a fast KVM and one that emulates every instruction pace it alike. Loaded
 * raw at 1 MiB in protected mode. Used to pause, resume, snapshot and move a running guest.
 */
        .include "common.inc"
        .set COUNT, 0x100ff0
        .set TICKS, 40
        .set DELAY, 40000000
        .code32
        .text
        .globl  _start
_start:
        movl    $0x8000, %esp
        movl    $0, COUNT
1:      rdtsc                           /* %ebp:%ebx = the tick's start */
        movl    %eax, %ebx
        movl    %edx, %ebp
2:      rdtsc
        subl    %ebx, %eax
        sbbl    %ebp, %edx
        jnz     3f                      /* 2^32 cycles or more have passed */
        cmpl    $DELAY, %eax
        jb      2b
3:      incl    COUNT
        movl    $msg_tick, %esi
        call    puts
        movl    COUNT, %eax
        call    putdec
        movl    $msg_nl, %esi
        call    puts
        cmpl    $TICKS, COUNT
        jb      1b
        EXIT    0x10

        DEFINE_PUTS
        DEFINE_PUTDEC32
msg_tick: .asciz "tick "
msg_nl:   .asciz "\n"
