/*
 * Shared contract "smp": with N vCPUs, every secondary reports "cpu K up" itself; then the boot
 * vCPU prints "smp: N of N vCPUs up" and exits 0x40 + N.
 *
 * Here: 64-bit code loaded raw at 1 MiB (`--raw 0x100000:long`). The boot vCPU learns N from
 * fw_cfg (NB_CPUS, key 0x05, as tetra's default guest does), copies a real-mode trampoline to
 * 0x3000 and starts the other vCPUs the x86 way: INIT, SIPI, SIPI (vector 0x03) to all but itself
 * through its LAPIC; KVM's in-kernel LAPIC does the rest. Each secondary goes real -> protected
 * -> long mode (the boot vCPU's own page tables, tetra's identity map), reads its LAPIC id K,
 * prints "cpu K up" under a lock, counts itself in and halts with interrupts off. The boot vCPU
 * waits for N - 1 of them, then reports; when some did not come within the timeout it prints
 * "smp: U of N vCPUs up" with U < N and exits 0x3d. No interrupt is ever taken (the boot vCPU
 * polls a counter in memory): some software hypervisors cannot emulate a 32-bit IRET.
 */
        .include "common.inc"
        .set TRAMPOLINE,    0x3000              /* SIPI vector 0x03 */
        .set ICR_LO,        0x300               /* LAPIC registers, from %r15 = LAPIC */
        .set ICR_HI,        0x310
        .set LAPIC_ID,      0x20
        .set LAPIC_SVR,     0xf0
        .set ICR_INIT_ALL,  0x000c4500          /* INIT, assert, all excluding self */
        .set ICR_SIPI_ALL,  0x000c4600 | (TRAMPOLINE >> 12)
        .set ICR_BUSY,      1 << 12
        .set FW_CFG_NB_CPUS, 0x05
        .set IA32_EFER,     0xc0000080
        .set TIMEOUT,       1 << 21             /* polls (a few us each here) */
        .set MAX_APS,       32
        .set SEL_CODE32,    0x08
        .set SEL_CODE64,    0x10
        .set SEL_DATA,      0x18

        .text
        .code64
        .globl  _start
_start:
        leaq    bsp_stack_top(%rip), %rsp
        movw    $FW_CFG_SEL, %dx                /* N: fw_cfg NB_CPUS, a little-endian u16 */
        movw    $FW_CFG_NB_CPUS, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        movzbl  %al, %ebx
        inb     %dx, %al
        movzbl  %al, %eax
        shll    $8, %eax
        orl     %eax, %ebx
        movl    %ebx, ncpus(%rip)
        cmpl    $1, %ebx
        jbe     report

        movl    $LAPIC, %r15d
        movl    $0x1ff, LAPIC_SVR(%r15)         /* LAPIC on, spurious vector 0xff */
        movq    %cr3, %rax
        movl    %eax, ap_cr3(%rip)
        leaq    ap_tramp(%rip), %rsi
        movl    $TRAMPOLINE, %edi
        movl    $(ap_tramp_end - ap_tramp), %ecx
        cld
        rep movsb
        movl    $0, ICR_HI(%r15)
        movl    $ICR_INIT_ALL, ICR_LO(%r15)
        call    icr_wait
        movl    $ICR_SIPI_ALL, ICR_LO(%r15)
        call    icr_wait
        movl    $ICR_SIPI_ALL, ICR_LO(%r15)
        call    icr_wait

        decl    %ebx                            /* secondaries expected */
        movl    $TIMEOUT, %ecx
1:      cmpl    %ebx, ap_count(%rip)
        jae     report
        pause
        decl    %ecx
        jnz     1b

