/*
 * Asks for a reset with PSCI SYSTEM_RESET (tetra does not reboot: it ends with status 0, as a
 * reset). Should the call return, exits 0x3f through the debug-exit device.
 */
        .include "common.inc"
        .section .text.start, "ax"
        .globl  _start
_start:
        PUTS    msg_reset
        PSCI    PSCI_SYSTEM_RESET
        PUTS    msg_returned
        EXIT    0x3f

        DEFINE_CONSOLE
msg_reset:    .asciz "reset: resetting\n"
msg_returned: .asciz "reset: SYSTEM_RESET returned\n"
