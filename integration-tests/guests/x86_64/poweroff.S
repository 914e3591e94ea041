/*
 * Shared contract "poweroff": prints "poweroff: bye" and powers the VM off (tetra ends with
 * status 0). Here: 16-bit real-mode code loaded raw at 0x8000 (`--raw 0x8000:real`), entering S5
 * through the ACPI PM1a control register at port 0x604 (SLP_TYP = 5, tetra's `\_S5`, with
 * SLP_EN). Should the write return, exits 0x3f through the debug-exit port.
 */
        .include "common.inc"
        .set PM1A_CNT, 0x604
        .set SLP_TYP_S5, 5 << 10
        .set SLP_EN, 1 << 13
        .code16
        .text
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $0x7000, %sp
        movw    $msg_bye, %si
        call    puts
        movw    $PM1A_CNT, %dx
        movw    $(SLP_TYP_S5 | SLP_EN), %ax
        outw    %ax, %dx
        movw    $msg_returned, %si
        call    puts
        EXIT    0x3f

        DEFINE_PUTS
msg_bye:      .asciz "poweroff: bye\n"
msg_returned: .asciz "poweroff: S5 returned\n"
