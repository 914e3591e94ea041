/*
 * Shared contract "poweroff": prints "poweroff: ok" and powers the machine off (status 0).
 * Here: RTAS power-off, its token looked up in the device tree's /rtas node. A power-off call
 * with the wrong argument count must first fail with -3 and leave the machine running.
 */
        .include "common.inc"
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        mr      %r31, %r3               /* device tree */
        bl      guest_init
        mr      %r3, %r31
        LA      %r4, name_power_off
        bl      rtas_token
        mr      %r30, %r3
        cmpwi   %r30, -1
        beq     no_token
        mr      %r3, %r30
        li      %r4, 1                  /* one argument: a parameter error */
        li      %r5, 1
        li      %r6, 0
        bl      rtas_call
        cmpdi   %r3, 0
        bne     bad_call
        cmpdi   %r4, -3
        bne     bad_call
        PRINT   msg_ok
        mr      %r3, %r30
        li      %r4, 2
        li      %r5, 1
        li      %r6, 0                  /* power-on mask hi, lo */
        li      %r7, 0
        bl      rtas_call
        PRINT   msg_returned
        EXIT    0x12
no_token:
        PRINT   msg_no_token
        EXIT    0x11
bad_call:
        PRINT   msg_bad
        EXIT    0x13

        DEFINE_COMMON
name_power_off: .asciz "power-off"
msg_ok:       .asciz "poweroff: ok\n"
msg_no_token: .asciz "poweroff: no power-off token in /rtas\n"
msg_bad:      .asciz "poweroff: a bad call did not fail with -3\n"
msg_returned: .asciz "poweroff: power-off returned\n"
