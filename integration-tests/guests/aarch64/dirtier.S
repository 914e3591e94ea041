/*
 * A guest that keeps dirtying memory and checks itself (the same contract as the x86 guest, but
 * 64 pages). Each sweep increments a counter in each of 64 pages (256 KiB at RAM + 2 MiB); every
 * 100 sweeps it prints "sweep N". (64, not x86's 512: in the emulated arm64 lane the migration
 * stream moves about 1 MiB/s, and a guest that dirties 2 MiB at the speed it sweeps there keeps
 * pre-copy from settling for most of its 30 rounds.) It sweeps until it is told to stop, so how fast the host's KVM runs it never
 * matters: a byte on the UART (from tetra's stdin) or a non-zero word at STOP (RAM + 0x1ff000,
 * written by a test into guest memory) ends the sweeps. It then checks that every counter equals
 * the number of sweeps done, prints "dirtier: N sweeps, every page agrees" and exits 0x10, or
 * "dirtier: a page disagrees" and exits 0x11. A page lost or left stale by a migration or a
 * restore makes the check fail. Loaded raw at RAM + 1 MiB.
 */
        .include "common.inc"
        .set BUF,       RAM_BASE + 0x200000
        .set PAGES,     64
        .set STOP_HI,   (RAM_BASE + 0x1ff000) >> 16
        .set STOP_LO,   (RAM_BASE + 0x1ff000) & 0xffff
        .set UART_LSR,  5
        .set LSR_DR,    0x01
        .section .text.start, "ax"
        .globl  _start
_start:
        mov     x19, #0                 /* sweeps done */
        mov     x20, #100
        movz    x22, #STOP_HI, lsl #16
        movk    x22, #STOP_LO
        mov     x23, #UART
1:      mov     x21, #BUF
        mov     x24, #PAGES
2:      ldr     w9, [x21]
        add     w9, w9, #1
        str     w9, [x21]
        add     x21, x21, #4096
        subs    x24, x24, #1
        b.ne    2b
        add     x19, x19, #1
        udiv    x9, x19, x20
        msub    x9, x9, x20, x19        /* sweeps mod 100 */
        cbnz    x9, 3f
        PUTS    msg_sweep
        mov     x0, x19
        bl      putdec
        PUTS    msg_nl
3:      ldr     w9, [x22]               /* told through memory? */
        cbnz    w9, check
        ldrb    w9, [x23, #UART_LSR]    /* told through the console? */
        tst     w9, #LSR_DR
        b.eq    1b

check:
        mov     x21, #BUF
        mov     x24, #PAGES
4:      ldr     w9, [x21]
        cmp     w9, w19
        b.ne    bad
        add     x21, x21, #4096
        subs    x24, x24, #1
        b.ne    4b
        PUTS    msg_dirtier
        mov     x0, x19
        bl      putdec
        PUTS    msg_ok
        EXIT    0x10
bad:
        PUTS    msg_bad
        EXIT    0x11

        DEFINE_CONSOLE
msg_sweep:   .asciz "sweep "
msg_nl:      .asciz "\n"
msg_dirtier: .asciz "dirtier: "
msg_ok:      .asciz " sweeps, every page agrees\n"
msg_bad:     .asciz "dirtier: a page disagrees\n"
