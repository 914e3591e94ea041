/*
 * A multiboot (v1) test kernel linked at 0x8000, below 1 MiB, as real-mode test kernels are. It
 *   - checks EAX = 0x2BADB002 and that it runs where it was linked (a call's return address);
 *   - prints the command line the info structure (EBX) gives: "lowload: cmdline=<line>" and its
 *     first word alone, "lowload: argv0=<word>" (the kernel's path, as GRUB and QEMU write it);
 *   - drops to real mode (a 16-bit segment, CR0.PE cleared, a far jump to segment 0) and prints
 *     "lowload: real mode" from there;
 *   - ends through the debug-exit port with status 0x30 (0x31 on a bad boot state).
 */
        .include "common.inc"
        .set MB_MAGIC,      0x1badb002
        .set MB_FLAGS,      0x2             /* memory info */

        .text
        .balign 4
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .code32
        .globl  _start
_start:
        movl    $stack_top, %esp
        cmpl    $0x2badb002, %eax
        jne     fail
        call    1f
1:      popl    %eax
        cmpl    $1b, %eax                       /* loaded where linked */
        jne     fail
        movl    %ebx, %ebp
        testl   $(1 << 2), (%ebp)               /* cmdline present */
        jz      fail
        movl    $msg_cmdline, %esi
        call    puts
        movl    16(%ebp), %esi
        call    puts
        movl    $msg_argv0, %esi
        call    puts
        movl    16(%ebp), %esi                  /* the first word */
        movw    $COM1, %dx
2:      lodsb
        testb   %al, %al
        jz      3f
        cmpb    $' ', %al
        je      3f
        outb    %al, %dx
        jmp     2b
3:      movb    $'\n', %al
        outb    %al, %dx

        /* Down to real mode: through a 16-bit protected-mode segment, then PE off. */
        cli
        lgdtl   gdtr
        ljmpl   $0x08, $pm16
        .code16
pm16:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movl    %cr0, %eax
        andl    $~1, %eax
        movl    %eax, %cr0
        ljmpw   $0, $real
real:
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $stack_top, %sp
        movw    $msg_real, %si
        movw    $COM1, %dx
4:      lodsb
        testb   %al, %al
        jz      5f
        outb    %al, %dx
        jmp     4b
5:      movw    $0x30, %ax
        outw    %ax, $DEBUG_EXIT
        hlt

        .code32
fail:
        EXIT    0x31

        DEFINE_PUTS

        .balign 8
gdt:
        .quad   0
        .quad   0x00009a000000ffff              /* 0x08: 16-bit code, base 0, limit 64 KiB */
        .quad   0x000092000000ffff              /* 0x10: 16-bit data */
gdt_end:
gdtr:
        .word   gdt_end - gdt - 1
        .long   gdt

msg_cmdline:    .asciz "lowload: cmdline="
msg_argv0:      .asciz "\nlowload: argv0="
msg_real:       .asciz "lowload: real mode\n"

        .balign 16
        .space  1024
stack_top:
