/*
 * Guest "power_button": the ACPI fixed-feature power button and its SCI (issue 16; tests/suite/
 * power_button.rs). 32-bit code loaded raw at 1 MiB (`--raw 0x100000:protected`).
 *
 * As Linux routes the SCI: the 8259s masked, IOAPIC pin 9 (the MADT's override of ISA IRQ 9:
 * active high, level) unmasked to vector 0x49 on APIC 0, the local APIC enabled. The SCI handler
 * counts itself, reads PM1 status (port 0x600) and, with PWRBTN_STS (bit 8), counts the press
 * and clears the bit (write 1 to clear), which must drop the SCI; then the EOI. An SCI that finds
 * no status is let pass, as Linux's handler does (this machine's software KVM delivers one such
 * after the first, the IOAPIC's remote IRR still set after the EOI); a line that did not drop
 * would come back after every EOI. The handler does not return (the same KVM cannot emulate a
 * protected-mode iret in the entry state tetra gives raw guests): it drops its frame and goes on
 * at `sci_next` with interrupts off.
 *
 * With an empty kernel command line (fw_cfg): sets PWRBTN_EN in PM1 enable (0x602), prints
 * "power button: waiting" and halts with interrupts on. After the press it prints "power button
 * pressed", lets interrupts in for about 20 ms on the PM timer, checks that the press was seen
 * once, that the SCI came at most 3 times (else "power button: N SCIs, M presses or the status
 * stayed set", exit 0x3e) and that PWRBTN_STS is clear, prints "power button: bye" and powers
 * off through S5 (status 0).
 *
 * With any command line: PWRBTN_EN stays clear. Prints "power button: waiting, not enabled" and
 * polls PM1 status with interrupts on; when PWRBTN_STS appears it waits about 50 ms on the PM
 * timer for an SCI that must not come (if one came: "power button: an SCI without PWRBTN_EN",
 * exit 0x3d), prints "power button: status set, no SCI" and halts for ever, the VM running.
 * An S5 write that returns exits 0x3f.
 */
        .include "common.inc"
        .set PM1_STS, 0x600
        .set PM1_EN, 0x602
        .set PM1_CNT, 0x604
        .set PM_TMR, 0x608
        .set PWRBTN, 1 << 8
        .set SLP_TYP_S5, 5 << 10
        .set SLP_EN, 1 << 13
        .set IOAPIC, 0xfec00000
        .set IOAPIC_WIN, IOAPIC + 0x10
        .set SCI_PIN, 9
        .set SCI_VECTOR, 0x49
        .set LAPIC_SVR, LAPIC + 0xf0
        .set LAPIC_EOI, LAPIC + 0xb0
        .set FW_CFG_CMDLINE_SIZE, 0x14
        .set MS_20, 71591                       /* PM timer ticks (3.579545 MHz) */
        .set MS_50, 178977
        .code32
        .text
        .globl  _start
_start:
        cli
        movl    $stack_top, %esp
        movb    $0xff, %al                      /* both 8259s masked */
        outb    %al, $0x21
        outb    %al, $0xa1

        movl    $sci, %eax                      /* a 32-bit interrupt gate to sci */
        movl    $(idt + SCI_VECTOR * 8), %edi
        movw    %ax, (%edi)
        movw    %cs, 2(%edi)
        movw    $0x8e00, 4(%edi)
        shrl    $16, %eax
        movw    %ax, 6(%edi)
        lidt    idt_desc

        movl    $0x1ff, LAPIC_SVR               /* APIC on, spurious vector 0xff */
        movl    $(0x10 + 2 * SCI_PIN + 1), IOAPIC
        movl    $0, IOAPIC_WIN                  /* to APIC 0 */
        movl    $(0x10 + 2 * SCI_PIN), IOAPIC
        movl    $(SCI_VECTOR | 1 << 15), IOAPIC_WIN     /* level, active high, unmasked */

        movw    $FW_CFG_SEL, %dx
        movw    $FW_CFG_CMDLINE_SIZE, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        cmpb    $1, %al
        ja      not_enabled

        movl    $check_press, sci_next
        movw    $PM1_EN, %dx
        movw    $PWRBTN, %ax
        outw    %ax, %dx
        movl    $msg_waiting, %esi
        call    puts
