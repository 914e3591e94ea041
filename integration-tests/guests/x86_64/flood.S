/*
 * A guest that floods its console: 8192 lines of 63 'x' and a newline (512 KiB), as fast as the
 * serial port takes them, then exits 0x10. tetra must never let a slow reader of its output
 * (a full stdout pipe) stall the vCPU (tests/suite/control.rs). Loaded raw at 1 MiB in protected
 * mode.
 */
        .include "common.inc"
        .code32
        .text
        .globl  _start
_start:
        movl    $8192, %ecx
        movw    $COM1, %dx
1:      movl    $63, %ebx
        movb    $'x', %al
2:      outb    %al, %dx
        decl    %ebx
        jnz     2b
        movb    $'\n', %al
        outb    %al, %dx
        decl    %ecx
        jnz     1b
        EXIT    0x10
