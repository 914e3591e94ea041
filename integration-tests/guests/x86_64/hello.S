/*
 * Shared contract "hello": prints "hello from tetra" on the console and ends with debug-exit
 * status 0x10. Here: 64-bit code loaded raw at 1 MiB (`--raw 0x100000:long`), COM1 at 0x3f8,
 * the debug-exit port 0xf4.
 */
        .include "common.inc"
        .code64
        .text
        .globl  _start
_start:
        leaq    msg_hello(%rip), %rsi
        call    puts
        EXIT    0x10

        DEFINE_PUTS
msg_hello: .asciz "hello from tetra\n"
