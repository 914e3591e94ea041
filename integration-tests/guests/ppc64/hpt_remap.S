/*
 * The hash-MMU guest whose table changes all the time (a KVM-PR host, as hpt_ticks.S): the
 * migration test's check that entries changed during pre-copy arrive. Through its own SLB
 * entry it keeps one page mapped, and remaps without pause: each iteration removes the last
 * entry (H_REMOVE) and enters a new one (H_ENTER with H_EXACT) in another slot, by turns
 * EA 0x10005000 -> real 0x700000 (PTE group 0x126) and EA 0x1000a000 -> real 0x710000 (group
 * 0x129), slot 0 or 1 in turn, so that every pass over the table finds two entries changed.
 * It then reads both entries back (H_READ, which tetra serves from the table it holds): the new
 * one as entered, the old one no longer valid; through the new mapping (data relocation on) it
 * reads the page's marker and stores the iteration's number, and in real mode checks that the
 * marker is the page's and that the store reached it. Every 256 iterations it prints
 * "remap N". A VM whose table at the destination is stale fails a check ("hpt: iteration N
 * <what> failed") or faults ("exception 0x300", exit 0x7f).
 *
 * Each EA always maps the same page: KVM-PR on the ppc64-pr lane's host kept its shadow
 * translation of a removed 4K entry (a later entry for the same EA, to another page, was not
 * seen; docs/ppc64.md), which a test of the table must not depend on.
 *
 * Exits 0x10 when the host writes a non-zero doubleword at real 0x720000 (the stop word),
 * 0x11 after a failed check.
 */
        .include "common.inc"
        .set H_REMOVE, 0x04
        .set H_ENTER, 0x08
        .set H_READ, 0x0c
        .set MSR_DR, 1 << 4
        .set VSID, 0x123
        .set EA1, 0x10005000
        .set EA2, 0x1000a000
        .set REAL_A, 0x700000
        .set REAL_B, 0x710000
        .set PTEX1, 0x126 * 8
        .set PTEX2, 0x129 * 8
        .set STOP, 0x720000
        .set EVERY, 255                 /* print when (n & EVERY) == 0 */
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail_init

        /* The real pages: their markers 0xa and 0xb, the stored numbers 0, the stop word 0. */
        lis     %r20, REAL_A@h
        lis     %r24, REAL_B@h
        lis     %r25, STOP@h
        li      %r9, 0xa
        std     %r9, 8(%r20)
        li      %r9, 0xb
        std     %r9, 8(%r24)
        li      %r9, 0
        std     %r9, 0x10(%r20)
        std     %r9, 0x10(%r24)
        std     %r9, 0(%r25)

        /* SLB entry 0: rb = ESID << 28 | V | index 0, rs = VSID << 12. */
        lis     %r9, 0x1000
        oris    %r9, %r9, 0x0800        /* SLB_ESID_V */
        li      %r10, VSID
        sldi    %r10, %r10, 12
        slbmte  %r10, %r9
        isync

        /* H_EXACT in r30, V (VSID << 28 >> 23 << 7 | valid: both pages') in r23. */
        li      %r30, 1
        sldi    %r30, %r30, 39          /* H_EXACT: PAPR flag bit 24 */
        li      %r23, VSID
        sldi    %r23, %r23, 12
        ori     %r23, %r23, 1

        /* Iteration 0: EA1 -> page A in group 0x126, slot 0; its index stays in r17. */
        li      %r17, PTEX1
        li      %r3, H_ENTER
        mr      %r4, %r30
        mr      %r5, %r17
        mr      %r6, %r23
        ori     %r7, %r20, 0x12         /* M, PP 2 */
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        PRINT   msg_mapped

        mfmsr   %r26
        ori     %r27, %r26, MSR_DR
        li      %r31, 0
loop:
        ld      %r9, 0(%r25)
        cmpdi   %r9, 0
        bne     stop
        addi    %r31, %r31, 1
        /* The new entry: odd n EA2 -> B in group 0x129, even n EA1 -> A in 0x126; slot (n >> 1) & 1. */
        rldicl  %r16, %r31, 63, 63      /* slot */
        andi.   %r9, %r31, 1
        beq     1f
        addi    %r16, %r16, PTEX2
        mr      %r29, %r24
        lis     %r21, EA2@h
        ori     %r21, %r21, EA2@l
        li      %r22, 0xb
        b       2f
1:      addi    %r16, %r16, PTEX1
        mr      %r29, %r20
        lis     %r21, EA1@h
        ori     %r21, %r21, EA1@l
        li      %r22, 0xa
2:
        /* H_REMOVE(0, the last entry, 0) */
        li      %r3, H_REMOVE
        li      %r4, 0
        mr      %r5, %r17
        li      %r6, 0
        sc      1
        cmpdi   %r3, 0
        bne     fail_remove
        /* H_ENTER(H_EXACT, the new one, V, the page | M | PP 2) */
        li      %r3, H_ENTER
        mr      %r4, %r30
        mr      %r5, %r16
        mr      %r6, %r23
        ori     %r7, %r29, 0x12
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        /* H_READ(0, the new one): V as entered, the page in R. */
        li      %r3, H_READ
        li      %r4, 0
        mr      %r5, %r16
        sc      1
        cmpdi   %r3, 0
        bne     fail_read
        cmpd    %r4, %r23
        bne     fail_read
        rldicr  %r5, %r5, 0, 51         /* R's real page number */
        cmpd    %r5, %r29
        bne     fail_read
        /* H_READ(0, the old one): no longer valid. */
        li      %r3, H_READ
        li      %r4, 0
        mr      %r5, %r17
        sc      1
        cmpdi   %r3, 0
        bne     fail_read
        andi.   %r4, %r4, 1
        bne     fail_old
        mr      %r17, %r16
        /* Translated: read the marker, store the number. */
        mtmsrd  %r27
        isync
        ld      %r9, 8(%r21)
        std     %r31, 0x10(%r21)
        mtmsrd  %r26
        isync
        /* Real: the page mapped answered, and took the store. */
        cmpd    %r9, %r22
        bne     fail_marker
        ld      %r9, 0x10(%r29)
        cmpd    %r9, %r31
        bne     fail_store
        andi.   %r9, %r31, EVERY
        bne     loop
        PRINT   msg_remap
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl
        b       loop
stop:
        EXIT    0x10

fail_init:
        LA      %r3, msg_init
        b       fail
fail_enter:
        LA      %r28, msg_enter
        b       fail_at
fail_remove:
        LA      %r28, msg_remove
        b       fail_at
fail_read:
        LA      %r28, msg_read
        b       fail_at
fail_old:
        LA      %r28, msg_old
        b       fail_at
fail_marker:
        LA      %r28, msg_marker
        b       fail_at
fail_store:
        LA      %r28, msg_store
fail_at:
        /* "hpt: iteration N <what> failed" */
        PRINT   msg_iter
        mr      %r3, %r31
        bl      putdec
        mr      %r3, %r28
fail:
        bl      putstr
        PRINT   msg_failed
        EXIT    0x11

        DEFINE_COMMON
msg_mapped: .asciz "hpt: mapped\n"
msg_remap:  .asciz "remap "
msg_init:   .asciz "hpt: H_SET_MODE"
msg_iter:   .asciz "hpt: iteration "
msg_enter:  .asciz " H_ENTER"
msg_remove: .asciz " H_REMOVE"
msg_read:   .asciz " H_READ of the new entry"
msg_old:    .asciz " H_READ of the removed entry"
msg_marker: .asciz " translated read"
msg_store:  .asciz " translated store"
msg_failed: .asciz " failed\n"