idle:   movl    $stack_top, %esp
        sti
1:      hlt
        jmp     1b

check_press:                                    /* from sci */
        cmpl    $0, presses
        je      idle
        movl    $msg_pressed, %esi
        call    puts
        movl    $settle, sci_next
        movw    $PM_TMR, %dx
        inl     %dx, %eax
        movl    %eax, t_start
settle: movl    $stack_top, %esp                /* from sci too: the 20 ms go on */
        sti
        movw    $PM_TMR, %dx
1:      inl     %dx, %eax
        subl    t_start, %eax
        cmpl    $MS_20, %eax
        jb      1b
        cli
        cmpl    $1, presses
        jne     stuck
        cmpl    $3, scis
        ja      stuck
        movw    $PM1_STS, %dx
        inw     %dx, %ax
        testw   $PWRBTN, %ax
        jnz     stuck
        movl    $msg_bye, %esi
        call    puts
        movw    $PM1_CNT, %dx
        movw    $(SLP_TYP_S5 | SLP_EN), %ax
        outw    %ax, %dx
        EXIT    0x3f

stuck:  movl    $msg_stuck, %esi
        call    puts
        movl    scis, %eax
        call    putdec
        movl    $msg_scis, %esi
        call    puts
        movl    presses, %eax
        call    putdec
        movl    $msg_presses, %esi
        call    puts
        EXIT    0x3e

not_enabled:
        movl    $unwanted, sci_next
        movl    $msg_not_enabled, %esi
        call    puts
        sti
        movw    $PM1_STS, %dx
1:      inw     %dx, %ax
        testw   $PWRBTN, %ax
        jz      1b
        movl    $MS_50, %ebx
        call    delay
        movl    $msg_latched, %esi
        call    puts
2:      hlt
        jmp     2b

unwanted:
        movl    $msg_unwanted, %esi
        call    puts
        EXIT    0x3d

/* delay: waits %ebx PM timer ticks. Clobbers %eax, %ecx, %edx. */
delay:  movw    $PM_TMR, %dx
        inl     %dx, %eax
        movl    %eax, %ecx
1:      inl     %dx, %eax
        subl    %ecx, %eax
        cmpl    %ebx, %eax
        jb      1b
        ret

/* The SCI: counted; a power button press counted and cleared; the EOI; on to sci_next with
 * interrupts off. */
sci:    incl    scis
        movw    $PM1_STS, %dx
        inw     %dx, %ax
        testw   $PWRBTN, %ax
        jz      1f
        incl    presses
        movw    $PWRBTN, %ax
        outw    %ax, %dx
1:      movl    $0, LAPIC_EOI
        jmp     *sci_next

        DEFINE_PUTS
        DEFINE_PUTDEC32
msg_waiting:     .asciz "power button: waiting\n"
msg_pressed:     .asciz "power button pressed\n"
msg_bye:         .asciz "power button: bye\n"
msg_stuck:       .asciz "power button: "
msg_scis:        .asciz " SCIs, "
msg_presses:     .asciz " presses or the status stayed set\n"
msg_not_enabled: .asciz "power button: waiting, not enabled\n"
msg_latched:     .asciz "power button: status set, no SCI\n"
msg_unwanted:    .asciz "power button: an SCI without PWRBTN_EN\n"
        .balign 8
idt_desc:
        .word   256 * 8 - 1
        .long   idt
        .balign 4
presses:
        .long   0
scis:   .long   0
t_start:
        .long   0
sci_next:
        .long   0
        .balign 8
idt:    .space  256 * 8
        .balign 16
        .space  1024
stack_top:
