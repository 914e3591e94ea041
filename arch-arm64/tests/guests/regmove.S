/*
 * The guest of the "move a running vCPU" test (tests/real_kvm.rs). Position independent, MMU off.
 *
 * Phase A gives every kind of vCPU state a distinctive value: x0-x30 (x8 = the MMIO window,
 * x9 = 1), the flags (Z and C set by a compare), v0-v31 (both halves), FPCR/FPSR, SP_EL1 with two
 * words pushed, SP_EL0, and the EL1 system registers listed in SYSREGS (read back into a
 * snapshot in memory). Then it writes 1 to MMIO+0: the checkpoint where the host saves the vCPU
 * and restores it into a new one.
 *
 * Phase B, on whichever vCPU runs next, checks all of it: the flags first, then the GPRs (pushed
 * to the stack), SP, the pushed words, the vector registers, and each system register against its
 * snapshot; then takes an SVC through VBAR_EL1 (the moved vector table, ESR, ELR, SPSR) and back.
 * It ends by writing its verdict to MMIO+4: 0x600d, or 0xbad0XXXX with XXXX saying what differed:
 * 0x00NN xN, 0x0080 flags, 0x00c0 SP, 0x00c1/0x00c2 the pushed words, 0x01NN vN, 0x02NN the NNth
 * system register of SYSREGS, 0x0300 the SVC round trip, 0x04EE an unexpected exception (EC EE).
 */
        .set MMIO, 0x10000000

/* K(n): a distinctive 64-bit constant. */
.macro LDK reg, n
        ldr     \reg, =(0xa5a5000000000000 | ((\n) << 32) | ((\n) * 0x01010101))
.endm

/* The system registers that phase A sets and snapshots and phase B compares, in order. */
.macro SYSREGS op
        \op cpacr_el1
        \op fpcr
        \op fpsr
        \op tpidr_el0
        \op tpidrro_el0
        \op tpidr_el1
        \op contextidr_el1
        \op far_el1
        \op esr_el1
        \op mair_el1
        \op ttbr0_el1
        \op ttbr1_el1
        \op tcr_el1
        \op vbar_el1
        \op sp_el0
        \op elr_el1
        \op spsr_el1
        \op cntkctl_el1
        \op cntv_cval_el0
        \op cntv_ctl_el0
        \op csselr_el1
        \op mdscr_el1
        \op sctlr_el1
        \op par_el1
.endm

.macro SNAP reg
        mrs     x0, \reg
        str     x0, [x1], #8
.endm

.macro CHECK reg
        mrs     x0, \reg
        ldr     x4, [x1], #8
        mov     x2, x3
        cmp     x0, x4
        b.ne    bad
        add     x3, x3, #1
.endm

        .section .text.start, "ax"
        .globl  _start
