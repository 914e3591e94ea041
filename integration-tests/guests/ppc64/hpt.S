/*
 * The hash-MMU guest (a KVM-PR host: tetra's hash table, its address in SDR1). It maps one
 * 4K page through its own SLB entry and H_ENTER, turns data relocation on and reads and
 * writes through the mapping, then checks in real mode that the accesses reached the right
 * real page, and reads the entry back with H_READ (served by tetra).
 *
 *   segment: ESID 1 (EA 0x10000000..0x1fffffff), 256 MB, VSID 0x123, Ks = Kp = 0
 *   page:    EA 0x10005000 -> real 0x700000, PP 2 (read/write), M
 *   hash:    VSID ^ (EA[36:63] >> 12) = 0x123 ^ 5 = 0x126: PTEG 0x126 (in every table of
 *            256 KiB or more), first slot 0x930
 *
 * Prints "hpt: ok slot S v V r R" and exits 0x10; "hpt: <step> failed" and 0x11 otherwise.
 */
        .include "common.inc"
        .set H_ENTER, 0x08
        .set H_READ, 0x0c
        .set MSR_DR, 1 << 4
        .set VSID, 0x123
        .set EA, 0x10005000
        .set REAL, 0x700000
        .set PTEX, 0x126 * 8
        .set MAGIC, 0x5a5a
        .set MAGIC2, 0x3c3c
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail_init

        /* Seed the real page. */
        lis     %r20, REAL@h
        li      %r9, MAGIC
        std     %r9, 0x10(%r20)
        li      %r9, 0
        std     %r9, 0x18(%r20)

        /* SLB entry 0: rb = ESID << 28 | V | index 0, rs = VSID << 12. */
        lis     %r9, 0x1000
        oris    %r9, %r9, 0x0800        /* SLB_ESID_V */
        li      %r10, VSID
        sldi    %r10, %r10, 12
        slbmte  %r10, %r9
        isync

        /* H_ENTER(0, PTEX, V, R). V = (VA >> 23) << 7 | valid, VA = VSID << 28 | EA[36:63]. */
        li      %r3, H_ENTER
        li      %r4, 0
        li      %r5, PTEX
        li      %r6, VSID
        sldi    %r6, %r6, 12            /* (VSID << 28 >> 23) << 7 */
        ori     %r6, %r6, 1
        mr      %r24, %r6
        lis     %r7, REAL@h
        ori     %r7, %r7, 0x12          /* M | PP 2 */
        mr      %r25, %r7
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        mr      %r23, %r4               /* the slot H_ENTER used */

        /* Data relocation on: read the seed, write the second value, then off again. */
        lis     %r21, EA@h
        ori     %r21, %r21, EA@l
        mfmsr   %r26
        ori     %r27, %r26, MSR_DR
        mtmsrd  %r27
        isync
        ld      %r28, 0x10(%r21)
        li      %r9, MAGIC2
        std     %r9, 0x18(%r21)
        mtmsrd  %r26
        isync

        cmpdi   %r28, MAGIC
        bne     fail_read
        ld      %r9, 0x18(%r20)
        cmpdi   %r9, MAGIC2
        bne     fail_write

        /* H_READ(0, slot): the entry as entered (the R doubleword may have R and C set). */
        li      %r3, H_READ
        li      %r4, 0
        mr      %r5, %r23
        sc      1
        cmpdi   %r3, 0
        bne     fail_hread
        cmpd    %r4, %r24
        bne     fail_hread
        mr      %r29, %r4
        mr      %r30, %r5

        PRINT   msg_ok
        mr      %r3, %r23
        bl      puthex
        PRINT   msg_v
        mr      %r3, %r29
        bl      puthex
        PRINT   msg_r
        mr      %r3, %r30
        bl      puthex
        PRINT   msg_nl
        EXIT    0x10

fail_init:
        LA      %r3, msg_init
        b       fail
fail_enter:
        LA      %r3, msg_enter
        b       fail
fail_read:
        LA      %r3, msg_read
        b       fail
fail_write:
        LA      %r3, msg_write
        b       fail
fail_hread:
        LA      %r3, msg_hread
fail:
        bl      putstr
        PRINT   msg_failed
        EXIT    0x11

        DEFINE_COMMON
msg_ok:     .asciz "hpt: ok slot "
msg_v:      .asciz " v "
msg_r:      .asciz " r "
msg_init:   .asciz "hpt: H_SET_MODE"
msg_enter:  .asciz "hpt: H_ENTER"
msg_read:   .asciz "hpt: the translated read"
msg_write:  .asciz "hpt: the translated write"
msg_hread:  .asciz "hpt: H_READ"
msg_failed: .asciz " failed\n"
