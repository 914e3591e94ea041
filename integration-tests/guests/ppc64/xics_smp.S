/*
 * pseries guest "xics_smp": IPIs between vCPUs through the XICS.
 *
 * The boot vCPU finds n (RTAS query-cpu-stopped-state on 1, 2, ... until -3) and starts every
 * secondary (start-cpu). Each vCPU k sets up its own interrupt state (SPRG0 = its save area,
 * holding its server number k and its interrupt stack), opens its CPPR (H_CPPR 0xff), enables
 * MSR[EE] and counts itself ready. The boot vCPU then sends an IPI to every secondary
 * (H_IPI k, priority 5); each takes it at 0x500 (H_XIRR gives source 2, it clears its MFRR
 * with H_IPI k 0xff, H_EOI), marks it received, and sends one back to vCPU 0. The boot vCPU
 * waits for every mark and at least one IPI of its own, prints "cpu K got an IPI" for each
 * secondary, "cpu 0 got IPIs back" and "xics-smp: n of n vCPUs got IPIs", exits 0x40 + n.
 * Without an interrupt controller: "xics-smp: none", exit 0x12. Failures exit 0x11 or 0x13.
 */
        .include "common.inc"
        .set H_CEDE, 0xe0
        .set H_EOI, 0x64
        .set H_CPPR, 0x68
        .set H_IPI, 0x6c
        .set H_XIRR, 0x74
        .set XICS_IPI, 2
        .set MSR_EE, 0x8000
        .set SPRG0, 272
        .set SPRG2, 274
        .set SPRG3, 275
        .set INTSTACK, 0x3e0000         /* vCPU k's interrupt stack: INTSTACK - k * 0x4000 */
        .set SAVE_CPU, 38 * 8           /* offsets in a save area: the server number, */
        .set SAVE_STACK, 39 * 8         /* the interrupt stack */
        .set MAXCPUS, 8

        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        mr      %r31, %r3               /* device tree */
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail_init
        mr      %r3, %r31
        LA      %r4, name_ranges
        bl      fdt_prop
        cmpdi   %r3, 0
        beq     no_xics
        li      %r9, 0x500
        LA      %r10, ext_entry
        bl      set_vector
        li      %r9, 0x900
        LA      %r10, dec_entry
        bl      set_vector
        li      %r3, 0
        bl      cpu_setup
        mr      %r3, %r31
        LA      %r4, name_start
        bl      rtas_token
        mr      %r30, %r3               /* start-cpu */
        mr      %r3, %r31
        LA      %r4, name_query
        bl      rtas_token
        mr      %r29, %r3               /* query-cpu-stopped-state */

        li      %r28, 1                 /* next vCPU */
1:      cmpdi   %r28, MAXCPUS
        bge     fail_init
        mr      %r3, %r29
        li      %r4, 1
        li      %r5, 2
        mr      %r6, %r28
        bl      rtas_call
        cmpdi   %r4, -3                 /* no such vCPU: all found */
        beq     2f
        cmpdi   %r4, 0
        bne     fail_start
        mr      %r3, %r30
        li      %r4, 3
        li      %r5, 1
        mr      %r6, %r28
        LA      %r7, secondary
        mr      %r8, %r28
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_start
        addi    %r28, %r28, 1
        b       1b
2:      addi    %r27, %r28, -1          /* r28 = n, r27 = secondaries */
        LA      %r9, ready_count
3:      lwz     %r10, 0(%r9)
        cmpw    %r10, %r27
        blt     3b
        li      %r26, 1                 /* an IPI to each secondary */
4:      cmpd    %r26, %r28
        bge     5f
        li      %r3, H_IPI
        mr      %r4, %r26
        li      %r5, 5
        sc      1
        cmpdi   %r3, 0
        bne     fail_ipi
        addi    %r26, %r26, 1
        b       4b
5:      li      %r26, 1                 /* wait for every secondary's mark */
        LA      %r25, got
6:      cmpd    %r26, %r28
        bge     8f
7:      sldi    %r9, %r26, 2
        lwzx    %r10, %r25, %r9
        cmpwi   %r10, 0
        beq     7b
        addi    %r26, %r26, 1
        b       6b
8:      lwz     %r10, 0(%r25)           /* and for an IPI back */
        cmpwi   %r10, 0
        beq     8b
        li      %r26, 1
9:      cmpd    %r26, %r28
        bge     10f
        PRINT   msg_cpu
        mr      %r3, %r26
        bl      putdec
        PRINT   msg_got
        addi    %r26, %r26, 1
        b       9b
10:     PRINT   msg_back
        PRINT   msg_smp
        mr      %r3, %r28
        bl      putdec
        PRINT   msg_of
        mr      %r3, %r28
        bl      putdec
        PRINT   msg_all
        addi    %r3, %r28, 0x40
        b       debug_exit

no_xics:
        PRINT   msg_none
        EXIT    0x12

/* A secondary: big-endian until FIXUP_ENDIAN; r3 = its number. */
secondary:
        FIXUP_ENDIAN
        mr      %r31, %r3
        lis     %r1, STACK@h
        sldi    %r9, %r31, 14
        subf    %r1, %r9, %r1
        mr      %r3, %r31
        bl      cpu_setup
        LA      %r9, ready_count
1:      lwarx   %r10, 0, %r9
        addi    %r10, %r10, 1
        stwcx.  %r10, 0, %r9
        bne-    1b
        LA      %r28, got
        sldi    %r27, %r31, 2
2:      lwzx    %r9, %r28, %r27         /* cede until the IPI came */
        cmpwi   %r9, 0
        bne     3f
        li      %r3, H_CEDE
        sc      1
        b       2b
3:      li      %r3, H_IPI              /* one back to vCPU 0 */
        li      %r4, 0
        li      %r5, 5
        sc      1
        cmpdi   %r3, 0
        bne     fail_ipi
4:      li      %r3, H_CEDE
        sc      1
        b       4b

/* cpu_setup: r3 = this vCPU's number: its save area in SPRG0, DEC far away, CPPR open, EE on. */
cpu_setup:
        ENTER   48
        LA      %r9, save_areas
        mulli   %r10, %r3, 0x200
        add     %r9, %r9, %r10
        std     %r3, SAVE_CPU(%r9)
        lis     %r10, INTSTACK@h
        sldi    %r11, %r3, 14
        subf    %r10, %r11, %r10
        std     %r10, SAVE_STACK(%r9)
        mtspr   SPRG0, %r9
        bl      dec_max
        li      %r3, H_CPPR
        li      %r4, 0xff
        sc      1
        cmpdi   %r3, 0
        bne     fail_cppr
        mfmsr   %r9
        ori     %r9, %r9, MSR_EE
        mtmsrd  %r9, 1
        LEAVE   48

/* set_vector: r9 = vector, r10 = handler: writes "ba handler" there. */
set_vector:
        oris    %r10, %r10, 0x4800
        ori     %r10, %r10, 2
        stw     %r10, 0(%r9)
        dcbst   0, %r9
        sync
        icbi    0, %r9
        isync
        blr

dec_entry:
        mtspr   SPRG3, %r9
        lis     %r9, 0x7fff
        ori     %r9, %r9, 0xffff
        mtdec   %r9
        mfspr   %r9, SPRG3
        rfid

dec_max:
        lis     %r9, 0x7fff
        ori     %r9, %r9, 0xffff
        mtdec   %r9
        blr

/* The external interrupt: this vCPU's save area from SPRG0, its own interrupt stack. */
ext_entry:
        mtspr   SPRG2, %r31
        mfspr   %r31, SPRG0
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
        std     %r\n, (\n * 8)(%r31)
        .endr
        mfspr   %r0, SPRG2
        std     %r0, (31 * 8)(%r31)
        mflr    %r0
        std     %r0, (32 * 8)(%r31)
        mfctr   %r0
        std     %r0, (33 * 8)(%r31)
        mfcr    %r0
        std     %r0, (34 * 8)(%r31)
        mfxer   %r0
        std     %r0, (35 * 8)(%r31)
        mfsrr0  %r0
        std     %r0, (36 * 8)(%r31)
        mfsrr1  %r0
        std     %r0, (37 * 8)(%r31)
        ld      %r1, SAVE_STACK(%r31)
        bl      ext_handler
        mfspr   %r31, SPRG0
        ld      %r0, (36 * 8)(%r31)
        mtsrr0  %r0
        ld      %r0, (37 * 8)(%r31)
        mtsrr1  %r0
        ld      %r0, (35 * 8)(%r31)
        mtxer   %r0
        ld      %r0, (34 * 8)(%r31)
        mtcrf   0xff, %r0
        ld      %r0, (33 * 8)(%r31)
        mtctr   %r0
        ld      %r0, (32 * 8)(%r31)
        mtlr    %r0
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
        ld      %r\n, (\n * 8)(%r31)
        .endr
        ld      %r31, (31 * 8)(%r31)
        rfid

/* H_XIRR; an IPI: clear this vCPU's MFRR, count it in got[k], H_EOI. */
ext_handler:
        ENTER   64
        li      %r3, H_XIRR
        sc      1
        cmpdi   %r3, 0
        bne     fail_xirr
        mr      %r30, %r4
        clrldi  %r29, %r30, 40
        cmpdi   %r29, 0
        beq     9f
        cmpdi   %r29, XICS_IPI
        bne     fail_source
        mfspr   %r9, SPRG0
        ld      %r28, SAVE_CPU(%r9)
        li      %r3, H_IPI
        mr      %r4, %r28
        li      %r5, 0xff
        sc      1
        LA      %r9, got
        sldi    %r10, %r28, 2
        lwzx    %r11, %r9, %r10
        addi    %r11, %r11, 1
        stwx    %r11, %r9, %r10
        sync
        li      %r3, H_EOI
        mr      %r4, %r30
        sc      1
        cmpdi   %r3, 0
        bne     fail_eoi
9:      LEAVE   64

fail_init:   LA %r3, msg_f_init
        b       fail
fail_start:  LA %r3, msg_f_start
        b       fail
fail_cppr:   LA %r3, msg_f_cppr
        b       fail
fail_ipi:    LA %r3, msg_f_ipi
        b       fail
fail_xirr:   LA %r3, msg_f_xirr
        b       fail
fail_eoi:    LA %r3, msg_f_eoi
        b       fail
fail:   mr      %r31, %r3
        PRINT   msg_fail
        mr      %r3, %r31
        bl      putstr
        PRINT   msg_nl
        EXIT    0x11
fail_source:
        PRINT   msg_source
        mr      %r3, %r29
        bl      puthex
        PRINT   msg_nl
        EXIT    0x13

        DEFINE_COMMON
name_ranges: .asciz "ibm,interrupt-server-ranges"
name_start:  .asciz "start-cpu"
name_query:  .asciz "query-cpu-stopped-state"
msg_none:    .asciz "xics-smp: none\n"
msg_cpu:     .asciz "cpu "
msg_got:     .asciz " got an IPI\n"
msg_back:    .asciz "cpu 0 got IPIs back\n"
msg_smp:     .asciz "xics-smp: "
msg_of:      .asciz " of "
msg_all:     .asciz " vCPUs got IPIs\n"
msg_fail:    .asciz "xics-smp: FAIL "
msg_source:  .asciz "xics-smp: unexpected source 0x"
msg_f_init:  .asciz "set-up"
msg_f_start: .asciz "start-cpu"
msg_f_cppr:  .asciz "H_CPPR"
msg_f_ipi:   .asciz "H_IPI"
msg_f_xirr:  .asciz "H_XIRR"
msg_f_eoi:   .asciz "H_EOI"
        .balign 8
ready_count: .long 0
got:         .space 4 * MAXCPUS
        .balign 0x200
save_areas:  .space 0x200 * MAXCPUS
