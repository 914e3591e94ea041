/*
 * Shared contract "hello": prints "hello from tetra" on the console and ends with debug-exit
 * status 0x10. Here: through H_PUT_TERM_CHAR, after making interrupts little-endian.
 */
        .include "common.inc"
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail
        PRINT   msg_hello
        EXIT    0x10
fail:
        PRINT   msg_fail
        EXIT    0x11

        DEFINE_COMMON
msg_hello: .asciz "hello from tetra\n"
msg_fail:  .asciz "hello: H_SET_MODE failed\n"
