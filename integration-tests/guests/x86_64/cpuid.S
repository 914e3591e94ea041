/*
 * CPU templates (tests/suite/cpu_template.rs): prints the CPUID leaves that hold the features a
 * template can withhold, one line each, "cpuid LEAF.SUBLEAF EAX EBX ECX EDX" (hex, no leading
 * zeros), then "cpuid done". It then waits for the word at 0x100ff0 (0xff0 past its load address):
 * 1 prints the leaves again (after a restore: what the restored vCPU sees), 2 exits with 0x10.
 * 64-bit code loaded raw at 1 MiB (`--raw 0x100000:long`).
 */
        .include "common.inc"
        .set FLAG, 0x100ff0
        .code64
        .text
        .globl  _start
_start:
1:      leaq    leaves(%rip), %rbx
2:      movl    (%rbx), %r12d                   /* leaf */
        movl    4(%rbx), %r13d                  /* subleaf */
        cmpl    $0xffffffff, %r12d
        je      4f
        leaq    msg_cpuid(%rip), %rsi
        call    puts
        movq    %r12, %rax
        call    puthex
        movb    $'.', %al
        outb    %al, %dx
        movq    %r13, %rax
        call    puthex
        pushq   %rbx
        movl    %r12d, %eax
        movl    %r13d, %ecx
        cpuid
        movl    %eax, %r8d
        movl    %ebx, %r9d
        movl    %ecx, %r10d
        movl    %edx, %r11d
        popq    %rbx
        .irp reg, r8, r9, r10, r11
        movw    $COM1, %dx
        movb    $' ', %al
        outb    %al, %dx
        movq    %\reg, %rax
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        call    puthex
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        .endr
        movw    $COM1, %dx
        movb    $'\n', %al
        outb    %al, %dx
        addq    $8, %rbx
        jmp     2b
4:      leaq    msg_done(%rip), %rsi
        call    puts
5:      pause
        movl    FLAG, %eax
        testl   %eax, %eax
        jz      5b
        cmpl    $2, %eax
        je      6f
        movl    $0, FLAG
        jmp     1b
6:      EXIT    0x10

        DEFINE_PUTS
        DEFINE_PUTHEX64

        .balign 4
leaves: .long 0, 0
        .long 1, 0
        .long 7, 0
        .long 7, 1
        .long 0xd, 0
        .long 0xd, 1
        .long 0x80000001, 0
        .long 0x40000000, 0
        .long 0x40000001, 0
        .long 0xffffffff, 0
msg_cpuid: .asciz "cpuid "
msg_done:  .asciz "cpuid done\n"
