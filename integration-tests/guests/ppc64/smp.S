/*
 * Shared contract "smp": with n vCPUs, every secondary reports "smp: cpu K up"; then the boot
 * vCPU prints "smp: n of n vCPUs up" and exits 0x40 + n.
 *
 * Here: the boot vCPU finds n by asking RTAS query-cpu-stopped-state for vCPUs 1, 2, ... until
 * one does not exist (-3); each must be stopped (0) before it starts it with start-cpu. A
 * secondary starts big-endian (FIXUP_ENDIAN), reports under a lock, counts itself in, and calls
 * stop-self. The boot vCPU waits until all are stopped again, then restarts vCPU 1, which
 * reports "smp: cpu 1 again" (a stopped-by-itself vCPU started a second time). Tokens come from
 * the device tree.
 */
        .include "common.inc"
        .text
        .globl  _start
_start:
        lis     %r1, STACK@h
        mr      %r31, %r3               /* device tree */
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail_init
        mr      %r3, %r31
        LA      %r4, name_start
        bl      rtas_token
        mr      %r30, %r3               /* start-cpu */
        mr      %r3, %r31
        LA      %r4, name_query
        bl      rtas_token
        mr      %r29, %r3               /* query-cpu-stopped-state */
        mr      %r3, %r31
        LA      %r4, name_stop
        bl      rtas_token
        LA      %r9, tok_stop
        stw     %r3, 0(%r9)
        LA      %r27, counter

        li      %r28, 1                 /* next vCPU */
start_next:
        mr      %r3, %r29
        li      %r4, 1
        li      %r5, 2
        mr      %r6, %r28
        bl      rtas_call
        cmpdi   %r4, -3                 /* no such vCPU: all found */
        beq     all_started
        cmpdi   %r4, 0
        bne     fail_query
        cmpdi   %r5, 0                  /* must be stopped */
        bne     fail_not_stopped
        mr      %r3, %r30
        li      %r4, 3
        li      %r5, 1
        mr      %r6, %r28
        LA      %r7, secondary
        mr      %r8, %r28               /* its r3: its number */
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_start
        addi    %r28, %r28, 1
        b       start_next

all_started:                            /* r28 = n */
        addi    %r26, %r28, -1
1:      lwz     %r9, 0(%r27)
        cmpw    %r9, %r26
        blt     1b
        li      %r26, 1
2:      cmpd    %r26, %r28
        bge     4f
3:      mr      %r3, %r29               /* wait until vCPU r26 is stopped */
        li      %r4, 1
        li      %r5, 2
        mr      %r6, %r26
        bl      rtas_call
        cmpdi   %r5, 0
        bne     3b
        addi    %r26, %r26, 1
        b       2b
4:      cmpdi   %r28, 1
        ble     6f
        mr      %r3, %r30               /* restart vCPU 1 */
        li      %r4, 3
        li      %r5, 1
        li      %r6, 1
        LA      %r7, secondary
        li      %r8, 0x101
        bl      rtas_call
        cmpdi   %r4, 0
        bne     fail_start
5:      lwz     %r9, 0(%r27)
        cmpw    %r9, %r28
        blt     5b
6:      PRINT   msg_smp
        mr      %r3, %r28
        bl      putdec
        PRINT   msg_of
        mr      %r3, %r28
        bl      putdec
        PRINT   msg_up
        addi    %r3, %r28, 0x40
        b       debug_exit

fail_init:
        PRINT   msg_fail_init
        EXIT    0x11
fail_query:
        PRINT   msg_fail_query
        EXIT    0x12
fail_not_stopped:
        PRINT   msg_fail_not_stopped
        EXIT    0x13
fail_start:
        PRINT   msg_fail_start
        EXIT    0x14

/* A secondary: big-endian until FIXUP_ENDIAN; r3 = its number, | 0x100 the second time. */
secondary:
        FIXUP_ENDIAN
        mr      %r31, %r3
        andi.   %r30, %r31, 0xff
        lis     %r1, STACK@h
        sldi    %r9, %r30, 14
        subf    %r1, %r9, %r1
        LA      %r28, print_lock
1:      lwarx   %r9, 0, %r28
        cmpwi   %r9, 0
        bne     1b
        li      %r9, 1
        stwcx.  %r9, 0, %r28
        bne     1b
        isync
        PRINT   msg_cpu
        mr      %r3, %r30
        bl      putdec
        andi.   %r9, %r31, 0x100
        bne     2f
        PRINT   msg_cpu_up
        b       3f
2:      PRINT   msg_cpu_again
3:      lwsync
        li      %r9, 0
        stw     %r9, 0(%r28)
        LA      %r9, counter
4:      lwarx   %r10, 0, %r9
        addi    %r10, %r10, 1
        stwcx.  %r10, 0, %r9
        bne     4b
        LA      %r9, tok_stop
        lwz     %r3, 0(%r9)
        li      %r4, 0
        li      %r5, 1
        bl      rtas_call
        PRINT   msg_stop_returned
        EXIT    0x7e

        DEFINE_COMMON
        .balign 8
counter:    .long 0
print_lock: .long 0
tok_stop:   .long 0
name_start: .asciz "start-cpu"
name_query: .asciz "query-cpu-stopped-state"
name_stop:  .asciz "stop-self"
msg_smp:    .asciz "smp: "
msg_of:     .asciz " of "
msg_up:     .asciz " vCPUs up\n"
msg_cpu:    .asciz "smp: cpu "
msg_cpu_up: .asciz " up\n"
msg_cpu_again: .asciz " again\n"
msg_fail_init:  .asciz "smp: H_SET_MODE failed\n"
msg_fail_query: .asciz "smp: query-cpu-stopped-state failed\n"
msg_fail_not_stopped: .asciz "smp: a secondary vCPU was not stopped before start-cpu\n"
msg_fail_start: .asciz "smp: start-cpu failed\n"
msg_stop_returned: .asciz "smp: stop-self returned\n"
