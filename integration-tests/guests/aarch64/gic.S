/*
 * The interrupt controller, seen from the guest: reads the GICv3 distributor's PIDR2 (architecture
 * revision 3) and TYPER, counts the redistributors (GICR_TYPER.Last), probes the ITS (its PIDR2;
 * a missing ITS reads as all ones from tetra's MMIO bus), then takes a real interrupt: the UART's
 * transmitter-empty interrupt, SPI 1 (interrupt id 33, edge-rising as the device tree says),
 * raised by tetra through an irqfd, delivered by the in-kernel vGIC to the CPU interface
 * (ICC_* system registers) and an IRQ vector. Prints
 *   gic: GICv3 distributor, N interrupt ids
 *   gic: N redistributors
 *   its: present | its: absent
 *   irq: uart interrupt 33 received
 * and exits 0x10; exits 0x11 without a GICv3 distributor, 0x12 when no interrupt arrives within
 * 2 s, 0x13 on an unexpected exception.
 */
        .include "common.inc"
        .set UART_SPI_INTID, 33
        .section .text.start, "ax"
        .globl  _start
_start:
        adr     x0, stack_top
        mov     sp, x0
        adr     x0, vectors
        msr     vbar_el1, x0
        isb

        /* Distributor: PIDR2.ArchRev (bits 7:4) is 3 for GICv3. */
        mov     x19, #GICD
        add     x9, x19, #0xf000
        ldr     w0, [x9, #0xfe8]
        ubfx    w0, w0, #4, #4
        cmp     w0, #3
        b.ne    no_gicv3
        PUTS    msg_gicd
        ldr     w0, [x19, #4]           /* GICD_TYPER.ITLinesNumber: 32 * (N + 1) ids */
        and     w0, w0, #0x1f
        add     w0, w0, #1
        lsl     w0, w0, #5
        bl      putdec
        PUTS    msg_ids

        /* Redistributors: 128 KiB apart; GICR_TYPER (64-bit at +8) bit 4 marks the last one. */
        mov     x20, #GICR
        mov     x21, #0
1:      ldr     x0, [x20, #8]
        add     x21, x21, #1
        tbnz    x0, #4, 2f
        add     x20, x20, #GICR_STRIDE
        cmp     x21, #512
        b.lo    1b
2:      PUTS    msg_gicr
        mov     x0, x21
        bl      putdec
        PUTS    msg_redists

        /* ITS: PIDR2.ArchRev 3, and GITS_TYPER.Physical (bit 0) for LPIs. */
        mov     x22, #GITS
        add     x9, x22, #0xf000
        ldr     w0, [x9, #0xfe8]
        ubfx    w0, w0, #4, #4
        cmp     w0, #3
        b.ne    3f
        ldr     x0, [x22, #8]
        tbz     x0, #0, 3f
        PUTS    msg_its_present
        b       4f
3:      PUTS    msg_its_absent
4:
        /* The CPU interface: system-register access, all priorities, group 1 on. */
        mrs     x0, icc_sre_el1
        orr     x0, x0, #1
        msr     icc_sre_el1, x0
        isb
        mov     x0, #0xff
        msr     icc_pmr_el1, x0
        mov     x0, #1
        msr     icc_igrpen1_el1, x0
        isb

        /* This CPU's redistributor awake (KVM's reads as awake already). */
        mov     x20, #GICR
        ldr     w0, [x20, #0x14]
        bic     w0, w0, #2
        str     w0, [x20, #0x14]
5:      ldr     w0, [x20, #0x14]
        tbnz    w0, #2, 5b

        /* Distributor on (group 1, affinity routing), then SPI 1: group 1, edge, a priority,
         * routed to this CPU, enabled. */
        ldr     w0, [x19]
        mov     w1, #0x12
        orr     w0, w0, w1
        str     w0, [x19]
        ldr     w0, [x19, #0x84]        /* GICD_IGROUPR1: ids 32-63 */
        orr     w0, w0, #(1 << (UART_SPI_INTID - 32))
        str     w0, [x19, #0x84]
        ldr     w0, [x19, #0xc08]       /* GICD_ICFGR2: ids 32-47, 2 bits each; 0b10 = edge */
        orr     w0, w0, #(2 << ((UART_SPI_INTID - 32) * 2))
        str     w0, [x19, #0xc08]
        mov     w0, #0xa0
        strb    w0, [x19, #(0x400 + UART_SPI_INTID)]    /* GICD_IPRIORITYR */
        mrs     x0, mpidr_el1
        and     x0, x0, #0xffffff
        add     x9, x19, #0x6000
        str     x0, [x9, #(UART_SPI_INTID * 8)]         /* GICD_IROUTER */
        mov     w0, #(1 << (UART_SPI_INTID - 32))
        str     w0, [x19, #0x104]       /* GICD_ISENABLER1 */
        dsb     sy

        /* Unmask IRQs, then enable the UART's THR-empty interrupt: it fires at once. */
        adr     x24, irq_count
        str     wzr, [x24]
        msr     daifclr, #2
        mov     x0, #UART
        mov     w1, #2
        strb    w1, [x0, #UART_IER]
        mrs     x23, cntfrq_el0
        lsl     x23, x23, #1
        mrs     x9, cntvct_el0
        add     x23, x23, x9            /* deadline: 2 s */
6:      ldr     w0, [x24]
        cbnz    w0, 7f
        mrs     x9, cntvct_el0
        cmp     x9, x23
        b.lo    6b
        msr     daifset, #2
        PUTS    msg_no_irq
        EXIT    0x12
7:      msr     daifset, #2
        PUTS    msg_irq
        adr     x0, irq_intid
        ldr     w0, [x0]
        bl      putdec
        PUTS    msg_received
        EXIT    0x10

no_gicv3:
        PUTS    msg_no_gicv3
        EXIT    0x11

irq:
        stp     x0, x1, [sp, #-32]!
        stp     x2, x3, [sp, #16]
        mrs     x0, icc_iar1_el1
        cmp     w0, #1020               /* 1020-1023: special (spurious) */
        b.hs    2f
        adr     x1, irq_intid
        str     w0, [x1]
        cmp     w0, #UART_SPI_INTID
        b.ne    1f
        mov     x1, #UART
        ldrb    w2, [x1, #UART_IIR]     /* acknowledge */
        strb    wzr, [x1, #UART_IER]    /* and no more */
        adr     x1, irq_count
        ldr     w2, [x1]
        add     w2, w2, #1
        str     w2, [x1]
1:      msr     icc_eoir1_el1, x0
2:      ldp     x2, x3, [sp, #16]
        ldp     x0, x1, [sp], #32
        eret

unexpected:
        PUTS    msg_unexpected
        mrs     x0, esr_el1
        bl      puthex
        PUTS    msg_elr
        mrs     x0, elr_el1
        bl      puthex
        PUTS    msg_nl
        EXIT    0x13

        DEFINE_CONSOLE
msg_gicd:        .asciz "gic: GICv3 distributor, "
msg_ids:         .asciz " interrupt ids\n"
msg_gicr:        .asciz "gic: "
msg_redists:     .asciz " redistributors\n"
msg_its_present: .asciz "its: present\n"
msg_its_absent:  .asciz "its: absent\n"
msg_no_gicv3:    .asciz "gic: no GICv3 distributor\n"
msg_irq:         .asciz "irq: uart interrupt "
msg_received:    .asciz " received\n"
msg_no_irq:      .asciz "irq: no uart interrupt within 2 s\n"
msg_unexpected:  .asciz "exception: esr "
msg_elr:         .asciz " elr "
msg_nl:          .asciz "\n"
        .balign 4
irq_count:       .word 0
irq_intid:       .word 0

/* The vector table: 16 entries of 0x80 bytes; only "current EL with SP_ELx, IRQ" is expected. */
        VECTORS irq, unexpected

        .balign 16
        .space  1024
stack_top:
