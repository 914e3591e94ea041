/*
 * A multiboot (v1) test kernel that measures the ACPI PM timer (port 0x608, 3.579545 MHz)
 * against the PIT (1.193182 MHz), as Linux calibrates clocks: PIT channel 2 runs a square wave
 * of 65536 ticks (mode 3, gated through port 0x61, its output read back there), and the PM timer
 * is read at a rising edge of the output and at each of the 20 rising edges after it, so that
 * the time from an edge to the read is in both readings of each period. Prints "pmtimer: <n> PM
 * ticks in 1310720 PIT ticks" (about 3932160 at the right rate), then each period's count,
 * "pmtimer: period <n>" (about 196608: a vCPU descheduled past an edge shows as one period
 * of twice that or more, which the test's median sets aside), and ends with status 0x20; 0x21
 * if the output stopped.
 */
        .include "common.inc"
        .set MB_MAGIC,      0x1badb002
        .set MB_FLAGS,      0x2
        .set PM_TMR,        0x608
        .set PERIODS,       20
        .set PATIENCE,      1 << 26         /* polls of port 0x61 per edge */

        .section .multiboot, "a"
        .balign 4
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .code32
        .globl  _start
_start:
        movl    $stack_top, %esp
        inb     $0x61, %al                      /* gate 2 on, speaker off */
        andb    $~0x02, %al
        orb     $0x01, %al
        outb    %al, $0x61
        movb    $0xb6, %al                      /* channel 2, LSB then MSB, mode 3, binary */
        outb    %al, $0x43
        xorb    %al, %al                        /* 0 = 65536 */
        outb    %al, $0x42
        outb    %al, $0x42
        call    rising_edge
        movw    $PM_TMR, %dx
        inl     %dx, %eax
        movl    %eax, %esi                      /* start */
        movl    %eax, %edi                      /* the previous edge's reading */
        xorl    %ebp, %ebp
1:      call    rising_edge
        movw    $PM_TMR, %dx
        inl     %dx, %eax
        movl    %eax, %ebx
        subl    %edi, %ebx                      /* 32-bit counter: wraps cleanly */
        movl    %ebx, periods(,%ebp,4)
        movl    %eax, %edi
        incl    %ebp
        cmpl    $PERIODS, %ebp
        jne     1b
        subl    %esi, %eax
        movl    %eax, %ebx

        movl    $msg_pm, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_pit, %esi
        call    puts
        xorl    %ebp, %ebp
2:      movl    $msg_period, %esi
        call    puts
        movl    periods(,%ebp,4), %eax
        call    putdec
        movl    $msg_nl, %esi
        call    puts
        incl    %ebp
        cmpl    $PERIODS, %ebp
        jne     2b
        EXIT    0x20

/* Waits for OUT2 low, then high. Clobbers %eax, %ecx. */
rising_edge:
        movl    $PATIENCE, %ecx
1:      inb     $0x61, %al
        testb   $0x20, %al
        jz      2f
        loop    1b
        jmp     stuck
2:      movl    $PATIENCE, %ecx
3:      inb     $0x61, %al
        testb   $0x20, %al
        jnz     4f
        loop    3b
        jmp     stuck
4:      ret

stuck:
        movl    $msg_stuck, %esi
        call    puts
        EXIT    0x21

        DEFINE_PUTS
        DEFINE_PUTDEC32

msg_pm:         .asciz "pmtimer: "
msg_pit:        .asciz " PM ticks in 1310720 PIT ticks\n"
msg_stuck:      .asciz "pmtimer: the PIT's channel 2 output stopped\n"
msg_period:     .asciz "pmtimer: period "
msg_nl:         .asciz "\n"

        .bss
        .balign 16
periods:        .space  4 * PERIODS
        .space  1024
stack_top:
