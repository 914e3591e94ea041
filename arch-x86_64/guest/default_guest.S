/*
 * tetra's embedded default guest: what `tetra run` boots when no --kernel is given.
 *
 * A multiboot (v1) kernel, entered in 32-bit protected mode with paging off. It
 *   1. greets on COM1,
 *   2. reads the number of vCPUs from fw_cfg (key 0x05, NB_CPUS),
 *   3. wakes every other vCPU with INIT, SIPI, SIPI through its local APIC (all-excluding-self),
 *   4. waits for each to check in (a locked increment in the trampoline page),
 *   5. says how many vCPUs came up, and
 *   6. powers off through the ACPI PM1a control register (SLP_TYP=S5 | SLP_EN): tetra exits 0.
 * If a vCPU fails to check in, it ends through the debug-exit port 0xf4 with status 1 instead
 * (tetra exits (1 << 1) | 1 = 3).
 *
 * tetra's UART transmits synchronously, so the guest does not poll LSR before each byte.
 */
        .set COM1,          0x3f8
        .set FW_CFG_SEL,    0x510
        .set FW_CFG_DATA,   0x511
        .set FW_CFG_NB_CPUS, 0x05
        .set LAPIC_SVR,     0xfee000f0
        .set LAPIC_ICR_LO,  0xfee00300
        .set LAPIC_ICR_HI,  0xfee00310
        .set ICR_BUSY,      1 << 12
        .set ICR_INIT_ALL,  0x000c4500      /* INIT, level assert, all excluding self */
        .set ICR_SIPI_ALL,  0x000c4600      /* STARTUP, all excluding self; | vector  */
        .set TRAMPOLINE,    0x8000          /* SIPI vector 0x08: APs start at 0800:0000 */
        .set PM1A_CNT,      0x604
        .set SLP_EN_S5,     (1 << 13) | (5 << 10)
        .set DEBUG_EXIT,    0xf4
        .set AP_TIMEOUT,    1 << 26         /* pause-loop iterations before giving up */

        .section .multiboot, "a"
        .balign 4
        .long   0x1badb002                  /* magic */
        .long   0                           /* flags: nothing asked of the loader */
        .long   -0x1badb002                 /* checksum: magic + flags + checksum = 0 */

        .text
/*
 * The AP trampoline, copied to TRAMPOLINE. An AP starts here in real mode with CS = 0x0800,
 * checks in, and halts for good.
 */
        .code16
ap_start:
        cli
        lock incl %cs:(ap_count - ap_start)
1:      hlt
        jmp     1b
        .balign 4
ap_count:
        .long   0
ap_end:
        .set AP_COUNT, TRAMPOLINE + (ap_count - ap_start)

        .code32
        .globl  _start
_start:
        movl    $stack_top, %esp
        movl    $msg_hello, %esi
        call    puts

        /* fw_cfg: select NB_CPUS, read it as a little-endian u16 into %ebx. */
        movw    $FW_CFG_SEL, %dx
        movw    $FW_CFG_NB_CPUS, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        movzbl  %al, %ebx
        inb     %dx, %al
        movzbl  %al, %eax
        shll    $8, %eax
        orl     %eax, %ebx

        movl    $1, %edi                    /* %edi: vCPUs up (this one) */
        cmpl    $1, %ebx
        jbe     report

        /* Copy the trampoline below 1 MiB, where a SIPI can start it. */
        movl    $ap_start, %esi
        movl    $TRAMPOLINE, %edi
        movl    $(ap_end - ap_start), %ecx
        cld
        rep movsb

        movl    $0x1ff, LAPIC_SVR           /* software-enable the LAPIC, spurious vector 0xff */
        movl    $0, LAPIC_ICR_HI
        movl    $ICR_INIT_ALL, LAPIC_ICR_LO
        call    icr_wait
        movl    $(ICR_SIPI_ALL | (TRAMPOLINE >> 12)), LAPIC_ICR_LO
        call    icr_wait
        movl    $(ICR_SIPI_ALL | (TRAMPOLINE >> 12)), LAPIC_ICR_LO
        call    icr_wait

        /* Wait until every AP has checked in, or give up. */
        movl    $AP_TIMEOUT, %ecx
1:      movl    AP_COUNT, %edi
        incl    %edi
        cmpl    %ebx, %edi
        jae     report
        pause
        loop    1b

report:
        movl    %edi, %eax
        call    putdec
        movl    $msg_of, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_up, %esi
        call    puts

        cmpl    %ebx, %edi
        jne     fail
        movw    $PM1A_CNT, %dx
        movw    $SLP_EN_S5, %ax
        outw    %ax, %dx
fail:
        movl    $1, %eax
        outl    %eax, $DEBUG_EXIT
2:      hlt
        jmp     2b

/* Waits for the LAPIC to accept the last IPI. */
icr_wait:
        testl   $ICR_BUSY, LAPIC_ICR_LO
        jz      1f
        pause
        jmp     icr_wait
1:      ret

/* Writes the NUL-terminated string at %esi to COM1. */
puts:
        movw    $COM1, %dx
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:      ret

/* Writes %eax in decimal to COM1. */
putdec:
        xorl    %ecx, %ecx
        movl    $10, %esi
1:      xorl    %edx, %edx
        divl    %esi
        addl    $'0', %edx
        pushl   %edx
        incl    %ecx
        testl   %eax, %eax
        jnz     1b
        movw    $COM1, %dx
2:      popl    %eax
        outb    %al, %dx
        loop    2b
        ret

        .section .rodata
msg_hello:
        .asciz  "Hello from tetra's embedded guest (x86_64, multiboot, 32-bit protected mode).\n"
msg_of:
        .asciz  " of "
msg_up:
        .asciz  " vCPUs came up.\n"

        .bss
        .balign 16
        .space  4096
stack_top:
