/*
 * Every hypercall and RTAS function tetra serves, called with bad arguments: each must answer
 * its PAPR error code (and change nothing: the VM must not end, no vCPU start). One line per
 * call, "badargs: NAME ok" or "badargs: NAME got X want Y"; then "badargs: N failed" and exit
 * 0x10 when none did, 0x11 otherwise. Run with 1 vCPU and the default interrupt controller.
 *
 * PAPR codes: H_FUNCTION -2, H_PARAMETER -4, H_P2 -55, H_P3 -56, H_P4 -57,
 * H_UNSUPPORTED_FLAG -256; RTAS status -1 (hardware error), -3 (parameter error).
 */
        .include "common.inc"
        .set H_SET_SPRG0, 0x24
        .set H_REGISTER_PROC_TBL, 0x37c

/* rd = a 64-bit constant. */
.macro LI64 rd, v
        lis     \rd, ((\v) >> 48) & 0xffff
        ori     \rd, \rd, ((\v) >> 32) & 0xffff
        sldi    \rd, \rd, 32
        oris    \rd, \rd, ((\v) >> 16) & 0xffff
        ori     \rd, \rd, (\v) & 0xffff
.endm

/* r3 = got, then checks it against `want` under `name`. */
.macro EXPECT want, name
        li      %r4, \want
        LA      %r5, \name
        bl      check
.endm

/* A hypercall: r3 = nr, r4-r7 = args. */
.macro HCALL nr, a0, a1, a2, a3
        li      %r3, 0
        ori     %r3, %r3, \nr
        LI64    %r4, \a0
        LI64    %r5, \a1
        LI64    %r6, \a2
        LI64    %r7, \a3
        sc      1
.endm

/* An RTAS call of function `fname` (its token from /rtas) with nargs, nret, up to 3 args;
 * r3 = H_RTAS status, r4 = rets[0]. */
.macro RTAS fname, nargs, nret, a0, a1, a2
        mr      %r3, %r31
        LA      %r4, \fname
        bl      rtas_token
        li      %r4, \nargs
        li      %r5, \nret
        LI64    %r6, \a0
        LI64    %r7, \a1
        LI64    %r8, \a2
        bl      rtas_call
.endm

        .text
        .globl  _start
_start:
        mr      %r31, %r3               /* the device tree */
        lis     %r1, STACK@h
        bl      guest_init
        li      %r28, 0                 /* failures */

        /* The console: a terminal that is not there, more than 16 bytes. */
        HCALL   H_PUT_TERM_CHAR, 0x12345, 1, 0x41000000, 0
        EXPECT  -4, n_put_termno
        HCALL   H_PUT_TERM_CHAR, VTY, 17, 0x41414141, 0x41414141
        EXPECT  -4, n_put_len
        HCALL   H_GET_TERM_CHAR, 7, 0, 0, 0
        EXPECT  -4, n_get_termno
        /* H_SET_MODE: an unknown resource, unknown flags, value1 and value2 set. */
        HCALL   H_SET_MODE, 0, 99, 0, 0
        EXPECT  -55, n_mode_resource
        HCALL   H_SET_MODE, 7, 4, 0, 0
        EXPECT  -256, n_mode_flags
        HCALL   H_SET_MODE, 1, 4, 1, 0
        EXPECT  -56, n_mode_value1
        HCALL   H_SET_MODE, 1, 4, 0, 1
        EXPECT  -57, n_mode_value2
        /* H_REGISTER_PROC_TBL: without its "modify" flag; a table not aligned to its size. */
        HCALL   H_REGISTER_PROC_TBL, 0x0d, 0x1000000, 0, 4
        EXPECT  -4, n_proc_modify
        HCALL   H_REGISTER_PROC_TBL, 0x1d, 0x1008000, 0, 4
        EXPECT  -4, n_proc_align
        /* A hypercall number nobody serves. */
        HCALL   0x5000, 0, 0, 0, 0
        EXPECT  -2, n_unknown
        /* H_RTAS: an argument block outside RAM, one that claims too many cells, and a
         * token that is no function (its status cell says -3 too). */
        HCALL   H_RTAS, 0x7fff00000000, 0, 0, 0
        EXPECT  -4, n_rtas_outside
        LA      %r10, block
        li      %r9, 0x2001
        stwbrx  %r9, 0, %r10            /* a token */
        li      %r9, 0x1000
        addi    %r11, %r10, 4
        stwbrx  %r9, 0, %r11            /* nargs = 4096 */
        li      %r9, 1
        addi    %r11, %r10, 8
        stwbrx  %r9, 0, %r11            /* nret = 1 */
        li      %r3, 0
        ori     %r3, %r3, H_RTAS
        mr      %r4, %r10
        sc      1
        EXPECT  -4, n_rtas_cells
        li      %r3, 0x7777
        li      %r4, 1
        li      %r5, 1
        li      %r6, 0
        bl      rtas_call
        mr      %r29, %r4
        EXPECT  -4, n_rtas_token
        mr      %r3, %r29
        EXPECT  -3, n_rtas_token_status

        /* RTAS functions: wrong argument counts, then bad values. */
        RTAS    s_power_off, 0, 1, 0, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_power_off_arity
        RTAS    s_get_time, 0, 3, 0, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_time_arity
        RTAS    s_display, 2, 1, 0x41, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_display_arity
        RTAS    s_query, 1, 2, 99, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_query_cpu
        RTAS    s_start, 3, 1, 99, 0x400000, 0
        mr      %r3, %r4
        EXPECT  -3, n_start_cpu
        RTAS    s_start, 3, 1, 0, 0x7ffffff0, 0
        mr      %r3, %r4
        EXPECT  -3, n_start_nip
        RTAS    s_start, 3, 1, 0, 0x400002, 0
        mr      %r3, %r4
        EXPECT  -3, n_start_align
        RTAS    s_start, 3, 1, 0, 0x400000, 0
        mr      %r3, %r4
        EXPECT  -1, n_start_running
        RTAS    s_set_xive, 3, 1, 0x9999, 0, 5
        mr      %r3, %r4
        EXPECT  -3, n_set_xive_irq
        RTAS    s_set_xive, 3, 1, 0x1000, 99, 5
        mr      %r3, %r4
        EXPECT  -3, n_set_xive_server
        RTAS    s_get_xive, 1, 3, 0x9999, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_get_xive_irq
        RTAS    s_int_off, 1, 1, 0x9999, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_int_off_irq
        RTAS    s_int_on, 1, 1, 0x9999, 0, 0
        mr      %r3, %r4
        EXPECT  -3, n_int_on_irq

        PRINT   msg_badargs
        mr      %r3, %r28
        bl      putdec
        PRINT   msg_failed
        cmpdi   %r28, 0
        bne     1f
        EXIT    0x10
