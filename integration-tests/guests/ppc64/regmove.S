/*
 * A guest whose state lives in registers of every kind tetra's ppc64 table moves: a GPR
 * counter and pattern, a floating-point sum (FPR), a vector sum (VR), SPRG0-3, CR fields 2-4
 * and the LPCR (little-endian interrupts). It prints "tick 1" .. "tick 10" and after each tick
 * checks every one; a register that did not survive is reported and the guest exits 0x11. At
 * the end: "regmove: ok", exit 0x10. The test moves it to a new vCPU between ticks.
 */
        .include "common.inc"
        .set TICKS, 10
        .set SPIN, 1 << 16
        .set SCRATCH, 0x200000
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        bl      guest_init
        mfmsr   %r9
        ori     %r9, %r9, MSR_FP
        oris    %r9, %r9, (MSR_VEC | MSR_VSX) >> 16
        mtmsrd  %r9
        isync
        li      %r31, 0                         /* tick */
        lis     %r30, 0x1234                    /* pattern */
        ori     %r30, %r30, 0x5678
        sldi    %r30, %r30, 32
        oris    %r30, %r30, 0x9abc
        ori     %r30, %r30, 0xdef0
        lis     %r29, SCRATCH@h
        li      %r9, 1
        std     %r9, 0(%r29)
        lfd     %f2, 0(%r29)
        fcfid   %f2, %f2                        /* f2 = 1.0 */
        fsub    %f1, %f2, %f2                   /* f1 = 0.0 */
        vspltisw %v2, 1
        vspltisw %v1, 0
        li      %r9, 0x5a0
        mtsprg  0, %r9
        li      %r9, 0x5a1
        mtsprg  1, %r9
        li      %r9, 0x5a2
        mtsprg  2, %r9
        li      %r9, 0x5a3
        mtsprg  3, %r9
        lis     %r9, 0x00ab                     /* CR2 = 0xa, CR3 = 0xb, CR4 = 0xc */
        ori     %r9, %r9, 0xc000
        mtcrf   0x38, %r9

tick:   lis     %r9, SPIN@h
        ori     %r9, %r9, SPIN@l
        mtctr   %r9
1:      bdnz    1b
        addi    %r31, %r31, 1
        fadd    %f1, %f1, %f2
        vadduwm %v1, %v1, %v2
        PRINT   msg_tick
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl

        lis     %r9, 0x1234
        ori     %r9, %r9, 0x5678
        sldi    %r9, %r9, 32
        oris    %r9, %r9, 0x9abc
        ori     %r9, %r9, 0xdef0
        cmpd    %r9, %r30
        LA      %r28, n_gpr
        bne     lost
        fctidz  %f3, %f1
        stfd    %f3, 0(%r29)
        ld      %r9, 0(%r29)
        cmpd    %r9, %r31
        LA      %r28, n_fpr
        bne     lost
        stvx    %v1, 0, %r29
        lwz     %r9, 0(%r29)
        cmpw    %r9, %r31
        LA      %r28, n_vr
        bne     lost
        lwz     %r9, 12(%r29)
        cmpw    %r9, %r31
        bne     lost
        LA      %r28, n_sprg
        mfsprg  %r9, 0
        cmpdi   %r9, 0x5a0
        bne     lost
        mfsprg  %r9, 1
        cmpdi   %r9, 0x5a1
        bne     lost
        mfsprg  %r9, 2
        cmpdi   %r9, 0x5a2
        bne     lost
        mfsprg  %r9, 3
        cmpdi   %r9, 0x5a3
        bne     lost
        mfcr    %r9
        rlwinm  %r9, %r9, 0, 8, 19              /* CR2-CR4 */
        lis     %r10, 0x00ab
        ori     %r10, %r10, 0xc000
        cmpw    %r9, %r10
        LA      %r28, n_cr
        bne     lost
        cmpdi   %r31, TICKS
        blt     tick
        PRINT   msg_ok
        EXIT    0x10

lost:   PRINT   msg_lost
        mr      %r3, %r28
        bl      putstr
        PRINT   msg_at
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl
        EXIT    0x11

        DEFINE_COMMON
msg_tick: .asciz "tick "
msg_ok:   .asciz "regmove: ok\n"
msg_lost: .asciz "regmove: lost the "
msg_at:   .asciz " at tick "
n_gpr:    .asciz "GPR pattern"
n_fpr:    .asciz "FPR sum"
n_vr:     .asciz "VR sum"
n_sprg:   .asciz "SPRGs"
n_cr:     .asciz "CR fields"
