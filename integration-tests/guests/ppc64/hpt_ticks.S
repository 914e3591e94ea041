/*
 * The hash-MMU guest of the snapshot and migration tests (a KVM-PR host, as hpt.S). It maps
 * two 4K pages through its own SLB entry and H_ENTER, in two PTE groups, prints "hpt: mapped",
 * then ticks: every 20 ms of the timebase, until the host writes a non-zero doubleword at
 * real 0x720000 (the stop word; a timed end could come in the middle of a migration), it
 * turns data relocation on,
 * increments a counter through the first mapping and stores the tick through the second,
 * turns relocation off, and checks in real mode that both accesses reached their real pages
 * ("tick N"). A VM restored or migrated without its hash table takes a data storage interrupt
 * ("exception 0x300", exit 0x7f) at the first tick after it; a wrong entry fails the check.
 *
 *   segment: ESID 1 (EA 0x10000000..0x1fffffff), 256 MB, VSID 0x123, Ks = Kp = 0
 *   page 1:  EA 0x10005000 -> real 0x700000, PTEG 0x123 ^ 0x5 = 0x126 (slot 0x930)
 *   page 2:  EA 0x1000a000 -> real 0x710000, PTEG 0x123 ^ 0xa = 0x129 (slot 0x948)
 *
 * Exits 0x10 at the stop word, 0x12 without one after 30000 ticks (10 min); "hpt: <step>
 * failed" and 0x11 otherwise.
 */
        .include "common.inc"
        .set H_ENTER, 0x08
        .set MSR_DR, 1 << 4
        .set VSID, 0x123
        .set EA1, 0x10005000
        .set EA2, 0x1000a000
        .set REAL1, 0x700000
        .set REAL2, 0x710000
        .set PTEX1, 0x126 * 8
        .set PTEX2, 0x129 * 8
        .set STOP, 0x720000
        .set TICKS, 30000               /* 10 min */
        .set DELAY, 10240000            /* 20 ms of a 512 MHz timebase */
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail_init

        /* The real pages: the counter (0) and the tick (0). */
        lis     %r20, REAL1@h
        lis     %r24, REAL2@h
        lis     %r25, STOP@h
        li      %r9, 0
        std     %r9, 0x10(%r20)
        std     %r9, 0x20(%r24)
        std     %r9, 0(%r25)

        /* SLB entry 0: rb = ESID << 28 | V | index 0, rs = VSID << 12. */
        lis     %r9, 0x1000
        oris    %r9, %r9, 0x0800        /* SLB_ESID_V */
        li      %r10, VSID
        sldi    %r10, %r10, 12
        slbmte  %r10, %r9
        isync

        /* H_ENTER(0, PTEX, V, R), V = (VSID << 28 >> 23) << 7 | valid, R = real | M | PP 2. */
        li      %r3, H_ENTER
        li      %r4, 0
        li      %r5, PTEX1
        li      %r6, VSID
        sldi    %r6, %r6, 12
        ori     %r6, %r6, 1
        lis     %r7, REAL1@h
        ori     %r7, %r7, 0x12
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        li      %r3, H_ENTER
        li      %r4, 0
        li      %r5, PTEX2
        li      %r6, VSID
        sldi    %r6, %r6, 12
        ori     %r6, %r6, 1
        lis     %r7, REAL2@h
        ori     %r7, %r7, 0x12
        sc      1
        cmpdi   %r3, 0
        bne     fail_enter
        PRINT   msg_mapped

        lis     %r21, EA1@h
        ori     %r21, %r21, EA1@l
        lis     %r22, EA2@h
        ori     %r22, %r22, EA2@l
        mfmsr   %r26
        ori     %r27, %r26, MSR_DR
        lis     %r28, DELAY@h
        ori     %r28, %r28, DELAY@l
        li      %r31, 0
1:      mftb    %r29
2:      mftb    %r9
        subf    %r9, %r29, %r9
        cmpld   %r9, %r28
        blt     2b
        ld      %r9, 0(%r25)
        cmpdi   %r9, 0
        bne     stop
        addi    %r31, %r31, 1
        /* Translated: counter += 1 through page 1, the tick through page 2. */
        mtmsrd  %r27
        isync
        ld      %r9, 0x10(%r21)
        addi    %r9, %r9, 1
        std     %r9, 0x10(%r21)
        std     %r31, 0x20(%r22)
        mtmsrd  %r26
        isync
        /* Real: both reached their pages. */
        ld      %r9, 0x10(%r20)
        cmpd    %r9, %r31
        bne     fail_tick
        ld      %r9, 0x20(%r24)
        cmpd    %r9, %r31
        bne     fail_tick
        PRINT   msg_tick
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl
        cmpdi   %r31, TICKS
        blt     1b
        EXIT    0x12
stop:
        EXIT    0x10

fail_init:
        LA      %r3, msg_init
        b       fail
fail_enter:
        LA      %r3, msg_enter
        b       fail
fail_tick:
        LA      %r3, msg_bad
fail:
        bl      putstr
        PRINT   msg_failed
        EXIT    0x11

        DEFINE_COMMON
msg_mapped: .asciz "hpt: mapped\n"
msg_tick:   .asciz "tick "
msg_init:   .asciz "hpt: H_SET_MODE"
msg_enter:  .asciz "hpt: H_ENTER"
msg_bad:    .asciz "hpt: a translated access"
msg_failed: .asciz " failed\n"
