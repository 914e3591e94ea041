/*
 * Real-mode entry: loaded raw at 0x8000 and started with `--raw 0x8000:real` (CS = 0, IP = 0x8000).
 * Checks that CR0.PE is clear and CS is 0, says so on COM1, and exits with 0x10 (0x11 if not).
 */
        .include "common.inc"
        .code16
        .text
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $0x7000, %sp
        movl    %cr0, %eax
        testb   $1, %al                 /* CR0.PE */
        jnz     fail
        movw    %cs, %ax
        testw   %ax, %ax
        jnz     fail
        movw    $msg_ok, %si
        call    puts
        EXIT    0x10
fail:
        movw    $msg_fail, %si
        call    puts
        EXIT    0x11

        DEFINE_PUTS
msg_ok:   .asciz "real mode: ok\n"
msg_fail: .asciz "real mode: wrong entry state\n"
