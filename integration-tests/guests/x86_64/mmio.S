/*
 * MMIO round trip: loaded raw at 1 MiB in protected mode. The test puts a device at 0xd0000000
 * that records writes and answers a read at +4 with the bitwise NOT of the last 32-bit write, and
 * a byte read at +8 with the last byte written there plus one. Exits 0x10 when both answers are
 * right, 0x11 otherwise.
 */
        .include "common.inc"
        .set DEV, 0xd0000000
        .code32
        .text
        .globl  _start
_start:
        movl    $0xdeadbeef, DEV        /* 32-bit MMIO write */
        movl    DEV + 4, %eax           /* 32-bit MMIO read */
        cmpl    $~0xdeadbeef, %eax
        jne     fail
        movb    $0x41, DEV + 8          /* 8-bit write */
        movb    DEV + 8, %al            /* 8-bit read */
        cmpb    $0x42, %al
        jne     fail
        movl    $msg_ok, %esi
        call    puts
        EXIT    0x10
fail:
        movl    $msg_fail, %esi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
msg_ok:   .asciz "mmio: ok\n"
msg_fail: .asciz "mmio: wrong answer\n"
