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
 * Exits through the debug-exit port with 0x3d (wrong entry state), 0x3c (payload not loaded
 * again), 0x3e (ud2 returned) or 0x3f (S5 returned).
 */
        .include "common.inc"
        .set CMOS_INDEX, 0x70
        .set CMOS_DATA, 0x71
        .set BOOTS, 0x40                /* an NVRAM byte no BIOS convention uses */
        .set PM1A_CNT, 0x604
        .set SLP_TYP_S5, 5 << 10
        .set SLP_EN, 1 << 13
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

        DEFINE_PUTS
        DEFINE_PUTDEC32

        .balign 4
pristine:     .long 0x1234abcd
empty_idt:    .word 0
              .long 0
msg_boot:     .asciz "triple fault: boot "
msg_nl:       .asciz "\n"
msg_done:     .asciz "triple fault: done after 3 boots\n"
msg_returned: .asciz "triple fault: ud2 returned\n"
msg_entry:    .asciz "triple fault: not tetra's entry state\n"
msg_payload:  .asciz "triple fault: the payload was not loaded again\n"
