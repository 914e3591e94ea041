/*
 * A multiboot (v1) test kernel, ELF32, entered in 32-bit protected mode. It
 *   - checks EAX = 0x2BADB002 and prints what the info structure (EBX) says: memory, command line,
 *     and module 0 (the --initrd file): its size and first line;
 *   - reads the fw_cfg signature and NB_CPUS (key 0x05);
 *   - loads its own GDT;
 *   - wakes every other vCPU with INIT, SIPI, SIPI through the local APIC. Each AP switches to
 *     protected mode, prints "AP <apic id> up" under a lock, counts itself, and sends a fixed IPI
 *     with vector 0x40 + its APIC id back to the boot vCPU;
 *   - waits for all APs and for each AP's vector to be pending in its LAPIC's IRR, prints
 *     "smp: <n> of <m> vCPUs up, <k> IPIs", and ends through the debug-exit port with status
 *     0x40 + n (0x11 on a bad boot state or timeout).
 * The boot vCPU keeps interrupts disabled and reads the IRR rather than taking the interrupts:
 * some software hypervisors cannot emulate a 32-bit IRET.
 */
        .include "common.inc"
        .set MB_MAGIC,      0x1badb002
        .set MB_FLAGS,      0x3             /* page-aligned modules, memory info */
        .set TRAMPOLINE,    0x8000          /* SIPI vector 0x08 */
        .set ICR_LO,        LAPIC + 0x300
        .set ICR_HI,        LAPIC + 0x310
        .set LAPIC_ID,      LAPIC + 0x20
        .set LAPIC_SVR,     LAPIC + 0xf0
        .set LAPIC_IRR2,    LAPIC + 0x220       /* IRR bits for vectors 64..95 */
        .set IPI_VECTOR,    0x40                /* + APIC id (1..31) */
        .set TIMEOUT,       1 << 27
        .set MAX_APS,       32

        .section .multiboot, "a"
        .balign 4
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
/* The AP trampoline, copied to TRAMPOLINE: real mode -> protected mode -> ap_main. */
        .code16
ap_tramp:
        cli
        lgdtl   %cs:(ap_gdtr - ap_tramp)
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $0x08, $(TRAMPOLINE + ap_pm - ap_tramp)
        .code32
ap_pm:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    $ap_main, %eax
        jmp     *%eax
        .balign 8
ap_gdtr:
        .word   gdt_end - gdt - 1
        .long   gdt
ap_tramp_end:

        .code32
        .globl  _start
_start:
        movl    $bsp_stack_top, %esp
        cmpl    $0x2badb002, %eax
        jne     fail
        movl    %ebx, %ebp                      /* multiboot info */

        movl    $msg_mem, %esi
        call    puts
        movl    4(%ebp), %eax                   /* mem_lower */
        call    putdec
        movl    $msg_kib_upper, %esi
        call    puts
        movl    8(%ebp), %eax                   /* mem_upper */
        call    putdec
        movl    $msg_kib, %esi
        call    puts

        testl   $(1 << 2), (%ebp)               /* cmdline present */
        jz      fail
        movl    $msg_cmdline, %esi
        call    puts
        movl    16(%ebp), %esi
        call    puts
        movl    $msg_nl, %esi
        call    puts

        testl   $(1 << 3), (%ebp)               /* modules present */
        jz      no_module
        cmpl    $0, 20(%ebp)                    /* mods_count */
        je      no_module
        movl    24(%ebp), %ebx                  /* mods_addr */
        movl    $msg_module, %esi
        call    puts
        movl    4(%ebx), %eax
        subl    (%ebx), %eax                    /* mod_end - mod_start */
        pushl   %eax
        call    putdec
        movl    $msg_bytes, %esi
        call    puts
        popl    %ecx
        movl    (%ebx), %esi
        movw    $COM1, %dx
1:      jecxz   2f
        lodsb
        cmpb    $'\n', %al
        je      2f
        outb    %al, %dx
        decl    %ecx
        jmp     1b
2:      movl    $msg_nl, %esi
        call    puts
no_module:

        /* fw_cfg: the signature must read "QEMU"; then NB_CPUS. */
        movw    $FW_CFG_SEL, %dx
        xorw    %ax, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        movl    $4, %ecx
        xorl    %ebx, %ebx
3:      shll    $8, %ebx
        inb     %dx, %al
        movb    %al, %bl
        loop    3b
        cmpl    $0x51454d55, %ebx               /* 'Q','E','M','U' read in order */
        jne     fail
        movw    $FW_CFG_SEL, %dx
        movw    $0x05, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        movzbl  %al, %ebx
        inb     %dx, %al
        movzbl  %al, %eax
        shll    $8, %eax
        orl     %eax, %ebx
        movl    %ebx, ncpus
        movl    $msg_fwcfg, %esi
        call    puts
        movl    ncpus, %eax
        call    putdec
        movl    $msg_nl, %esi
        call    puts

        /* Our own GDT; interrupts stay disabled. */
        lgdtl   gdtr
        ljmpl   $0x08, $1f
