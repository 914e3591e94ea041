/*
 * Says goodbye and powers the VM off with PSCI SYSTEM_OFF (tetra ends with status 0). Should the
 * call return, exits 0x3f through the debug-exit device.
 */
        .include "common.inc"
        .section .text.start, "ax"
        .globl  _start
_start:
        PUTS    msg_bye
        PSCI    PSCI_SYSTEM_OFF
        PUTS    msg_returned
        EXIT    0x3f

        DEFINE_CONSOLE
msg_bye:      .asciz "poweroff: bye\n"
msg_returned: .asciz "poweroff: SYSTEM_OFF returned\n"
