/*
 * 64-bit long-mode entry: loaded raw at 1 MiB, `--raw 0x100000:long`. Checks EFER.LMA, CS = 0x10,
 * 64-bit arithmetic, and that tetra's identity map reaches the LAPIC page just below 4 GiB (its
 * version register reads non-zero). Exits 0x10 (0x11 if not).
 */
        .include "common.inc"
        .code64
        .text
        .globl  _start
_start:
        movl    $0xc0000080, %ecx       /* IA32_EFER */
        rdmsr
        testl   $0x400, %eax            /* LMA */
        jz      fail
        movw    %cs, %ax
        cmpw    $0x10, %ax
        jne     fail
        movabsq $0x123456789, %rax
        shrq    $32, %rax
        cmpq    $1, %rax
        jne     fail
        movl    $(LAPIC + 0x30), %ebx   /* LAPIC version register */
        movl    (%rbx), %eax
        testb   %al, %al
        jz      fail
        leaq    msg_ok(%rip), %rsi
        call    puts
        EXIT    0x10
fail:
        leaq    msg_fail(%rip), %rsi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
msg_ok:   .asciz "long mode: ok\n"
msg_fail: .asciz "long mode: wrong entry state\n"