1:      movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    $0x1ff, LAPIC_SVR               /* enable the LAPIC, spurious vector 0xff */

        cmpl    $1, ncpus
        jbe     report

        movl    $ap_tramp, %esi
        movl    $TRAMPOLINE, %edi
        movl    $(ap_tramp_end - ap_tramp), %ecx
        cld
        rep movsb
        movl    $0, ICR_HI
        movl    $0x000c4500, ICR_LO             /* INIT, all excluding self */
        call    icr_wait
        movl    $(0x000c4600 | (TRAMPOLINE >> 12)), ICR_LO
        call    icr_wait
        movl    $(0x000c4600 | (TRAMPOLINE >> 12)), ICR_LO
        call    icr_wait

        movl    ncpus, %ebx
        decl    %ebx                            /* APs expected */
        movl    $TIMEOUT, %ecx
6:      call    count_ipis
        cmpl    %ebx, ap_count
        jb      7f
        cmpl    %ebx, ipi_count
        jae     report
7:      loop    6b

report:
        call    count_ipis
        movl    $msg_smp, %esi
        call    puts
        movl    ap_count, %eax
        incl    %eax
        call    putdec
        movl    $msg_of, %esi
        call    puts
        movl    ncpus, %eax
        call    putdec
        movl    $msg_up, %esi
        call    puts
        movl    ipi_count, %eax
        call    putdec
        movl    $msg_ipis, %esi
        call    puts
        movl    ap_count, %eax
        incl    %eax
        cmpl    ncpus, %eax
        jne     fail
        decl    %eax
        cmpl    %eax, ipi_count                 /* one IPI from each AP */
        jne     fail
        incl    %eax
        addl    $0x40, %eax
        outl    %eax, $DEBUG_EXIT
fail:
        movl    $msg_fail, %esi
        call    puts
        EXIT    0x11

/* An AP in protected mode: report, count, IPI the boot vCPU, halt. */
ap_main:
        movl    LAPIC_ID, %eax
        shrl    $24, %eax
        movl    %eax, %ebx
        andl    $(MAX_APS - 1), %eax
        incl    %eax
        shll    $10, %eax
        addl    $ap_stacks, %eax
        movl    %eax, %esp                      /* a 1 KiB stack per APIC id */
        movl    $1, %eax
8:      xchgl   %eax, print_lock
        testl   %eax, %eax
        jz      9f
        pause
        movl    $1, %eax
        jmp     8b
9:      movl    $msg_ap, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_apup, %esi
        call    puts
        movl    $0, print_lock
        lock incl ap_count
        movl    $0, ICR_HI                      /* destination: APIC id 0, the boot vCPU */
        leal    0x4000 + IPI_VECTOR(%ebx), %eax /* fixed, assert, vector 0x40 + APIC id */
        movl    %eax, ICR_LO
10:     cli
        hlt
        jmp     10b

/* ipi_count = how many of the vectors 0x41 .. 0x40 + ncpus - 1 are pending in the IRR. */
count_ipis:
        pushl   %ecx
        movl    LAPIC_IRR2, %eax
        movl    ncpus, %ecx
        decl    %ecx
        movl    $0, ipi_count
1:      jecxz   2f
        btl     %ecx, %eax
        adcl    $0, ipi_count
        decl    %ecx
        jmp     1b
2:      popl    %ecx
        ret

icr_wait:
        testl   $(1 << 12), ICR_LO
        jz      1f
        pause
        jmp     icr_wait
1:      ret

        DEFINE_PUTS
        DEFINE_PUTDEC32

        .section .rodata
msg_mem:       .asciz "multiboot: mem_lower="
msg_kib_upper: .asciz " KiB mem_upper="
msg_kib:       .asciz " KiB\n"
msg_cmdline:   .asciz "multiboot: cmdline="
msg_module:    .asciz "multiboot: module 0: "
msg_bytes:     .asciz " bytes: "
msg_fwcfg:     .asciz "fw_cfg: QEMU signature, NB_CPUS="
msg_smp:       .asciz "smp: "
msg_of:        .asciz " of "
msg_up:        .asciz " vCPUs up, "
msg_ipis:      .asciz " IPIs\n"
msg_ap:        .asciz "AP "
msg_apup:      .asciz " up\n"
msg_nl:        .asciz "\n"
msg_fail:      .asciz "multiboot: failed\n"

        .data
        .balign 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff              /* 0x08: flat 32-bit code */
        .quad   0x00cf92000000ffff              /* 0x10: flat data */
gdt_end:
gdtr:   .word   gdt_end - gdt - 1
        .long   gdt
ncpus:      .long 1
ap_count:   .long 0
ipi_count:  .long 0
print_lock: .long 0

        .bss
        .balign 8
        .balign 16
        .space  4096
bsp_stack_top:
ap_stacks:
        .space  (MAX_APS + 1) * 1024
