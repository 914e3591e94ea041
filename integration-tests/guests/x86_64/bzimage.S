/*
 * A synthetic bzImage, small enough to read: the real-mode setup header that a Linux bzImage has
 * (protocol 2.15, one setup sector, loaded high, with a 64-bit entry point), followed by a
 * protected-mode "kernel" whose 64-bit entry at +0x200 checks what the loader left for it:
 * RSI -> boot_params at 0x7000 with the setup header ("HdrS", type_of_loader 0xff), e820 entries,
 * the command line, and the initrd. It prints them and exits with 0x30 (0x11 if anything is off).
 */
        .include "common.inc"
        .set SETUP_SECTS, 1
        .set KERNEL_BASE, 0x100000              /* code32_start */
        .set PM_START, (SETUP_SECTS + 1) * 512  /* file offset of the protected-mode kernel */

        .code16
        .text
        .globl  _start
_start:
        .org    0x1f1
        .byte   SETUP_SECTS             /* setup_sects */
        .word   0                       /* root_flags */
        .long   0                       /* syssize */
        .word   0                       /* ram_size */
        .word   0xffff                  /* vid_mode: normal */
        .word   0                       /* root_dev */
        .word   0xaa55                  /* boot_flag */
        .word   0                       /* jump */
        .ascii  "HdrS"                  /* header */
        .word   0x020f                  /* version 2.15 */
        .long   0                       /* realmode_swtch */
        .word   0                       /* start_sys_seg */
        .word   0                       /* kernel_version */
        .byte   0                       /* type_of_loader: the loader sets it */
        .byte   0x01                    /* loadflags: LOADED_HIGH */
        .word   0                       /* setup_move_size */
        .long   KERNEL_BASE             /* code32_start */
        .long   0, 0                    /* ramdisk_image, ramdisk_size: the loader sets them */
        .long   0                       /* bootsect_kludge */
        .word   0                       /* heap_end_ptr */
        .byte   0, 0                    /* ext_loader_ver, ext_loader_type */
        .long   0                       /* cmd_line_ptr: the loader sets it */
        .long   0x7fffffff              /* initrd_addr_max */
        .long   0x200000                /* kernel_alignment */
        .byte   0, 0                    /* relocatable_kernel, min_alignment */
        .word   0x0001                  /* xloadflags: XLF_KERNEL_64 */
        .long   2047                    /* cmdline_size */
        .org    PM_START

/* The protected-mode kernel, loaded at KERNEL_BASE. Its 32-bit entry is unused. */
        .code32
        .fill   0x200, 1, 0xf4
        .code64
start64:
        cmpq    $0x7000, %rsi
        jne     fail
        movq    %rsi, %rbp
        cmpl    $0x53726448, 0x202(%rbp)        /* hdr.header */
        jne     fail
        cmpb    $0xff, 0x210(%rbp)              /* hdr.type_of_loader */
        jne     fail
        leaq    msg_e820(%rip), %rsi
        call    puts
        movzbl  0x1e8(%rbp), %eax               /* e820_entries */
        testl   %eax, %eax
        jz      fail
        call    putdec
        leaq    msg_cmdline(%rip), %rsi
        call    puts
        movl    0x228(%rbp), %esi               /* hdr.cmd_line_ptr */
        call    puts
        leaq    msg_initrd(%rip), %rsi
        call    puts
        movl    0x21c(%rbp), %eax               /* hdr.ramdisk_size */
        call    putdec
        leaq    msg_bytes(%rip), %rsi
        call    puts
        movl    0x218(%rbp), %esi               /* hdr.ramdisk_image */
        movl    0x21c(%rbp), %ecx
        movw    $COM1, %dx
1:      jrcxz   2f
        lodsb
        cmpb    $'\n', %al
        je      2f
        outb    %al, %dx
        decl    %ecx
        jmp     1b
2:      leaq    msg_nl(%rip), %rsi
        call    puts
        EXIT    0x30
fail:
        leaq    msg_fail(%rip), %rsi
        call    puts
        EXIT    0x11

        DEFINE_PUTS
        DEFINE_PUTDEC64
msg_e820:    .asciz "bzImage: 64-bit entry, boot_params at 0x7000, e820 entries="
msg_cmdline: .asciz "\nbzImage: cmdline="
msg_initrd:  .asciz "\nbzImage: initrd "
msg_bytes:   .asciz " bytes: "
msg_nl:      .asciz "\n"
msg_fail:    .asciz "bzImage: unexpected boot state\n"
