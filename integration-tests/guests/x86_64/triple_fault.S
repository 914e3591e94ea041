/*
 * Guest "triple_fault": counts its boots in CMOS NVRAM byte 0x40 (battery-backed: a machine
 * reset keeps it), prints "triple fault: boot N" and triple-faults (ud2 with an empty IDT: #UD,
 * then #DF, then the fault of that; int3 instead stops this machine's software KVM with an
 * emulation error) until N reaches 3; then prints "triple fault: done after 3 boots" and powers
 * off through ACPI S5 (PM1a control, port 0x604: status 0). With tetra's
 * `--on-triple-fault reset` it boots three times; with `crash` (the default) tetra ends with
 * status 6 after boot 1.
 *
 * Each boot also checks that the reset was a real one: tetra's entry state (CS = 0x08, EBX = 0;
 * the previous boot left its count in EBX), and its own payload loaded again (it clears the word
 * `pristine` before faulting). 32-bit code loaded raw at 1 MiB (`--raw 0x100000:protected`).
 * With more than one vCPU (fw_cfg NB_CPUS) each boot also starts the secondaries (INIT, SIPI,
 * SIPI through the LAPIC, a real-mode trampoline at 0x3000, as the `smp` guest does), which count
 * themselves in and then count for ever in `ap_beats`; the boot vCPU prints "triple fault:
 * secondary up" once one has. A reset must have put them back to waiting for a SIPI: a
 * secondary still running after it would move `ap_beats` (reloaded as 0), and one not waiting
 * for a SIPI would not come up again.
 * Exits through the debug-exit port with 0x3d (wrong entry state), 0x3c (payload not loaded
 * again), 0x3b (a secondary kept running through the reset), 0x3a (no secondary came up),
 * 0x3e (ud2 returned) or 0x3f (S5 returned).
 */
        .include "common.inc"
        .set CMOS_INDEX, 0x70
        .set CMOS_DATA, 0x71
        .set BOOTS, 0x40                /* an NVRAM byte no BIOS convention uses */
        .set PM1A_CNT, 0x604
        .set SLP_TYP_S5, 5 << 10
        .set SLP_EN, 1 << 13
        .set FW_CFG_NB_CPUS, 0x05
        .set TRAMPOLINE, 0x3000                 /* SIPI vector 0x03 */
        .set ICR_LO, LAPIC + 0x300
        .set ICR_HI, LAPIC + 0x310
        .set LAPIC_SVR, LAPIC + 0xf0
        .set ICR_INIT_ALL, 0x000c4500           /* INIT, assert, all excluding self */
        .set ICR_SIPI_ALL, 0x000c4600 | (TRAMPOLINE >> 12)
        .set ICR_BUSY, 1 << 12
        .set TIMEOUT, 1 << 20                   /* polls */
        .set SETTLE, 1 << 12                    /* polls a running secondary would count in */
        .code32
        .text
        .globl  _start
_start:
        testl   %ebx, %ebx
        jnz     bad_entry
        movw    %cs, %ax
        cmpw    $0x08, %ax
        jne     bad_entry
        cmpl    $0x1234abcd, pristine
        jne     bad_payload
        movl    $0, pristine

        movb    $BOOTS, %al
        outb    %al, $CMOS_INDEX
        inb     $CMOS_DATA, %al
        incb    %al
        movzbl  %al, %ebx
        movb    $BOOTS, %al
        outb    %al, $CMOS_INDEX
        movb    %bl, %al
        outb    %al, $CMOS_DATA

        movl    $msg_boot, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_nl, %esi
        call    puts

        movw    $FW_CFG_SEL, %dx                /* more than one vCPU? */
        movw    $FW_CFG_NB_CPUS, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        cmpb    $1, %al
        jbe     fault
        movl    $SETTLE, %ecx
1:      pause
        loop    1b
        cmpl    $0, ap_beats
        jne     ap_kept_running
        movl    $0x1ff, LAPIC_SVR               /* LAPIC on, spurious vector 0xff */
        movl    $ap_tramp, %esi
        movl    $TRAMPOLINE, %edi
        movl    $(ap_tramp_end - ap_tramp), %ecx
        cld
        rep movsb
        movl    $0, ICR_HI
        movl    $ICR_INIT_ALL, ICR_LO
        call    icr_wait
        movl    $ICR_SIPI_ALL, ICR_LO
        call    icr_wait
        movl    $ICR_SIPI_ALL, ICR_LO
        call    icr_wait
        movl    $TIMEOUT, %ecx
1:      cmpl    $0, ap_count
        jne     2f
        pause
        loop    1b
        movl    $msg_no_ap, %esi
        call    puts
        EXIT    0x3a
2:      movl    $msg_ap_up, %esi
        call    puts

fault:
        cmpl    $3, %ebx
        jae     done

        lidt    empty_idt
        ud2
        movl    $msg_returned, %esi
        call    puts
        EXIT    0x3e

done:
        movl    $msg_done, %esi
        call    puts
        movw    $PM1A_CNT, %dx
        movw    $(SLP_TYP_S5 | SLP_EN), %ax
        outw    %ax, %dx
        EXIT    0x3f

bad_entry:
        movl    $msg_entry, %esi
        call    puts
        EXIT    0x3d
bad_payload:
        movl    $msg_payload, %esi
        call    puts
        EXIT    0x3c
ap_kept_running:
        movl    $msg_ap_kept, %esi
        call    puts
        EXIT    0x3b

icr_wait:
        testl   $ICR_BUSY, ICR_LO
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
        ljmpl   $0x08, $(TRAMPOLINE + ap_pm - ap_tramp)
        .code32
ap_pm:
        movw    $0x18, %ax
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

/* A secondary, in protected mode: counts itself in, then counts for ever. */
ap_main:
        lock incl ap_count
1:      lock incl ap_beats
        pause
        jmp     1b

        DEFINE_PUTS
        DEFINE_PUTDEC32

        .balign 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff              /* 0x08: flat 32-bit code */
        .quad   0
        .quad   0x00cf92000000ffff              /* 0x18: flat data */
gdt_end:
ap_count:     .long 0
ap_beats:     .long 0
pristine:     .long 0x1234abcd
empty_idt:    .word 0
              .long 0
msg_boot:     .asciz "triple fault: boot "
msg_nl:       .asciz "\n"
msg_done:     .asciz "triple fault: done after 3 boots\n"
msg_returned: .asciz "triple fault: ud2 returned\n"
msg_entry:    .asciz "triple fault: not tetra's entry state\n"
msg_payload:  .asciz "triple fault: the payload was not loaded again\n"
msg_ap_up:    .asciz "triple fault: secondary up\n"
msg_no_ap:    .asciz "triple fault: no secondary came up\n"
msg_ap_kept:  .asciz "triple fault: a secondary kept running through the reset\n"
