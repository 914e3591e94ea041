/*
 * Shared contract "dirtier" (the x86_64 one's): keeps dirtying memory and checks itself. Each
 * sweep increments a counter in each of 512 pages (2 MiB at 0x200000, below the image at
 * 4 MiB); every 100 sweeps it prints "sweep N". It sweeps until it is told to stop: a byte of
 * console input (H_GET_TERM_CHAR, polled once a sweep) or a non-zero word at STOP (0x1ff000,
 * written by a test into guest memory). It then checks that every counter equals the number
 * of sweeps done, prints "dirtier: N sweeps, every page agrees" and exits 0x10, or "dirtier: a
 * page disagrees" and exits 0x11. A page lost or left stale by a migration or a restore makes
 * the check fail. Its stack lies below STOP, out of the swept pages.
 */
        .include "common.inc"
        .set BUF, 0x200000
        .set PAGES, 512
        .set STOP, 0x1ff000
        .set OWN_STACK, 0x1f0000
        .text
        .globl  _start
_start:
        lis     %r1, OWN_STACK@h
        bl      guest_init
        li      %r31, 0                 /* sweeps done */
1:      lis     %r9, BUF@h
        li      %r10, PAGES
        mtctr   %r10
2:      lwz     %r11, 0(%r9)
        addi    %r11, %r11, 1
        stw     %r11, 0(%r9)
        addi    %r9, %r9, 4096
        bdnz    2b
        addi    %r31, %r31, 1
        li      %r9, 100
        divwu   %r10, %r31, %r9
        mullw   %r10, %r10, %r9
        cmpw    %r10, %r31
        bne     3f
        PRINT   msg_sweep
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_nl
3:      lis     %r9, STOP@ha            /* told through memory? */
        lwz     %r9, STOP@l(%r9)
        cmpwi   %r9, 0
        bne     check
        li      %r3, H_GET_TERM_CHAR    /* told through the console? */
        lis     %r4, VTY@h
        sc      1
        cmpdi   %r3, 0
        bne     1b
        cmpdi   %r4, 0
        beq     1b

check:
        lis     %r9, BUF@h
        li      %r10, PAGES
        mtctr   %r10
4:      lwz     %r11, 0(%r9)
        cmpw    %r11, %r31
        bne     bad
        addi    %r9, %r9, 4096
        bdnz    4b
        PRINT   msg_dirtier
        mr      %r3, %r31
        bl      putdec
        PRINT   msg_ok
        EXIT    0x10
bad:
        PRINT   msg_bad
        EXIT    0x11

        DEFINE_COMMON
msg_sweep:   .asciz "sweep "
msg_dirtier: .asciz "dirtier: "
msg_ok:      .asciz " sweeps, every page agrees\n"
msg_bad:     .asciz "dirtier: a page disagrees\n"
