/*
 * A guest that takes its time: prints "tick 1" .. "tick 40" on COM1 with a short busy loop
 * between ticks (short because a host whose KVM emulates every guest instruction spends ~1 us on
 * each), keeps its count in memory at 0x100ff0, then exits with 0x10. Loaded raw at 1 MiB in
 * protected mode. Used to pause and resume a running guest.
 */
        .include "common.inc"
        .set COUNT, 0x100ff0
        .set TICKS, 40
        .set SPIN, 1 << 15
        .code32
        .text
        .globl  _start
_start:
        movl    $0x8000, %esp
        movl    $0, COUNT
1:      movl    $SPIN, %ecx
2:      loop    2b
        incl    COUNT
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