report:
        call    take_lock
        leaq    msg_smp(%rip), %rsi
        call    puts
        movl    ap_count(%rip), %eax
        incl    %eax
        call    putdec
        leaq    msg_of(%rip), %rsi
        call    puts
        movl    ncpus(%rip), %eax
        call    putdec
        leaq    msg_up(%rip), %rsi
        call    puts
        call    drop_lock
        movl    ap_count(%rip), %eax
        incl    %eax
        cmpl    ncpus(%rip), %eax
        jne     timed_out
        addl    $0x40, %eax
        outl    %eax, $DEBUG_EXIT
timed_out:
        EXIT    0x3d

/* A secondary, in long mode: report, count in, halt for good. */
ap_main:
        movl    $LAPIC, %r15d
        movl    LAPIC_ID(%r15), %ebx
        shrl    $24, %ebx                       /* K: its LAPIC id */
        movl    %ebx, %eax
        andl    $(MAX_APS - 1), %eax
        incl    %eax
        shll    $10, %eax
        leaq    ap_stacks(%rip), %rsp
        addq    %rax, %rsp                      /* a 1 KiB stack per LAPIC id */
        call    take_lock
        leaq    msg_cpu(%rip), %rsi
        call    puts
        movl    %ebx, %eax
        call    putdec
        leaq    msg_cpu_up(%rip), %rsi
        call    puts
        lock incl ap_count(%rip)
        call    drop_lock
2:      cli
        hlt
        jmp     2b

/* The console lock. take_lock clobbers %eax. */
take_lock:
        movl    $1, %eax
        xchgl   %eax, print_lock(%rip)
        testl   %eax, %eax
        jz      1f
        pause
        jmp     take_lock
1:      ret
drop_lock:
        movl    $0, print_lock(%rip)
        ret

icr_wait:
        testl   $ICR_BUSY, ICR_LO(%r15)
        jz      1f
        pause
        jmp     icr_wait
1:      ret

/* The trampoline, copied to TRAMPOLINE: a secondary starts here in real mode, CS = 0x0300. */
        .code16
ap_tramp:
        cli
        lgdtl   %cs:(ap_gdtr - ap_tramp)
        movl    %cr0, %eax
        orl     $1, %eax                        /* PE */
        movl    %eax, %cr0
        ljmpl   $SEL_CODE32, $(TRAMPOLINE + ap_pm - ap_tramp)
        .code32
ap_pm:
        movw    $SEL_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    %cr4, %eax
        orl     $(1 << 5), %eax                 /* PAE */
        movl    %eax, %cr4
        movl    TRAMPOLINE + (ap_cr3 - ap_tramp), %eax
        movl    %eax, %cr3
        movl    $IA32_EFER, %ecx
        rdmsr
        orl     $(1 << 8), %eax                 /* LME */
        wrmsr
        movl    %cr0, %eax
        orl     $(1 << 31), %eax                /* PG: long mode is active */
        movl    %eax, %cr0
        ljmpl   $SEL_CODE64, $(TRAMPOLINE + ap_lm - ap_tramp)
        .code64
ap_lm:
        movabsq $ap_main, %rax
        jmp     *%rax
        .balign 8
ap_gdtr:
        .word   gdt_end - gdt - 1
        .long   gdt
ap_cr3:
        .long   0                               /* the boot vCPU's CR3 */
ap_tramp_end:

        .code64
        DEFINE_PUTS
        DEFINE_PUTDEC64
msg_smp:    .asciz "smp: "
msg_of:     .asciz " of "
msg_up:     .asciz " vCPUs up\n"
msg_cpu:    .asciz "cpu "
msg_cpu_up: .asciz " up\n"

        .data
        .balign 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff              /* 0x08: flat 32-bit code */
        .quad   0x00af9a000000ffff              /* 0x10: 64-bit code */
        .quad   0x00cf92000000ffff              /* 0x18: flat data */
gdt_end:
ncpus:      .long 1
ap_count:   .long 0
print_lock: .long 0

        .bss
        .balign 16
        .space  4096
bsp_stack_top:
ap_stacks:
        .space  (MAX_APS + 1) * 1024
