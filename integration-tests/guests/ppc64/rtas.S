/*
 * RTAS through H_RTAS, tokens from the device tree's /rtas: get-time-of-day (printed as
 * "rtas: date Y M D"), query-cpu-stopped-state of itself (running, 2) and of a vCPU that does
 * not exist (-3), display-character, an unknown token (H_PARAMETER and -3), power-off with the
 * wrong argument count (-3) and start-cpu of a running vCPU (-1); then "rtas: ok" and
 * system-reboot, which ends the VM. 0x11.. on a failure.
 */
        .include "common.inc"
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        mr      %r31, %r3
        bl      guest_init

        mr      %r3, %r31
        LA      %r4, n_time
        bl      rtas_token
        li      %r4, 0
        li      %r5, 8
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_time
        mr      %r28, %r5               /* year */
        mr      %r27, %r6               /* month */
        mr      %r26, %r7               /* day */
        PRINT   msg_date
        mr      %r3, %r28
        bl      putdec
        PRINT   msg_sp
        mr      %r3, %r27
        bl      putdec
        PRINT   msg_sp
        mr      %r3, %r26
        bl      putdec
        PRINT   msg_nl

        mr      %r3, %r31
        LA      %r4, n_query
        bl      rtas_token
        mr      %r30, %r3
        li      %r4, 1
        li      %r5, 2
        li      %r6, 0
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_query
        cmpdi   %r5, 2
        bne     fail_query
        mr      %r3, %r30
        li      %r4, 1
        li      %r5, 2
        li      %r6, 99
        bl      rtas_call
        cmpdi   %r4, -3
        bne     fail_query

        mr      %r3, %r31
        LA      %r4, n_display
        bl      rtas_token
        mr      %r30, %r3
        li      %r29, 0
1:      LA      %r9, msg_display
        lbzx    %r6, %r9, %r29
        cmpwi   %r6, 0
        beq     2f
        mr      %r3, %r30
        li      %r4, 1
        li      %r5, 1
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_display
        addi    %r29, %r29, 1
        b       1b

2:      li      %r3, 1                  /* no function has token 1 */
        li      %r4, 0
        li      %r5, 1
        bl      rtas_call
        cmpdi   %r3, -4
        bne     fail_unknown
        cmpdi   %r4, -3
        bne     fail_unknown

        mr      %r3, %r31
        LA      %r4, n_power_off
        bl      rtas_token
        li      %r4, 0
        li      %r5, 1
        bl      rtas_call
        cmpdi   %r4, -3
        bne     fail_power_off

        mr      %r3, %r31
        LA      %r4, n_start
        bl      rtas_token
        li      %r4, 3
        li      %r5, 1
        li      %r6, 0                  /* vCPU 0: this one, running */
        LA      %r7, _start
        li      %r8, 0
        bl      rtas_call
        cmpdi   %r4, -1
        bne     fail_start

        PRINT   msg_ok
        mr      %r3, %r31
        LA      %r4, n_reboot
        bl      rtas_token
        li      %r4, 0
        li      %r5, 1
        bl      rtas_call
        PRINT   msg_returned
        EXIT    0x1f

fail_time:
        PRINT   msg_f_time
        EXIT    0x11
fail_query:
        PRINT   msg_f_query
        EXIT    0x12
fail_display:
        PRINT   msg_f_display
        EXIT    0x13
fail_unknown:
        PRINT   msg_f_unknown
        EXIT    0x14
fail_power_off:
        PRINT   msg_f_power_off
        EXIT    0x15
fail_start:
        PRINT   msg_f_start
        EXIT    0x16

        DEFINE_COMMON
n_time:         .asciz "get-time-of-day"
n_query:        .asciz "query-cpu-stopped-state"
n_display:      .asciz "display-character"
n_power_off:    .asciz "power-off"
n_start:        .asciz "start-cpu"
n_reboot:       .asciz "system-reboot"
msg_date:       .asciz "rtas: date "
msg_sp:         .asciz " "
msg_display:    .asciz "rtas: display-character ok\n"
msg_ok:         .asciz "rtas: ok\n"
msg_returned:   .asciz "rtas: system-reboot returned\n"
msg_f_time:     .asciz "rtas: get-time-of-day failed\n"
msg_f_query:    .asciz "rtas: query-cpu-stopped-state answered wrongly\n"
msg_f_display:  .asciz "rtas: display-character failed\n"
msg_f_unknown:  .asciz "rtas: an unknown token was not refused\n"
msg_f_power_off: .asciz "rtas: power-off with no arguments did not fail\n"
msg_f_start:    .asciz "rtas: start-cpu of a running vCPU did not fail with -1\n"
