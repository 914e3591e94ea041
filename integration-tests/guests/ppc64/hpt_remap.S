/*
 * The hash-MMU guest whose table changes all the time (a KVM-PR host, as hpt_ticks.S): the
 * migration test's check that entries changed during pre-copy arrive. It maps one 4K page
 * through its own SLB entry, then remaps it without pause: each iteration removes the entry
 * (H_REMOVE) and enters a new one in the other slot of the same PTE group (H_ENTER with
 * H_EXACT), to the other of two real pages, so that every pass over the table finds two entries
 * changed. Through the mapping (data relocation on) it reads the page's marker and stores the
 * iteration's number; in real mode it checks that the marker is the page just mapped and that
 * the store reached it. Every 256 iterations it prints "remap N". A VM whose table at the
 * destination is stale (an entry missing, or both slots valid) faults ("exception 0x300",
 * exit 0x7f) or fails the check ("hpt: iteration N read marker M failed", or "... stored, its
 * page holds M failed").
 *
 *   segment: ESID 1 (EA 0x10000000..0x1fffffff), 256 MB, VSID 0x123, Ks = Kp = 0
 *   page:    EA 0x10005000 -> real 0x700000 (odd iterations: 0x710000), PTEG 0x126,
 *            slot 0 (even) or 1 (odd)
 *
 * Exits 0x10 when the host writes a non-zero doubleword at real 0x720000 (the stop word),
 * "hpt: <step> failed" and 0x11 otherwise.
 */
        .include "common.inc"
        .set H_REMOVE, 0x04
        .set H_ENTER, 0x08
        .set MSR_DR, 1 << 4
        .set VSID, 0x123
        .set EA1, 0x10005000
        .set REAL_A, 0x700000
        .set REAL_B, 0x710000
        .set PTEX, 0x126 * 8
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

        /* SLB entry 0: rb = ESID << 28 | V | index 0 (r18), rs = VSID << 12 (r19). */
        lis     %r18, 0x1000
        oris    %r18, %r18, 0x0800      /* SLB_ESID_V */
        li      %r19, VSID
        sldi    %r19, %r19, 12
        slbmte  %r19, %r18
        isync

        /* H_EXACT in r30, V (VSID << 28 >> 23 << 7 | valid) in r23. */
        li      %r30, 1
        sldi    %r30, %r30, 39          /* H_EXACT: PAPR flag bit 24 */
        li      %r23, VSID
        sldi    %r23, %r23, 12
        ori     %r23, %r23, 1

        /* Iteration 0: slot 0 -> page A. */
        li      %r3, H_ENTER
        mr      %r4, %r30
        li      %r5, PTEX
        mr      %r6, %r23
        lis     %r7, REAL_A@h
        ori     %r7, %r7, 0x12          /* M, PP 2 */
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        PRINT   msg_mapped

        lis     %r21, EA1@h
        ori     %r21, %r21, EA1@l
        mfmsr   %r26
        ori     %r27, %r26, MSR_DR
        li      %r31, 0
loop:
        ld      %r9, 0(%r25)
        cmpdi   %r9, 0
        bne     stop
        addi    %r31, %r31, 1
        andi.   %r28, %r31, 1           /* the new slot; the old one is the other */
        /* H_REMOVE(0, PTEX + old slot, 0) */
        li      %r3, H_REMOVE
        li      %r4, 0
        xori    %r5, %r28, 1
        addi    %r5, %r5, PTEX
        li      %r6, 0
        sc      1
        cmpdi   %r3, 0
        bne     fail_remove
        /* H_ENTER(H_EXACT, PTEX + new slot, V, page A or B) */
        cmpdi   %r28, 0
        mr      %r29, %r20
        li      %r22, 0xa
        beq     1f
        mr      %r29, %r24
        li      %r22, 0xb
1:      li      %r3, H_ENTER
        mr      %r4, %r30
        addi    %r5, %r28, PTEX
        mr      %r6, %r23
        ori     %r7, %r29, 0x12
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        /*
         * KVM-PR keeps its shadow translation of the removed 4K entry (H_REMOVE's tlbie does
         * not reach it: the next access went to the old page, docs/ppc64.md): the segment is
         * dropped and entered again, which flushes every shadow translation in it.
         */
        lis     %r9, 0x1000
        slbie   %r9
        slbmte  %r19, %r18
        isync
        /* Translated: read the marker, store the number. */
        mtmsrd  %r27
        isync
        ld      %r9, 8(%r21)
        std     %r31, 0x10(%r21)
        mtmsrd  %r26
        isync
        /* Real: the page just mapped answered, and took the store. */
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
        LA      %r3, msg_enter
        b       fail
fail_remove:
        LA      %r3, msg_remove
        b       fail
fail_marker:
        /* "hpt: iteration N read marker M failed" */
        mr      %r28, %r9
        PRINT   msg_iter
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_marker
        mr      %r3, %r28
        bl      putdec
        LA      %r3, msg_empty
        b       fail
fail_store:
        mr      %r28, %r9
        PRINT   msg_iter
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_store
        mr      %r3, %r28
        bl      putdec
        LA      %r3, msg_empty
fail:
        bl      putstr
        PRINT   msg_failed
        EXIT    0x11

        DEFINE_COMMON
msg_mapped: .asciz "hpt: mapped\n"
msg_remap:  .asciz "remap "
msg_init:   .asciz "hpt: H_SET_MODE"
msg_enter:  .asciz "hpt: H_ENTER"
msg_remove: .asciz "hpt: H_REMOVE"
msg_iter:   .asciz "hpt: iteration "
msg_marker: .asciz " read marker "
msg_store:  .asciz " stored, its page holds "
msg_empty:  .asciz ""
msg_failed: .asciz " failed\n"
