/*
 * A guest that keeps dirtying memory and checks itself: SWEEPS times it increments a counter in
 * each of 512 pages (2 MiB at 0x200000), printing "sweep N" every 100 sweeps; then it checks that
 * every counter equals SWEEPS. A page lost or left stale by a migration or a restore makes the
 * check fail. Exits 0x10 when all counters agree, 0x11 otherwise. Loaded raw at 1 MiB in
 * protected mode.
 */
        .include "common.inc"
        .set BUF, 0x200000
        .set PAGES, 512
        .set SWEEPS, 2000
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
3:      cmpl    $SWEEPS, %ebx
        jb      1b

        movl    $BUF, %edi
        movl    $PAGES, %ecx
4:      cmpl    $SWEEPS, (%edi)
        jne     bad
        addl    $4096, %edi
        decl    %ecx
        jnz     4b
        movl    $msg_ok, %esi
        call    puts
        EXIT    0x10
bad:
        movl    $msg_bad, %esi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
        DEFINE_PUTDEC32
msg_sweep: .asciz "sweep "
msg_nl:    .asciz "\n"
msg_ok:    .asciz "dirtier: every page agrees\n"
msg_bad:   .asciz "dirtier: a page disagrees\n"
