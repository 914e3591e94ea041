/*
 * SMP through PSCI: the boot vCPU starts each secondary with CPU_ON (HVC; KVM powers it on in the
 * kernel) for MPIDR Aff0 = 1, 2, ... (KVM's numbering for fewer than 16 vCPUs) until CPU_ON answers
 * INVALID_PARAMETERS (no such CPU). Each secondary reports in itself: it prints "cpu K up" and
 * "cpu K mpidr 0x...", sets its flag in memory and turns itself off with CPU_OFF; the boot vCPU
 * waits for the flag and for AFFINITY_INFO to say OFF before starting the next one (so the lines
 * never interleave). Then "smp: U of N vCPUs up" and exit 0x40 + N when all N came up; exit 0x3e
 * on an unexpected PSCI answer, 0x3d when a secondary does not report within 5 s.
 */
        .include "common.inc"
        .section .text.start, "ax"
        .globl  _start
_start:
        mov     x19, #1                 /* next vCPU to start (its Aff0) */
        mov     x20, #1                 /* vCPUs up, the boot one included */
        mrs     x23, cntfrq_el0
        mov     x9, #5
        mul     x23, x23, x9            /* 5 s in counter ticks */
next:
        cmp     x19, #16
        b.hs    done
        mov     x1, x19                 /* target MPIDR */
        adr     x2, secondary           /* entry point */
        mov     x3, x19                 /* context id: arrives in the secondary's x0 */
        PSCI    PSCI_CPU_ON
        cbz     x0, started
        cmn     x0, #2                  /* INVALID_PARAMETERS: no such CPU */
        b.eq    done
        mov     x24, x0
        PUTS    msg_cpu_on
        mov     x0, x19
        bl      putdec
        PUTS    msg_returned
        mov     x0, x24
        bl      puthex
        PUTS    msg_nl
        EXIT    0x3e
started:
        adr     x21, flags
        add     x21, x21, x19, lsl #2
        mrs     x22, cntvct_el0
        add     x22, x22, x23           /* deadline */
1:      ldr     w9, [x21]
        cbnz    w9, 2f
        mrs     x9, cntvct_el0
        cmp     x9, x22
        b.hs    timeout
        b       1b
2:      mov     x1, x19
        mov     x2, #0
        PSCI    PSCI_AFFINITY_INFO
        cmp     x0, #1                  /* OFF */
        b.eq    3f
        mrs     x9, cntvct_el0
        cmp     x9, x22
        b.hs    timeout
        b       2b
3:      add     x20, x20, #1
        add     x19, x19, #1
        b       next
done:
        PUTS    msg_smp
        mov     x0, x20
        bl      putdec
        PUTS    msg_of
        mov     x0, x19
        bl      putdec
        PUTS    msg_up
        cmp     x20, x19
        b.ne    timeout
        mov     w1, #0x40
        add     w1, w1, w20
        mov     x0, #DEBUG_EXIT
        str     w1, [x0]
        b       .
timeout:
        PUTS    msg_timeout
        mov     x0, x19
        bl      putdec
        PUTS    msg_nl
        EXIT    0x3d

/* A secondary vCPU, powered on by CPU_ON: x0 = its number. */
secondary:
        mov     x19, x0
        PUTS    msg_cpu
        mov     x0, x19
        bl      putdec
        PUTS    msg_cpu_up
        PUTS    msg_cpu
        mov     x0, x19
        bl      putdec
        PUTS    msg_mpidr
        mrs     x0, mpidr_el1
        bl      puthex
        PUTS    msg_nl
        adr     x9, flags
        add     x9, x9, x19, lsl #2
        mov     w10, #1
        str     w10, [x9]
        dsb     sy
        PSCI    PSCI_CPU_OFF
        b       .                       /* CPU_OFF does not return */

        DEFINE_CONSOLE
msg_cpu_on:   .asciz "smp: CPU_ON "
msg_returned: .asciz " returned "
msg_smp:      .asciz "smp: "
msg_of:       .asciz " of "
msg_up:       .asciz " vCPUs up\n"
msg_timeout:  .asciz "smp: no report from vCPU "
msg_cpu:      .asciz "cpu "
msg_cpu_up:   .asciz " up\n"
msg_mpidr:    .asciz " mpidr "
msg_nl:       .asciz "\n"
        .balign 4
flags:  .space  4 * 16
