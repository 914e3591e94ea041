/*
 * pseries guest "xics": takes external interrupts through the XICS.
 *
 * 1. Finds the interrupt controller in the device tree (no "ibm,interrupt-server-ranges":
 *    prints "xics: none" and exits 0x12), puts its handler at the external-interrupt vector
 *    (0x500), opens its CPPR (H_CPPR 0xff) and enables MSR[EE].
 * 2. Sends itself an IPI (H_IPI server 0, priority 5), takes it: H_XIRR gives source 2, the
 *    handler clears the MFRR (H_IPI 0xff) and EOIs; H_IPOLL then shows nothing pending.
 *    Prints "xics: ipi ok".
 * 3. Routes the console's source (the vty's "interrupts") to itself with ibm,set-xive (5),
 *    checks ibm,int-off / ibm,int-on / ibm,get-xive, prints "xics: ready" and cedes
 *    (H_CEDE) until a console line has come in. The console is read only in the interrupt
 *    handler (H_GET_TERM_CHAR after H_XIRR names the vty's source): no polling.
 *    Prints "xics: got <line>" and "xics: N console interrupts", exits 0x10.
 * Any failure prints "xics: FAIL ..." and exits 0x11 (0x13: an unexpected source).
 */
        .include "common.inc"
        .set H_CEDE, 0xe0
        .set H_EOI, 0x64
        .set H_CPPR, 0x68
        .set H_IPI, 0x6c
        .set H_IPOLL, 0x70
        .set H_XIRR, 0x74
        .set XICS_IPI, 2
        .set MSR_EE, 0x8000
        .set SPRG2, 274
        .set SPRG3, 275
        .set INTSTACK, 0x3e0000         /* the interrupt handler's stack top */
        .set MAX, 62

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
        li      %r9, 0x500              /* the external-interrupt vector: ba ext_entry */
        LA      %r10, ext_entry
        bl      set_vector
        li      %r9, 0x900              /* the decrementer: ba dec_entry */
        LA      %r10, dec_entry
        bl      set_vector
        bl      dec_max

        li      %r3, H_CPPR
        li      %r4, 0xff
        sc      1
        cmpdi   %r3, 0
        bne     fail_cppr
        mfmsr   %r9
        ori     %r9, %r9, MSR_EE
        mtmsrd  %r9, 1

        /* 2. an IPI to itself */
        li      %r3, H_IPI
        li      %r4, 0
        li      %r5, 5
        sc      1
        cmpdi   %r3, 0
        bne     fail_ipi
        LA      %r28, ipi_count
        lis     %r27, 0x100             /* a bounded wait */
1:      lwz     %r9, 0(%r28)
        cmpwi   %r9, 0
        bne     2f
        addic.  %r27, %r27, -1
        bne     1b
        b       fail_no_ipi
2:      li      %r3, H_IPOLL
        li      %r4, 0
        sc      1
        cmpdi   %r3, 0
        bne     fail_ipoll
        clrldi  %r9, %r4, 40            /* XISR: nothing presented */
        cmpdi   %r9, 0
        bne     fail_ipoll
        cmpdi   %r5, 0xff               /* MFRR: no IPI pending */
        bne     fail_ipoll
        PRINT   msg_ipi

        /* 3. the console's interrupt: the vty node's (not the first in the tree, which is
         * /event-sources/epow-events') */
        mr      %r3, %r31
        LA      %r4, name_vty
        LA      %r5, name_interrupts
        bl      fdt_node_u32
        cmpwi   %r3, -1
        beq     fail_no_irq
        LA      %r9, vty_irq
        stw     %r3, 0(%r9)
        mr      %r26, %r3
        mr      %r3, %r31
        LA      %r4, name_set_xive
        bl      rtas_token
        li      %r4, 3
        li      %r5, 1
        mr      %r6, %r26
        li      %r7, 0
        li      %r8, 5
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_rtas
        mr      %r3, %r31
        LA      %r4, name_int_off
        bl      rtas_token
        li      %r4, 1
        li      %r5, 1
        mr      %r6, %r26
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_rtas
        mr      %r3, %r31
        LA      %r4, name_get_xive
        bl      rtas_token
        mr      %r25, %r3
        li      %r4, 1
        li      %r5, 3
        mr      %r6, %r26
        bl      rtas_call
        cmpdi   %r4, 0                  /* masked: priority 0xff */
        bne     fail_rtas
        cmpdi   %r6, 0xff
        bne     fail_rtas
        mr      %r3, %r31
        LA      %r4, name_int_on
        bl      rtas_token
        li      %r4, 1
        li      %r5, 1
        mr      %r6, %r26
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_rtas
        mr      %r3, %r25
        li      %r4, 1
        li      %r5, 3
        mr      %r6, %r26
        bl      rtas_call
        cmpdi   %r4, 0                  /* back on: server 0, priority 5 */
        bne     fail_rtas
        cmpdi   %r5, 0
        bne     fail_rtas
        cmpdi   %r6, 5
        bne     fail_rtas
        /* A bad source is a parameter error (-3). */
        mr      %r3, %r25
        li      %r4, 1
        li      %r5, 3
        li      %r6, 7
        bl      rtas_call
        cmpdi   %r4, -3
        bne     fail_rtas
        PRINT   msg_ready

        LA      %r28, line_done
