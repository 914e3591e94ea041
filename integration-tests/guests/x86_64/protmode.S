/*
 * 32-bit protected-mode entry: loaded raw at 1 MiB, `--raw 0x100000:protected`. Checks CR0.PE set,
 * CR0.PG clear, CS = tetra's flat 32-bit code selector 0x08; exits 0x10 (0x11 if not).
 */
        .include "common.inc"
        .code32
        .text
        .globl  _start
_start:
        movl    %cr0, %eax
        andl    $0x80000001, %eax       /* PG, PE */
        cmpl    $1, %eax
        jne     fail
        movw    %cs, %ax
        cmpw    $0x08, %ax
        jne     fail
        movl    $msg_ok, %esi
        call    puts
        EXIT    0x10
fail:
        movl    $msg_fail, %esi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
msg_ok:   .asciz "protected mode: ok\n"
msg_fail: .asciz "protected mode: wrong entry state\n"
