/*
 * Shared contract "reset": prints "reset: resetting" and asks for a reset (tetra does not reboot:
 * it ends with status 0, as a reset). Here: 32-bit code loaded raw at 1 MiB
 * (`--raw 0x100000:protected`), pulsing the reset line with i8042 command 0xFE on port 0x64.
 * Should the write return, exits 0x3f through the debug-exit port.
 */
        .include "common.inc"
        .set I8042_CMD, 0x64
        .set PULSE_RESET, 0xfe
        .code32
        .text
        .globl  _start
_start:
        movl    $msg_reset, %esi
        call    puts
        movb    $PULSE_RESET, %al
        outb    %al, $I8042_CMD
        movl    $msg_returned, %esi
        call    puts
        EXIT    0x3f

        DEFINE_PUTS
msg_reset:    .asciz "reset: resetting\n"
msg_returned: .asciz "reset: pulse returned\n"