3:      lwz     %r9, 0(%r28)
        cmpwi   %r9, 0
        bne     4f
        li      %r3, H_CEDE
        sc      1
        b       3b
4:      PRINT   msg_got
        LA      %r3, line
        bl      putstr
        PRINT   msg_nl
        LA      %r9, irq_count
        lwz     %r3, 0(%r9)
        bl      putdec
        PRINT   msg_count
        EXIT    0x10

no_xics:
        PRINT   msg_none
        EXIT    0x12

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

/* The decrementer (it fires once MSR[EE] is on): pushed far away again. */
dec_entry:
        mtspr   SPRG3, %r9
        lis     %r9, 0x7fff
        ori     %r9, %r9, 0xffff
        mtdec   %r9
        mfspr   %r9, SPRG3
        rfid

/* dec_max: DEC = 0x7fffffff (seconds away); clobbers r9. */
dec_max:
        lis     %r9, 0x7fff
        ori     %r9, %r9, 0xffff
        mtdec   %r9
        blr

/*
 * The external interrupt, in real mode with MSR[EE] off: saves every register it may touch
 * (r31 through SPRG2), runs ext_handler on its own stack, restores them, rfid.
 */
ext_entry:
        mtspr   SPRG2, %r31
        LA      %r31, save_area
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
        lis     %r1, INTSTACK@h
        bl      ext_handler
        LA      %r31, save_area
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

/*
 * fdt_node_u32: r3 = device tree, r4 = node-name prefix, r5 = property name -> r3 = the first
 * cell of that property in a node whose name starts with the prefix (the first such node
 * with it; its children are not searched), -1 if none.
 */
fdt_node_u32:
        ENTER   112
        std     %r25, 48(%r1)
        std     %r26, 56(%r1)
        std     %r27, 64(%r1)
        std     %r28, 72(%r1)
        std     %r29, 80(%r1)
        std     %r30, 88(%r1)
        std     %r31, 96(%r1)
        mr      %r31, %r3
        mr      %r26, %r4               /* the node-name prefix */
        mr      %r30, %r5               /* the property name */
        li      %r25, 0                 /* inside a matching node */
        addi    %r9, %r31, 8
        lwbrx   %r9, 0, %r9
        add     %r29, %r31, %r9         /* structure block cursor */
        addi    %r9, %r31, 12
        lwbrx   %r9, 0, %r9
        add     %r28, %r31, %r9         /* strings block */
1:      lwbrx   %r9, 0, %r29
        addi    %r29, %r29, 4
        cmpwi   %r9, 1                  /* FDT_BEGIN_NODE */
        beq     2f
        cmpwi   %r9, 3                  /* FDT_PROP */
        beq     4f
        cmpwi   %r9, 2                  /* FDT_END_NODE */
        bne     5f
        li      %r25, 0
        b       1b
5:      cmpwi   %r9, 4                  /* FDT_NOP */
        beq     1b
        li      %r3, -1                 /* FDT_END or garbage */
        b       9f
2:      mr      %r3, %r29               /* does the name start with the prefix? */
        mr      %r4, %r26
        li      %r25, 0
3:      lbz     %r10, 0(%r4)
        cmpwi   %r10, 0
        beq     31f
        lbz     %r9, 0(%r3)
        cmpw    %r9, %r10
        bne     32f
        addi    %r3, %r3, 1
        addi    %r4, %r4, 1
        b       3b
31:     li      %r25, 1
32:     lbz     %r9, 0(%r29)            /* skip the name */
        addi    %r29, %r29, 1
        cmpwi   %r9, 0
        bne     32b
        addi    %r29, %r29, 3
        rldicr  %r29, %r29, 0, 61
        b       1b
4:      lwbrx   %r27, 0, %r29           /* len */
        addi    %r9, %r29, 4
        lwbrx   %r9, 0, %r9             /* nameoff */
        addi    %r29, %r29, 8           /* value */
        cmpdi   %r25, 0
        beq     6f
        add     %r3, %r28, %r9
        mr      %r4, %r30
        bl      strcmp
        cmpdi   %r3, 0
        bne     6f
        lwbrx   %r3, 0, %r29
        b       9f
6:      add     %r29, %r29, %r27
        addi    %r29, %r29, 3
        rldicr  %r29, %r29, 0, 61
        b       1b
9:      ld      %r25, 48(%r1)
        ld      %r26, 56(%r1)
        ld      %r27, 64(%r1)
        ld      %r28, 72(%r1)
        ld      %r29, 80(%r1)
        ld      %r30, 88(%r1)
        ld      %r31, 96(%r1)
        LEAVE   112

/* H_XIRR, serve the source, H_EOI. */
ext_handler:
        ENTER   64
        li      %r3, H_XIRR
        sc      1
        cmpdi   %r3, 0
        bne     fail_xirr
        mr      %r30, %r4               /* XIRR */
        clrldi  %r29, %r30, 40          /* XISR */
        cmpdi   %r29, 0
        beq     9f                      /* nothing (any more): no EOI */
        cmpdi   %r29, XICS_IPI
        bne     1f
        li      %r3, H_IPI              /* clear this vCPU's MFRR, then EOI */
        li      %r4, 0
        li      %r5, 0xff
        sc      1
        LA      %r9, ipi_count
        lwz     %r10, 0(%r9)
        addi    %r10, %r10, 1
        stw     %r10, 0(%r9)
        b       8f
1:      LA      %r9, vty_irq
        lwz     %r9, 0(%r9)
        cmpw    %r29, %r9
        bne     fail_source
        LA      %r9, irq_count
        lwz     %r10, 0(%r9)
        addi    %r10, %r10, 1
        stw     %r10, 0(%r9)
        bl      drain_console
8:      li      %r3, H_EOI
        mr      %r4, %r30
        sc      1
        cmpdi   %r3, 0
        bne     fail_eoi
9:      LEAVE   64

/* Reads the console until it is empty, appending to line; a newline ends the line. */
drain_console:
        ENTER   64
1:      li      %r3, H_GET_TERM_CHAR
        lis     %r4, VTY@h
        sc      1
        cmpdi   %r3, 0
        bne     fail_get
        cmpdi   %r4, 0
        beq     9f
        mr      %r29, %r4
        LA      %r28, chunk
        stdbrx  %r5, 0, %r28
        addi    %r9, %r28, 8
        stdbrx  %r6, 0, %r9
        LA      %r27, line_len
        lwz     %r26, 0(%r27)
        LA      %r25, line
        li      %r24, 0
2:      cmpd    %r24, %r29
        bge     3f
        lbzx    %r9, %r28, %r24
        addi    %r24, %r24, 1
        cmpwi   %r9, '\n'
        beq     4f
        cmpwi   %r26, MAX
        bge     2b
        stbx    %r9, %r25, %r26
        addi    %r26, %r26, 1
        b       2b
4:      li      %r9, 1
        LA      %r10, line_done
        stw     %r9, 0(%r10)
3:      stw     %r26, 0(%r27)
        b       1b
9:      LEAVE   64

fail_init:   LA %r3, msg_f_init
        b       fail
fail_cppr:   LA %r3, msg_f_cppr
        b       fail
fail_ipi:    LA %r3, msg_f_ipi
        b       fail
fail_no_ipi: LA %r3, msg_f_no_ipi
        b       fail
fail_ipoll:  LA %r3, msg_f_ipoll
        b       fail
fail_no_irq: LA %r3, msg_f_no_irq
        b       fail
fail_rtas:   LA %r3, msg_f_rtas
        b       fail
fail_xirr:   LA %r3, msg_f_xirr
        b       fail
fail_eoi:    LA %r3, msg_f_eoi
        b       fail
fail_get:    LA %r3, msg_f_get
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
name_ranges:     .asciz "ibm,interrupt-server-ranges"
name_interrupts: .asciz "interrupts"
name_vty:        .asciz "vty@"
name_set_xive:   .asciz "ibm,set-xive"
name_get_xive:   .asciz "ibm,get-xive"
name_int_off:    .asciz "ibm,int-off"
name_int_on:     .asciz "ibm,int-on"
msg_none:   .asciz "xics: none\n"
msg_ipi:    .asciz "xics: ipi ok\n"
msg_ready:  .asciz "xics: ready\n"
msg_got:    .asciz "xics: got "
msg_count:  .asciz " console interrupts\n"
msg_fail:   .asciz "xics: FAIL "
msg_source: .asciz "xics: unexpected source 0x"
msg_f_init:   .asciz "H_SET_MODE"
msg_f_cppr:   .asciz "H_CPPR"
msg_f_ipi:    .asciz "H_IPI"
msg_f_no_ipi: .asciz "no IPI taken"
msg_f_ipoll:  .asciz "H_IPOLL"
msg_f_no_irq: .asciz "no interrupts property"
msg_f_rtas:   .asciz "RTAS xive calls"
msg_f_xirr:   .asciz "H_XIRR"
msg_f_eoi:    .asciz "H_EOI"
msg_f_get:    .asciz "H_GET_TERM_CHAR"
        .balign 8
ipi_count:  .long 0
irq_count:  .long 0
vty_irq:    .long 0
line_done:  .long 0
line_len:   .long 0
        .balign 16
chunk:      .space 16
line:       .space 64
        .balign 8
save_area:  .space 38 * 8
