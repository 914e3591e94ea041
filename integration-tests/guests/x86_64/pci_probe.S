/*
 * PCI from inside a guest: loaded raw at 1 MiB in protected mode, run with tetra's virtio-rng
 * device on the virtio-pci transport (`--rng --transport pci`). It checks configuration
 * mechanism #1 (0x80000000 written to 0xcf8 reads back), scans bus 0 through 0xcf8/0xcfc and
 * prints each function it finds:
 *
 *   pci: conf1 ok
 *   pci 00:DD.0 VVVV:DDDD class CCCCCC
 *
 * then, for the first function with vendor 0x1af4 (virtio), its capability list (id, and
 * /cfg_type for a virtio vendor capability), its vendor and device read through ECAM at
 * 0xe0000000, an absent function through ECAM, BAR 0's size mask (all ones written, read back,
 * the address written back), and, with memory decoding on, the common configuration's
 * num_queues and the upper 32 feature bits read through the BAR:
 *
 *   pci 00:DD.0 caps: 09/1 09/2 09/3 09/4 09/5 11
 *   pci 00:DD.0 ecam VVVV:DDDD
 *   pci 00:02.0 ecam ffffffff
 *   pci 00:DD.0 bar0 size mask ffff8004
 *   pci 00:DD.0 bar0 BBBBBBBB num_queues NNNN features1 FFFFFFFF
 *
 * and exits through the debug-exit port with 0x10; with 0x11 ("pci: fail") when mechanism #1
 * does not answer or no virtio function is there.
 */
        .include "common.inc"
        .set CF8,       0xcf8
        .set CFC,       0xcfc
        .set ECAM,      0xe0000000

        .code32
        .text
        .globl  _start
_start:
        movw    $CF8, %dx
        movl    $0x80000000, %eax
        outl    %eax, %dx
        inl     %dx, %eax
        cmpl    $0x80000000, %eax
        jne     fail
        movl    $msg_conf1, %esi
        call    puts
        xorl    %ebx, %ebx                      /* device number */
scan:
        xorl    %ecx, %ecx
        call    cfgread
        cmpl    $0xffffffff, %eax
        je      next
        movl    %eax, %ebp                      /* device:vendor */
        call    prefix
        call    putid
        movl    $msg_class, %esi
        call    puts
        movl    $8, %ecx
        call    cfgread
        shrl    $8, %eax
        movl    $6, %ecx
        call    puthex
        movl    $msg_nl, %esi
        call    puts
        cmpw    $0x1af4, %bp
        jne     next
        cmpl    $0xffffffff, vdev
        jne     next
        movl    %ebx, vdev
next:
        incl    %ebx
        cmpl    $32, %ebx
        jb      scan

        movl    vdev, %ebx
        cmpl    $0xffffffff, %ebx
        je      fail

        /* The capability list. */
        call    prefix
        movl    $msg_caps, %esi
        call    puts
        movl    $0x34, %ecx
        call    cfgread
        andl    $0xfc, %eax
        movl    %eax, %ebp
caps:
        testl   %ebp, %ebp
        jz      caps_done
        movl    %ebp, %ecx
        call    cfgread
        pushl   %eax
        movl    $msg_sp, %esi
        call    puts
        movl    (%esp), %eax
        andl    $0xff, %eax
        movl    $2, %ecx
        call    puthex
        movl    (%esp), %eax
        cmpb    $0x09, %al
        jne     1f
        movl    $msg_slash, %esi
        call    puts
        movl    (%esp), %eax
        shrl    $24, %eax
        movl    $1, %ecx
        call    puthex
1:      popl    %eax
        shrl    $8, %eax
        andl    $0xfc, %eax
        movl    %eax, %ebp
        jmp     caps
caps_done:
        movl    $msg_nl, %esi
        call    puts

        /* The same function through ECAM, and an absent one. */
        call    prefix
        movl    $msg_ecam, %esi
        call    puts
        movl    %ebx, %eax
        shll    $15, %eax
        movl    ECAM(%eax), %ebp
        call    putid
        movl    $msg_nl, %esi
        call    puts
        movl    $msg_absent, %esi
        call    puts
        movl    ECAM + (2 << 15), %eax
        movl    $8, %ecx
        call    puthex
        movl    $msg_nl, %esi
        call    puts

        /* BAR 0's sizing. */
        movl    $0x10, %ecx
        call    cfgread
        movl    %eax, bar0
        movl    $0x10, %ecx
        movl    $0xffffffff, %esi
        call    cfgwrite
        movl    $0x10, %ecx
        call    cfgread
        movl    %eax, %ebp
        movl    $0x10, %ecx
        movl    bar0, %esi
        call    cfgwrite
        call    prefix
        movl    $msg_mask, %esi
        call    puts
        movl    %ebp, %eax
        movl    $8, %ecx
        call    puthex
        movl    $msg_nl, %esi
        call    puts

        /* Memory decoding on; the common configuration through the BAR. */
        movl    $4, %ecx
        call    cfgread
        orl     $2, %eax
        movl    %eax, %esi
        movl    $4, %ecx
        call    cfgwrite
        call    prefix
        movl    $msg_bar, %esi
        call    puts
        movl    bar0, %eax
        movl    $8, %ecx
        call    puthex
        movl    bar0, %edi
        andl    $0xfffffff0, %edi
        movzwl  0x12(%edi), %ebp                /* num_queues */
        movl    $msg_nq, %esi
        call    puts
        movl    %ebp, %eax
        movl    $4, %ecx
        call    puthex
        movl    bar0, %edi
        andl    $0xfffffff0, %edi
        movl    $1, 0x00(%edi)                  /* device_feature_select */
        movl    0x04(%edi), %ebp                /* device_feature */
        movl    $msg_feat, %esi
        call    puts
        movl    %ebp, %eax
        movl    $8, %ecx
        call    puthex
        movl    $msg_nl, %esi
        call    puts
        EXIT    0x10

fail:
        movl    $msg_fail, %esi
        call    puts
        EXIT    0x11

/* cfgread: the dword at register %ecx of device %ebx on bus 0, in %eax. Clobbers %dx. */
cfgread:
        movl    %ebx, %eax
        shll    $11, %eax
        orl     %ecx, %eax
        orl     $0x80000000, %eax
        movw    $CF8, %dx
        outl    %eax, %dx
        movw    $CFC, %dx
        inl     %dx, %eax
        ret

/* cfgwrite: writes %esi to register %ecx of device %ebx on bus 0. Clobbers %eax, %dx. */
cfgwrite:
        movl    %ebx, %eax
        shll    $11, %eax
        orl     %ecx, %eax
        orl     $0x80000000, %eax
        movw    $CF8, %dx
        outl    %eax, %dx
        movw    $CFC, %dx
        movl    %esi, %eax
        outl    %eax, %dx
        ret

/* prefix: "pci 00:DD.0 " for device %ebx. Clobbers %eax, %ecx, %edx, %esi, %edi. */
prefix:
        movl    $msg_pci, %esi
        call    puts
        movl    %ebx, %eax
        movl    $2, %ecx
        call    puthex
        movl    $msg_fn, %esi
        call    puts
        ret

/* putid: "VVVV:DDDD" for the id dword %ebp. Clobbers %eax, %ecx, %edx, %esi, %edi. */
putid:
        movl    %ebp, %eax
        andl    $0xffff, %eax
        movl    $4, %ecx
        call    puthex
        movl    $msg_colon, %esi
        call    puts
        movl    %ebp, %eax
        shrl    $16, %eax
        movl    $4, %ecx
        call    puthex
        ret

/* puthex: the low %ecx hexadecimal digits of %eax. Clobbers %eax, %ecx, %edx, %edi. */
puthex:
        pushl   %ebx
        movl    %eax, %edi
        movl    %ecx, %ebx
        shll    $2, %ebx
1:      subl    $4, %ebx
        movl    %edi, %eax
        movl    %ebx, %ecx
        shrl    %cl, %eax
        andl    $0xf, %eax
        movb    hexdigits(%eax), %al
        movw    $COM1, %dx
        outb    %al, %dx
        testl   %ebx, %ebx
        jnz     1b
        popl    %ebx
        ret

        DEFINE_PUTS

        .data
vdev:       .long 0xffffffff
bar0:       .long 0
hexdigits:  .ascii "0123456789abcdef"
msg_conf1:  .asciz "pci: conf1 ok\n"
msg_pci:    .asciz "pci 00:"
msg_fn:     .asciz ".0 "
msg_colon:  .asciz ":"
msg_class:  .asciz " class "
msg_caps:   .asciz "caps:"
msg_sp:     .asciz " "
msg_slash:  .asciz "/"
msg_ecam:   .asciz "ecam "
msg_absent: .asciz "pci 00:02.0 ecam "
msg_mask:   .asciz "bar0 size mask "
msg_bar:    .asciz "bar0 "
msg_nq:     .asciz " num_queues "
msg_feat:   .asciz " features1 "
msg_nl:     .asciz "\n"
msg_fail:   .asciz "pci: fail\n"
