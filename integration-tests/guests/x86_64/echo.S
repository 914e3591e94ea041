/*
 * Shared contract "echo": prints "echo: ready", reads one line from the console and prints
 * "echo: <line>", then exits 0x10. Here: 32-bit code loaded raw at 1 MiB
 * (`--raw 0x100000:protected`); the line comes from COM1's receive buffer, polled through the
 * line status register (LSR bit 0, data ready). At most MAX bytes are kept; a CR or LF ends it.
 */
        .include "common.inc"
        .set COM1_LSR, COM1 + 5
        .set LSR_DR, 0x01
        .set MAX, 62
        .code32
        .text
        .globl  _start
_start:
        movl    $stack_top, %esp
        movl    $msg_ready, %esi
        call    puts
        movl    $line, %edi
        xorl    %ebx, %ebx                      /* bytes in line */
poll:   movw    $COM1_LSR, %dx
        inb     %dx, %al
        testb   $LSR_DR, %al
        jz      poll
        movw    $COM1, %dx
        inb     %dx, %al
        cmpb    $'\n', %al
        je      done
        cmpb    $'\r', %al
        je      done
        movb    %al, (%edi, %ebx)
        incl    %ebx
        cmpl    $MAX, %ebx
        jb      poll
done:   movb    $0, (%edi, %ebx)
        movl    $msg_echo, %esi
        call    puts
        movl    $line, %esi
        call    puts
        movl    $msg_nl, %esi
        call    puts
        EXIT    0x10

        DEFINE_PUTS
msg_ready: .asciz "echo: ready\n"
msg_echo:  .asciz "echo: "
msg_nl:    .asciz "\n"
        .balign 16
line:   .space  MAX + 2
        .balign 16
        .space  256
stack_top:
