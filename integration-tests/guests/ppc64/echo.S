/*
 * Shared contract "echo": prints "echo: ready", reads one line from the console and prints
 * "echo: <line>", then exits 0x10. Here: H_GET_TERM_CHAR, polled.
 */
        .include "common.inc"
        .set MAX, 62
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        PRINT   msg_ready
        LA      %r31, line
        li      %r30, 0                 /* bytes in line */
poll:   li      %r3, H_GET_TERM_CHAR
        lis     %r4, VTY@h
        sc      1
        cmpdi   %r3, 0
        bne     fail
        cmpdi   %r4, 0
        beq     poll
        mr      %r29, %r4               /* bytes received */
        LA      %r28, chunk
        stdbrx  %r5, 0, %r28            /* back to byte order */
        addi    %r9, %r28, 8
        stdbrx  %r6, 0, %r9
        li      %r27, 0
1:      cmpd    %r27, %r29
        bge     poll
        lbzx    %r9, %r28, %r27
        addi    %r27, %r27, 1
        cmpwi   %r9, '\n'
        beq     done
        stbx    %r9, %r31, %r30
        addi    %r30, %r30, 1
        cmpdi   %r30, MAX
        blt     1b
done:   li      %r9, 0
        stbx    %r9, %r31, %r30
        PRINT   msg_echo
        mr      %r3, %r31
        bl      putstr
        PRINT   msg_nl
        EXIT    0x10
fail:   PRINT   msg_fail
        EXIT    0x11

        DEFINE_COMMON
msg_ready: .asciz "echo: ready\n"
msg_echo:  .asciz "echo: "
msg_fail:  .asciz "echo: H_GET_TERM_CHAR failed\n"
        .balign 16
chunk:  .space 16
line:   .space 64
