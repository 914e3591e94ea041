/*
 * A guest that keeps dirtying memory and checks itself. Each sweep increments a counter in each
 * of 512 pages (2 MiB at 0x200000); every 100 sweeps it prints "sweep N". It sweeps until it is
 * told to stop, so how fast the host's KVM runs it never matters: a byte on COM1 (from tetra's
 * stdin) or a non-zero word at STOP (0x1ff000, written by a test into guest memory) ends the
 * sweeps. It then checks that every counter equals the number of sweeps done, prints
 * "dirtier: N sweeps, every page agrees" and exits 0x10, or "dirtier: a page disagrees" and exits
 * 0x11. A page lost or left stale by a migration or a restore makes the check fail. Loaded raw
 * at 1 MiB in protected mode.
 */
        .include "common.inc"
        .set BUF, 0x200000
        .set PAGES, 512
        .set STOP, 0x1ff000
        .set COM1_LSR, COM1 + 5
        .set LSR_DR, 0x01
        .code32
        .text
        .globl  _start
_start:
        movl    $0x8000, %esp
        xorl    %ebx, %ebx                      /* sweeps done */
1:      movl    $BUF, %edi
        movl    $PAGES, %ecx
2:      incl    (%edi)
        addl    $4096, %edi
        decl    %ecx
        jnz     2b
        incl    %ebx
        movl    %ebx, %eax
        xorl    %edx, %edx
        movl    $100, %ecx
        divl    %ecx
        testl   %edx, %edx
        jnz     3f
        movl    $msg_sweep, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_nl, %esi
        call    puts
3:      cmpl    $0, STOP                        /* told through memory? */
        jne     check
        movw    $COM1_LSR, %dx                  /* told through the console? */
        inb     %dx, %al
        testb   $LSR_DR, %al
        jz      1b

check:
        movl    $BUF, %edi
        movl    $PAGES, %ecx
4:      cmpl    %ebx, (%edi)
        jne     bad
        addl    $4096, %edi
        decl    %ecx
        jnz     4b
        movl    $msg_dirtier, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_ok, %esi
        call    puts
        EXIT    0x10
bad:
        movl    $msg_bad, %esi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
        DEFINE_PUTDEC32
msg_sweep:   .asciz "sweep "
msg_nl:      .asciz "\n"
msg_dirtier: .asciz "dirtier: "
msg_ok:      .asciz " sweeps, every page agrees\n"
msg_bad:     .asciz "dirtier: a page disagrees\n"