1:      EXIT    0x11

/* check: r3 = got, r4 = want, r5 = the call's name; counts a mismatch in r28. */
check:
        ENTER   64
        std     %r29, 40(%r1)
        std     %r30, 48(%r1)
        std     %r27, 56(%r1)
        mr      %r29, %r3
        mr      %r30, %r4
        mr      %r27, %r5
        PRINT   msg_badargs
        mr      %r3, %r27
        bl      putstr
        cmpd    %r29, %r30
        bne     1f
        PRINT   msg_ok
        b       2f
1:      addi    %r28, %r28, 1
        PRINT   msg_got
        mr      %r3, %r29
        bl      putsigned
        PRINT   msg_want
        mr      %r3, %r30
        bl      putsigned
        PRINT   msg_nl
2:      ld      %r29, 40(%r1)
        ld      %r30, 48(%r1)
        ld      %r27, 56(%r1)
        LEAVE   64

/* putsigned: r3 as a signed decimal. */
putsigned:
        ENTER   48
        std     %r31, 40(%r1)
        mr      %r31, %r3
        cmpdi   %r31, 0
        bge     1f
        PRINT   msg_minus
        neg     %r31, %r31
1:      mr      %r3, %r31
        bl      putdec
        ld      %r31, 40(%r1)
        LEAVE   48

        DEFINE_COMMON
msg_badargs:        .asciz "badargs: "
msg_ok:             .asciz " ok\n"
msg_got:            .asciz " got "
msg_want:           .asciz " want "
msg_minus:          .asciz "-"
msg_failed:         .asciz " failed\n"
n_put_termno:       .asciz "H_PUT_TERM_CHAR unknown terminal"
n_put_len:          .asciz "H_PUT_TERM_CHAR 17 bytes"
n_get_termno:       .asciz "H_GET_TERM_CHAR unknown terminal"
n_mode_resource:    .asciz "H_SET_MODE unknown resource"
n_mode_flags:       .asciz "H_SET_MODE unknown mflags"
n_mode_value1:      .asciz "H_SET_MODE value1 set"
n_mode_value2:      .asciz "H_SET_MODE value2 set"
n_unknown:          .asciz "unknown hypercall 0x5000"
n_proc_modify:      .asciz "H_REGISTER_PROC_TBL without its modify flag"
n_proc_align:       .asciz "H_REGISTER_PROC_TBL table not aligned to its size"
n_rtas_outside:     .asciz "H_RTAS argument block outside RAM"
n_rtas_cells:       .asciz "H_RTAS 4096 argument cells"
n_rtas_token:       .asciz "H_RTAS unknown token"
n_rtas_token_status: .asciz "H_RTAS unknown token's status cell"
n_power_off_arity:  .asciz "power-off without its 2 arguments"
n_time_arity:       .asciz "get-time-of-day with 3 results, not 8"
n_display_arity:    .asciz "display-character with 2 arguments"
n_query_cpu:        .asciz "query-cpu-stopped-state of vCPU 99"
n_start_cpu:        .asciz "start-cpu of vCPU 99"
n_start_nip:        .asciz "start-cpu at an address outside RAM"
n_start_align:      .asciz "start-cpu at a misaligned address"
n_start_running:    .asciz "start-cpu of a running vCPU"
n_set_xive_irq:     .asciz "ibm,set-xive of source 0x9999"
n_set_xive_server:  .asciz "ibm,set-xive to server 99"
n_get_xive_irq:     .asciz "ibm,get-xive of source 0x9999"
n_int_off_irq:      .asciz "ibm,int-off of source 0x9999"
n_int_on_irq:       .asciz "ibm,int-on of source 0x9999"
s_power_off:        .asciz "power-off"
s_get_time:         .asciz "get-time-of-day"
s_display:          .asciz "display-character"
s_query:            .asciz "query-cpu-stopped-state"
s_start:            .asciz "start-cpu"
s_set_xive:         .asciz "ibm,set-xive"
s_get_xive:         .asciz "ibm,get-xive"
s_int_off:          .asciz "ibm,int-off"
s_int_on:           .asciz "ibm,int-on"
        .balign 8
block:              .space 64
