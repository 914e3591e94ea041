/*
 * A PPC970 guest (big-endian, `--cpu-template ppc970` on a KVM-PR host; the 970 has no
 * little-endian mode): reads its processor version (mfpvr, which KVM-PR emulates) and how many
 * bytes one `dcbz` clears in a 256-byte buffer of 0xff, then sets HID5's DCBZ32 bit (0x80, as
 * Mac OS X did on a 970) and counts again, prints
 * "ppc970: pvr 00390202 dcbz 128 dcbz32 NNN" and exits 0x10; 0x11 if it does not run
 * big-endian with r3 = the device tree. The first count is what the device tree's
 * d-cache-block-size must say (seed 002: a guest sizes its dcbz loops by it); the second is
 * what KVM-PR makes of the 32-byte mode on this host (docs/ppc64.md, "Processor models").
 * No common.inc: its routines are little-endian; put is hello_be.S's.
 */
        .machine power9
        .set HID5, 1014
        .set DCBZ32, 0x80
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
        mfpvr   %r20
        lis     %r21, buf@ha
        addi    %r21, %r21, buf@l
        lis     %r31, msg@ha
        addi    %r31, %r31, msg@l
        bl      measure
        addi    %r11, %r31, 26 + 3
        bl      dec3
        li      %r9, DCBZ32
        mtspr   HID5, %r9
        isync
        bl      measure
        addi    %r11, %r31, 37 + 3
        bl      dec3
        /* The PVR as 8 hex digits at msg + 12. */
        addi    %r11, %r31, 12 + 8
        li      %r10, 8
        mtctr   %r10
4:      andi.   %r9, %r20, 0xf
        cmpwi   %r9, 10
        addi    %r9, %r9, '0'
        blt     5f
        addi    %r9, %r9, 'a' - '0' - 10
5:      stbu    %r9, -1(%r11)
        srwi    %r20, %r20, 4
        bdnz    4b
        /* The line, 16 bytes at a time. */
        li      %r29, msg_end - msg
6:      mr      %r30, %r29
        cmpwi   %r30, 16
        ble     7f
        li      %r30, 16
7:      bl      put
        addi    %r31, %r31, 16
        subf    %r29, %r30, %r29
        cmpwi   %r29, 0
        bgt     6b
        li      %r3, 0x10
        b       exit
fail:   li      %r3, 0x11
exit:   li      %r9, 1
        sldi    %r9, %r9, 45
        stwbrx  %r3, 0, %r9
        b       .

/* measure: fills buf (r21) with 0xff, clears one block in its middle with dcbz, and leaves the
 * number of zero bytes in r22. */
measure:
        li      %r9, -1
        li      %r10, 32
        mtctr   %r10
        mr      %r11, %r21
1:      std     %r9, 0(%r11)
        addi    %r11, %r11, 8
        bdnz    1b
        sync
        addi    %r12, %r21, 128
        dcbz    0, %r12
        sync
        li      %r22, 0
        li      %r10, 256
        mtctr   %r10
        mr      %r11, %r21
2:      lbz     %r9, 0(%r11)
        cmpwi   %r9, 0
        bne     3f
        addi    %r22, %r22, 1
3:      addi    %r11, %r11, 1
        bdnz    2b
        blr

/* dec3: r22 as 3 decimal digits ending before r11. */
dec3:   li      %r10, 3
        mtctr   %r10
        li      %r8, 10
1:      divwu   %r7, %r22, %r8
        mullw   %r6, %r7, %r8
        subf    %r9, %r6, %r22
        addi    %r9, %r9, '0'
        stbu    %r9, -1(%r11)
        mr      %r22, %r7
        bdnz    1b
        blr

/* put: r30 bytes (at most 16) at r31 through H_PUT_TERM_CHAR; plain loads are big-endian. */
put:    ld      %r6, 0(%r31)
        ld      %r7, 8(%r31)
        mr      %r5, %r30
        li      %r3, 0x58
        lis     %r4, 0x7100
        sc      1
        blr

        .balign 8
msg:    .ascii  "ppc970: pvr ........ dcbz ... dcbz32 ...\n"
msg_end:
        .space  16
        .balign 256
buf:    .space  256
