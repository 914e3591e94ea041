/*
 * LPIs through the ITS, to vCPUs other than 0, across whatever the host does while the guest
 * waits for a key (a snapshot and a restore in a new process, a live migration): run with 3 vCPUs,
 * `--irqchip gicv3-its` and at least 32 MiB.
 *
 * The boot vCPU programs the LPI property table and every redistributor's PROPBASER/PENDBASER,
 * gives the ITS a device table, a collection table and a command queue, and maps through ITS
 * commands: MAPD device 1 (4 events, its ITT), MAPC collection 1 -> vCPU 1 and 2 -> vCPU 2, MAPTI
 * (1, 0) -> LPI 8192 in collection 1 and (1, 1) -> LPI 8193 in collection 2. vCPUs 1 and 2 are
 * started with PSCI CPU_ON and count every LPI they take, per vCPU and LPI.
 *
 *   1. INT (1, 0) and INT (1, 1): LPI 8192 must reach vCPU 1 and 8193 vCPU 2 ("lpi: 8192 on cpu 1,
 *      8193 on cpu 2").
 *   2. vCPU 2 masks its IRQs; INT (1, 1) leaves 8193 pending there ("lpi: 8193 pending on cpu 2"),
 *      then "lpi: waiting for input" and the boot vCPU polls the UART for a byte, saying "lpi:
 *      still waiting" every 1/4 s.
 *   3. vCPU 2 unmasks: the pending LPI must arrive, once. INT (1, 0) and INT (1, 1) again.
 *   4. After a settling delay every count must be exact: vCPU 1 took 8192 twice and nothing else,
 *      vCPU 2 took 8193 three times and nothing else, vCPU 0 nothing ("lpi: cpu 1 8192 x2, cpu 2
 *      8193 x3").
 *
 * Exits 0x50 on success; 0x51 without an ITS (or with an unexpected GITS_BASER layout), 0x52 when
 * an LPI does not arrive within 5 s, 0x53 when a count is wrong after the settling delay, 0x54
 * when the ITS does not consume a command, 0x55 when a secondary does not come up, 0x56 on an
 * unexpected exception.
 */
        .include "common.inc"

        .set LPI0,          8192
        .set PROP_TABLE,    0x41000000      /* LPI configuration: one byte per LPI from 8192 */
        .set PEND_TABLES,   0x41100000      /* one 64 KiB slot per redistributor (16) */
        .set DEVICE_TABLE,  0x41040000      /* 64 KiB, flat */
        .set COLL_TABLE,    0x41050000      /* 64 KiB */
        .set ITT,           0x41060000
        .set CMD_QUEUE,     0x41070000      /* 4 KiB: 128 commands */
        .set SECONDARIES,   2

        .set GITS_CTLR,     0x0
        .set GITS_TYPER,    0x8
        .set GITS_CBASER,   0x80
        .set GITS_CWRITER,  0x88
        .set GITS_CREADR,   0x90
        .set GITS_BASER0,   0x100

/* Sends the ITS command in x0-x3 and waits until the ITS has read it. Clobbers x9-x11, x30. */
.macro ITS_CMD
        bl      its_cmd
.endm

        .section .text.start, "ax"
        .globl  _start
_start:
        adr     x0, stacks
        add     sp, x0, #1024
        adr     x0, vectors
        msr     vbar_el1, x0
        isb
        mov     x25, #GITS

        /* An ITS with physical LPIs, device table in GITS_BASER0, collections in GITS_BASER1. */
        ldr     x0, [x25, #GITS_TYPER]
        tbz     x0, #0, no_its
        ldr     x0, [x25, #GITS_BASER0]
        ubfx    x1, x0, #56, #3
        cmp     x1, #1
        b.ne    no_its
        ldr     x0, [x25, #(GITS_BASER0 + 8)]
        ubfx    x1, x0, #56, #3
        cmp     x1, #4
        b.ne    no_its

        /* LPIs 8192 and 8193: priority 0xa0, enabled. */
        ldr     x0, =PROP_TABLE
        mov     w1, #0xa1
        strb    w1, [x0]
        strb    w1, [x0, #1]
        dsb     sy

        /* Every redistributor: the property table (16 INTID bits), its pending table (zeroed),
         * LPIs on. */
        mov     x19, #0
        ldr     x20, =GICR
1:      ldr     x0, =PROP_TABLE
        orr     x0, x0, #15
        str     x0, [x20, #0x70]        /* GICR_PROPBASER */
        ldr     x0, =PEND_TABLES
        add     x0, x0, x19, lsl #16
        orr     x0, x0, #(1 << 62)      /* PTZ */
        str     x0, [x20, #0x78]        /* GICR_PENDBASER */
        ldr     w0, [x20]
        orr     w0, w0, #1              /* GICR_CTLR.EnableLPIs */
        str     w0, [x20]
        ldr     x0, [x20, #8]           /* GICR_TYPER: bit 4 marks the last */
        add     x19, x19, #1
        add     x20, x20, #GICR_STRIDE
        tbz     x0, #4, 1b

        /* Distributor: group 1, affinity routing. */
        mov     x0, #GICD
        ldr     w1, [x0]
        mov     w2, #0x12
        orr     w1, w1, w2
        str     w1, [x0]

        /* The ITS tables (one 64 KiB page each, 8-byte entries as KVM's registers say), the
         * command queue, then the ITS on. */
        /* (KVM keeps the type and entry-size fields whatever is written.) */
        ldr     x0, =DEVICE_TABLE | (1 << 63) | (2 << 8)
        str     x0, [x25, #GITS_BASER0]
        ldr     x0, =COLL_TABLE | (1 << 63) | (2 << 8)
        str     x0, [x25, #(GITS_BASER0 + 8)]
        ldr     x0, =CMD_QUEUE | (1 << 63)
        str     x0, [x25, #GITS_CBASER]
        ldr     x26, =CMD_QUEUE
        mov     x27, #0
        str     x27, [x25, #GITS_CWRITER]
        ldr     w0, [x25, #GITS_CTLR]
        orr     w0, w0, #1
        str     w0, [x25, #GITS_CTLR]
        dsb     sy

        /* MAPD device 1: 2 EventID bits, its ITT, valid. */
        ldr     x0, =0x08 | (1 << 32)
        mov     x1, #1
        ldr     x2, =ITT | (1 << 63)
        mov     x3, #0
        ITS_CMD
        /* MAPC collection 1 -> PE 1, collection 2 -> PE 2. */
        mov     x0, #0x09
        mov     x1, #0
        ldr     x2, =(1 << 63) | (1 << 16) | 1
        ITS_CMD
        mov     x0, #0x09
        mov     x1, #0
        ldr     x2, =(1 << 63) | (2 << 16) | 2
        ITS_CMD
        /* MAPTI (1, 0) -> 8192 in collection 1, (1, 1) -> 8193 in collection 2. */
        ldr     x0, =0x0a | (1 << 32)
        ldr     x1, =0 | (LPI0 << 32)
        mov     x2, #1
        ITS_CMD
        ldr     x0, =0x0a | (1 << 32)
        ldr     x1, =1 | ((LPI0 + 1) << 32)
        mov     x2, #2
        ITS_CMD

        /* The secondaries, each counting the LPIs it takes. */
        mov     x19, #1
2:      mov     x1, x19
        adr     x2, secondary
        mov     x3, x19
        PSCI    PSCI_CPU_ON
        cbnz    x0, no_secondary
        add     x19, x19, #1
        cmp     x19, #SECONDARIES
        b.ls    2b
        mrs     x23, cntfrq_el0
        mov     x9, #5
        mul     x23, x23, x9            /* 5 s */
        mrs     x22, cntvct_el0
        add     x22, x22, x23
        adr     x20, ready
3:      ldr     w0, [x20, #4]
        ldr     w1, [x20, #8]
        and     w0, w0, w1
        cbnz    w0, 4f
        mrs     x9, cntvct_el0
        cmp     x9, x22
        b.hs    no_secondary
        b       3b
4:
        /* 1. One INT each: 8192 on vCPU 1, 8193 on vCPU 2. */
        bl      int_both
        mov     x0, #1
        mov     x1, #1
        mov     x2, #1
        bl      wait_count
        PUTS    msg_phase1

        /* 2. vCPU 2 masks its IRQs; 8193 stays pending there. */
        adr     x20, mask_req
        mov     w0, #1
        str     w0, [x20, #8]
        dsb     sy
        adr     x20, masked
5:      ldr     w0, [x20, #8]
        cbz     w0, 5b
        bl      int_second
        mrs     x12, cntfrq_el0
        lsr     x12, x12, #4            /* 1/16 s for the ITS to deliver it */
        DELAY   x12
        adr     x20, counts
        ldr     w0, [x20, #(2 * 8 + 4)]
        cmp     w0, #1
        b.ne    bad_count
        PUTS    msg_pending
        PUTS    msg_waiting
        /* Poll for the key; every 1/4 s say so, so that a restored or migrated VM shows it runs
         * before the key is typed. */
        mrs     x23, cntfrq_el0
        lsr     x23, x23, #2
        mrs     x22, cntvct_el0
        add     x22, x22, x23
6:      mov     x20, #UART
        ldrb    w0, [x20, #5]           /* LSR.DR */
        tbnz    w0, #0, 8f
        mrs     x9, cntvct_el0
        cmp     x9, x22
        b.lo    6b
        PUTS    msg_still
        mrs     x22, cntvct_el0
        add     x22, x22, x23
        b       6b
8:      ldrb    w0, [x20]
        PUTS    msg_resumed

        /* 3. vCPU 2 unmasks: the pending 8193 arrives once; then one more INT each. */
        adr     x20, mask_req
        str     wzr, [x20, #8]
        dsb     sy
        mov     x0, #1
        mov     x1, #2
        mov     x2, #3
        bl      wait_count
        PUTS    msg_pending_taken
        bl      int_both
        mov     x0, #2
        mov     x1, #3
        mov     x2, #4
        bl      wait_count

        /* 4. Settle, then every count exact. */
        mrs     x12, cntfrq_el0
        lsr     x12, x12, #2            /* 1/4 s */
        DELAY   x12
        adr     x20, counts
        adr     x21, expected
        mov     x19, #0
7:      ldr     w0, [x20, x19, lsl #2]
        ldr     w1, [x21, x19, lsl #2]
        cmp     w0, w1
        b.ne    bad_count
        add     x19, x19, #1
        cmp     x19, #6
        b.lo    7b
        PUTS    msg_done
        EXIT    0x50

/* INT (1, 0) then INT (1, 1). */
int_both:
        mov     x28, x30
        ldr     x0, =0x03 | (1 << 32)
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        ITS_CMD
        mov     x30, x28
int_second:
        mov     x28, x30
        ldr     x0, =0x03 | (1 << 32)
        mov     x1, #1
        mov     x2, #0
        mov     x3, #0
        ITS_CMD
        ret     x28

/* Waits up to 5 s for vCPU 1's count of 8192 to reach x0 and vCPU 2's count of 8193 to reach
 * x1; x2 is the step, for the message. */
wait_count:
        mov     x24, x30
        mov     x14, x0
        mov     x15, x1
        mov     x16, x2
        mrs     x23, cntfrq_el0
        mov     x9, #5
        mul     x23, x23, x9
        mrs     x22, cntvct_el0
        add     x22, x22, x23
        adr     x20, counts
1:      ldr     w0, [x20, #(1 * 8 + 0)]
        ldr     w1, [x20, #(2 * 8 + 4)]
        cmp     w0, w14
        b.lo    2f
        cmp     w1, w15
        b.hs    3f
2:      mrs     x9, cntvct_el0
        cmp     x9, x22
        b.lo    1b
        PUTS    msg_lost
        mov     x0, x16
        bl      putdec
        bl      print_counts
        EXIT    0x52
3:      ret     x24

/* Sends x0-x3 as one ITS command. */
its_cmd:
        add     x9, x26, x27
        str     x0, [x9]
        str     x1, [x9, #8]
        str     x2, [x9, #16]
        str     x3, [x9, #24]
        dsb     sy
        add     x27, x27, #32
        and     x27, x27, #0xfff
        str     x27, [x25, #GITS_CWRITER]
        ldr     x11, =1000000
1:      ldr     x10, [x25, #GITS_CREADR]
        cmp     x10, x27
        b.eq    2f
        subs    x11, x11, #1
        b.ne    1b
        PUTS    msg_stuck
        EXIT    0x54
2:      ret

/* Prints every count: " | cpu K: A B" for K = 0..2. */
print_counts:
        mov     x24, x30
        adr     x20, counts
        mov     x19, #0
1:      PUTS    msg_cpu
        mov     x0, x19
        bl      putdec
        PUTS    msg_colon
        add     x21, x20, x19, lsl #3
        ldr     w0, [x21]
        bl      putdec
        PUTS    msg_space
        ldr     w0, [x21, #4]
        bl      putdec
        add     x19, x19, #1
        cmp     x19, #3
        b.lo    1b
        PUTS    msg_nl
        ret     x24

bad_count:
        PUTS    msg_bad
        bl      print_counts
        EXIT    0x53
no_its:
        PUTS    msg_no_its
        EXIT    0x51
no_secondary:
        PUTS    msg_no_secondary
        EXIT    0x55

/* vCPU x0 (1 or 2), powered on by CPU_ON: its CPU interface on, then IRQs masked or not as
 * mask_req[x0] says, forever. */
secondary:
        mov     x19, x0
        adr     x1, stacks
        add     x1, x1, x19, lsl #10
        add     sp, x1, #1024
        adr     x1, vectors
        msr     vbar_el1, x1
        isb
        mrs     x1, icc_sre_el1
        orr     x1, x1, #1
        msr     icc_sre_el1, x1
        isb
        mov     x1, #0xff
        msr     icc_pmr_el1, x1
        mov     x1, #1
        msr     icc_igrpen1_el1, x1
        isb
        adr     x20, mask_req
        add     x20, x20, x19, lsl #2
        adr     x21, masked
        add     x21, x21, x19, lsl #2
        adr     x9, ready
        mov     w10, #1
        str     w10, [x9, x19, lsl #2]
        dsb     sy
1:      ldr     w0, [x20]
        cbz     w0, 2f
        msr     daifset, #2
        mov     w1, #1
        str     w1, [x21]
        b       1b
2:      msr     daifclr, #2
        str     wzr, [x21]
        b       1b

/* An IRQ: acknowledge, count LPIs 8192 and 8193 for this vCPU, end it. */
irq:
        stp     x0, x1, [sp, #-32]!
        stp     x2, x3, [sp, #16]
        mrs     x0, icc_iar1_el1
        sub     w1, w0, #1020           /* 1020-1023: special ids, nothing to end */
        cmp     w1, #4
        b.lo    2f
        mov     w1, #LPI0
        sub     w2, w0, w1
        cmp     w2, #2
        b.hs    1f
        mrs     x1, mpidr_el1
        and     x1, x1, #0xff
        adr     x3, counts
        add     x3, x3, x1, lsl #3
        add     x3, x3, x2, lsl #2
        ldr     w1, [x3]
        add     w1, w1, #1
        str     w1, [x3]
1:      msr     icc_eoir1_el1, x0
        isb
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
        EXIT    0x56

        .ltorg
        DEFINE_CONSOLE
msg_phase1:        .asciz "lpi: 8192 on cpu 1, 8193 on cpu 2\n"
msg_pending:       .asciz "lpi: 8193 pending on cpu 2\n"
msg_waiting:       .asciz "lpi: waiting for input\n"
msg_resumed:       .asciz "lpi: resumed\n"
msg_still:         .asciz "lpi: still waiting\n"
msg_pending_taken: .asciz "lpi: the pending 8193 arrived on cpu 2\n"
msg_done:          .asciz "lpi: cpu 1 8192 x2, cpu 2 8193 x3\n"
msg_lost:          .asciz "lpi: an LPI did not arrive within 5 s in phase "
msg_bad:           .asciz "lpi: wrong counts"
msg_cpu:           .asciz " | cpu "
msg_colon:         .asciz ": "
msg_space:         .asciz " "
msg_stuck:         .asciz "lpi: the ITS does not consume its commands\n"
msg_no_its:        .asciz "lpi: no ITS with a device table and a collection table\n"
msg_no_secondary:  .asciz "lpi: a secondary vCPU did not come up\n"
msg_unexpected:    .asciz "exception: esr "
msg_elr:           .asciz " elr "
msg_nl:            .asciz "\n"
        .balign 8
/* counts[cpu][lpi - 8192], cpu 0..2, two LPIs each; what they must be at the end. */
counts:            .space 4 * 2 * 3
expected:          .word 0, 0, 2, 0, 0, 3
ready:             .space 4 * 4
mask_req:          .space 4 * 4
masked:            .space 4 * 4

/* The vector table: only "current EL with SP_ELx, IRQ" is expected. */
        .balign 2048
vectors:
        .rept   5
        b       unexpected
        .balign 0x80
        .endr
        b       irq                     /* +0x280: current EL, SP_ELx, IRQ */
        .balign 0x80
        .rept   10
        b       unexpected
        .balign 0x80
        .endr

        .balign 16
stacks:  .space  1024 * 3