_start:
        /* FP/SIMD on at EL1 (CPACR_EL1.FPEN = 0b11), a stack, the vector table. */
        mrs     x0, cpacr_el1
        orr     x0, x0, #(3 << 20)
        msr     cpacr_el1, x0
        isb
        adr     x0, stack_top
        mov     sp, x0
        LDK     x0, 50
        LDK     x1, 51
        stp     x0, x1, [sp, #-16]!
        adr     x0, vectors
        msr     vbar_el1, x0

        .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        LDK     x0, (32 + \i)
        mvn     x1, x0
        fmov    d\i, x0
        mov     v\i\().d[1], x1
        .endr

        mov     x0, #0x01400000         /* FZ, round towards +infinity */
        msr     fpcr, x0
        mov     x0, #0x1f               /* IOC DZC OFC UFC IXC */
        msr     fpsr, x0
        LDK     x0, 60
        msr     tpidr_el0, x0
        LDK     x0, 61
        msr     tpidrro_el0, x0
        LDK     x0, 62
        msr     tpidr_el1, x0
        mov     x0, #0x1234
        msr     contextidr_el1, x0
        LDK     x0, 63
        msr     far_el1, x0
        mov     x0, #0x0042
        movk    x0, #0x5600, lsl #16    /* EC = SVC64, IL, ISS 0x42 */
        msr     esr_el1, x0
        ldr     x0, =0x000000000044ff00
        msr     mair_el1, x0
        ldr     x0, =0x0000000040100000
        msr     ttbr0_el1, x0
        ldr     x0, =0x0001000040200000
        msr     ttbr1_el1, x0
        ldr     x0, =0x0000000235193519
        msr     tcr_el1, x0
        LDK     x0, 64
        msr     sp_el0, x0
        LDK     x0, 65
        msr     elr_el1, x0
        mov     x0, #0x3c5
        msr     spsr_el1, x0
        mov     x0, #3                  /* EL0 may read both counters */
        msr     cntkctl_el1, x0
        mrs     x0, cntvct_el0
        mov     x1, #0x1000000000       /* far in the future */
        add     x0, x0, x1
        msr     cntv_cval_el0, x0
        mov     x0, #3                  /* enabled, masked */
        msr     cntv_ctl_el0, x0
        mov     x0, #1                  /* level 1 instruction cache */
        msr     csselr_el1, x0
        mov     x0, #0x1000             /* MDSCR_EL1.TDCC */
        msr     mdscr_el1, x0
        ldr     x0, =0x0000000040300f80
        msr     par_el1, x0
        isb

        adr     x1, snapshot
        SYSREGS SNAP

        .irp n, 0,1,2,3,4,5,6,7,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
        LDK     x\n, \n
        .endr
        mov     x8, #MMIO
        mov     w9, #1
        cmp     x19, x19                /* NZCV = 0b0110 */
        str     w9, [x8]                /* checkpoint: the host moves this vCPU here */

        /* Phase B: the flags first, before any register is touched. */
        b.ne    bad_flags
        b.cc    bad_flags
        b.mi    bad_flags
        b.vs    bad_flags
        sub     sp, sp, #256
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
        str     x\n, [sp, #(\n * 8)]
        .endr
        .irp n, 0,1,2,3,4,5,6,7,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
        ldr     x0, [sp, #(\n * 8)]
        LDK     x4, \n
        mov     x2, #\n
        cmp     x0, x4
        b.ne    bad
        .endr
        ldr     x0, [sp, #(8 * 8)]
        mov     x4, #MMIO
        mov     x2, #8
        cmp     x0, x4
        b.ne    bad
        ldr     x0, [sp, #(9 * 8)]
        mov     x4, #1
        mov     x2, #9
        cmp     x0, x4
        b.ne    bad
        add     sp, sp, #256

        adr     x4, stack_top
        sub     x4, x4, #16
        mov     x0, sp
        mov     x2, #0xc0
        cmp     x0, x4
        b.ne    bad
        ldp     x0, x1, [sp]
        LDK     x4, 50
        mov     x2, #0xc1
        cmp     x0, x4
        b.ne    bad
        mov     x0, x1
        LDK     x4, 51
        mov     x2, #0xc2
        cmp     x0, x4
        b.ne    bad

        .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        fmov    x0, d\i
        LDK     x4, (32 + \i)
        mov     x2, #(0x100 + \i)
        cmp     x0, x4
        b.ne    bad
        mov     x0, v\i\().d[1]
        mvn     x4, x4
        cmp     x0, x4
        b.ne    bad
        .endr

        adr     x1, snapshot
        mov     x3, #0x200
        SYSREGS CHECK

        /* An exception round trip through the moved vector table. */
        mov     x0, #0
        svc     #0x42
        mov     x2, #0x300
        cmp     x0, #0x5c
        b.ne    bad

        mov     x8, #MMIO
        mov     w9, #0x600d
        str     w9, [x8, #4]
        b       .

bad_flags:
        mrs     x0, nzcv
        mov     x4, #0x60000000
        mov     x2, #0x80
/* x2 = what differed. */
bad:
        mov     x8, #MMIO
        mov     w9, #0xbad00000
        orr     w9, w9, w2
        str     w9, [x8, #4]
        b       .

svc_handler:
        mrs     x1, esr_el1
        lsr     x2, x1, #26
        cmp     x2, #0x15               /* SVC from AArch64 */
        b.ne    1f
        and     x2, x1, #0xffff
        cmp     x2, #0x42
        b.ne    1f
        mov     x0, #0x5c
1:      eret

unexpected:
        mrs     x2, esr_el1
        lsr     x2, x2, #26
        orr     x2, x2, #0x400
        b       bad

        .ltorg
        .balign 8
snapshot:
        .space  8 * 32

        .balign 2048
vectors:
        .rept   4
        b       unexpected
        .balign 0x80
        .endr
        b       svc_handler             /* +0x200: current EL, SP_ELx, synchronous */
        .balign 0x80
        .rept   11
        b       unexpected
        .balign 0x80
        .endr

        .balign 16
        .space  1024
stack_top:
