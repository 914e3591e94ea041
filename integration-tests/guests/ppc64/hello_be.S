/*
 * A big-endian guest (`--raw ADDR:be`): checks that it runs big-endian with r3 = the device tree
 * (whose magic it now reads with a plain load), prints "hello from a big-endian guest" and
 * exits 0x10. The debug-exit register reads the bytes little-endian, so a big-endian guest
 * stores its status byte-reversed (stwbrx). No common.inc: its routines are little-endian.
 */
        .machine power9
        .text
        .globl  _start
_start:
        lwz     %r9, 0(%r3)
        lis     %r10, 0xd00d
        ori     %r10, %r10, 0xfeed
        cmpw    %r9, %r10
        bne     fail
        mfmsr   %r9
        andi.   %r9, %r9, 1             /* MSR[LE] */
        bne     fail
        lis     %r31, msg@ha
        addi    %r31, %r31, msg@l
        li      %r30, 16
        bl      put
        addi    %r31, %r31, 16
        li      %r30, msg_end - msg - 16
        bl      put
        li      %r3, 0x10
        b       exit
fail:   li      %r3, 0x11
exit:   li      %r9, 1
        sldi    %r9, %r9, 45
        stwbrx  %r3, 0, %r9
        b       .

/* put: r30 bytes (at most 16) at r31 through H_PUT_TERM_CHAR; plain loads are big-endian. */
put:    ld      %r6, 0(%r31)
        ld      %r7, 8(%r31)
        mr      %r5, %r30
        li      %r3, 0x58
        lis     %r4, 0x7100
        sc      1
        blr

msg:    .ascii  "hello from a big-endian guest\n"
msg_end:
        .space  16
