/*
 * PVH entry: an ELF64 whose Xen note (XEN_ELFNOTE_PHYS32_ENTRY) points at a 32-bit entry point.
 * tetra must enter it in 32-bit protected mode, paging off, with EBX -> hvm_start_info. It checks
 * the start_info magic, prints the command line and the number of memory-map entries and
 * modules, prints the first line of module 0 if there is one, and exits with 0x20 + the number of
 * modules (0x11 on a bad start_info).
 */
        .include "common.inc"
        .set START_INFO_MAGIC, 0x336ec578

        .section .note.Xen, "a"
        .balign 4
        .long   4                       /* namesz */
        .long   4                       /* descsz */
        .long   18                      /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .long   _start

        .text
        .code32
        .globl  _start
_start:
        movl    $stack_top, %esp
        movl    %ebx, %ebp              /* hvm_start_info */
        cmpl    $START_INFO_MAGIC, (%ebp)
        jne     fail
        movl    %cr0, %eax
        testl   $0x80000000, %eax       /* paging must be off */
        jnz     fail

        movl    $msg_cmdline, %esi
        call    puts
        movl    24(%ebp), %esi          /* cmdline_paddr */
        call    puts
        movl    $msg_memmap, %esi
        call    puts
        movl    48(%ebp), %eax          /* memmap_entries */
        testl   %eax, %eax
        jz      fail
        call    putdec
        movl    $msg_modules, %esi
        call    puts
        movl    12(%ebp), %eax          /* nr_modules */
        call    putdec
        movl    $msg_nl, %esi
        call    puts

        cmpl    $0, 12(%ebp)
        je      done
        movl    $msg_mod0, %esi
        call    puts
        movl    16(%ebp), %ebx          /* modlist_paddr */
        movl    (%ebx), %esi            /* module 0 paddr */
        movl    8(%ebx), %ecx           /* module 0 size */
        movw    $COM1, %dx
1:      jecxz   2f
        lodsb
        cmpb    $'\n', %al
        je      2f
        outb    %al, %dx
        decl    %ecx
        jmp     1b
2:      movl    $msg_nl, %esi
        call    puts
done:
        movl    12(%ebp), %eax
        addl    $0x20, %eax
        outl    %eax, $DEBUG_EXIT
fail:
        movl    $msg_fail, %esi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
        DEFINE_PUTDEC32
msg_cmdline: .asciz "pvh: cmdline="
msg_memmap:  .asciz "\npvh: memmap entries="
msg_modules: .asciz " modules="
msg_mod0:    .asciz "pvh: module 0: "
msg_nl:      .asciz "\n"
msg_fail:    .asciz "pvh: bad start_info\n"
        .balign 16
        .space  1024
stack_top:
