/*
 * The guest of the vPMU test (tests/real_kvm.rs): enables the cycle counter (PMCR_EL0.E and
 * PMCNTENSET_EL0.C), reads PMCCNTR_EL0, spins 100,000 times, reads it again, and writes the
 * difference to MMIO+0 (32 bits). Position independent, MMU off. Without a vPMU the first PMU
 * register access is an undefined instruction, and the vCPU never writes.
 */
        .set MMIO, 0x10000000

        .section .text.start, "ax"
        .global _start
_start:
        ldr     x8, =MMIO
        mrs     x1, pmcr_el0
        orr     x1, x1, #1              /* E: enable the counters */
        msr     pmcr_el0, x1
        mov     x2, #0x80000000         /* C: the cycle counter */
        msr     pmcntenset_el0, x2
        isb
        mrs     x3, pmccntr_el0
        ldr     x4, =100000
1:      subs    x4, x4, #1
        b.ne    1b
        isb
        mrs     x5, pmccntr_el0
        sub     x6, x5, x3
        str     w6, [x8]
2:      wfi
        b       2b
        .ltorg
