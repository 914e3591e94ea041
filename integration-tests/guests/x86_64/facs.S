/*
 * A multiboot (v1) test kernel that finds the FACS as a 32-bit OS does: the RSDP by its
 * signature in 0xE0000-0xFFFFF, the FADT ("FACP") among the XSDT's entries, then the FACS through
 * the FADT's 32-bit FIRMWARE_CTRL field (offset 36), whose target must say "FACS". Prints
 * "acpi: FACS through FIRMWARE_CTRL" and ends with status 0x20; a step that fails prints what is
 * missing and ends with 0x21.
 */
        .include "common.inc"
        .set MB_MAGIC,      0x1badb002
        .set MB_FLAGS,      0x2

        .section .multiboot, "a"
        .balign 4
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .code32
        .globl  _start
_start:
        movl    $stack_top, %esp
        movl    $0xe0000, %ebx                  /* the RSDP: "RSD PTR " on a 16-byte boundary */
1:      cmpl    $0x20445352, (%ebx)
        jne     2f
        cmpl    $0x20525450, 4(%ebx)
        je      3f
2:      addl    $16, %ebx
        cmpl    $0x100000, %ebx
        jb      1b
        movl    $msg_no_rsdp, %esi
        jmp     fail
3:      movl    24(%ebx), %ebx                  /* XsdtAddress (below 4 GiB) */
        testl   %ebx, %ebx
        jz      no_xsdt
        movl    4(%ebx), %ecx                   /* the XSDT's length */
        leal    36(%ebx), %edi                  /* its first entry */
        addl    %ebx, %ecx                      /* its end */
4:      cmpl    %ecx, %edi
        jae     no_fadt
        movl    (%edi), %eax
        cmpl    $0x50434146, (%eax)             /* "FACP" */
        je      5f
        addl    $8, %edi
        jmp     4b
5:      movl    36(%eax), %eax                  /* FIRMWARE_CTRL */
        testl   %eax, %eax
        jz      no_ctrl
        cmpl    $0x53434146, (%eax)             /* "FACS" */
        jne     no_facs
        movl    $msg_ok, %esi
        call    puts
        EXIT    0x20
no_xsdt:
        movl    $msg_no_xsdt, %esi
        jmp     fail
no_fadt:
        movl    $msg_no_fadt, %esi
        jmp     fail
no_ctrl:
        movl    $msg_no_ctrl, %esi
        jmp     fail
no_facs:
        movl    $msg_no_facs, %esi
fail:
        call    puts
        EXIT    0x21

        DEFINE_PUTS

msg_ok:         .asciz "acpi: FACS through FIRMWARE_CTRL\n"
msg_no_rsdp:    .asciz "acpi: no RSDP in 0xe0000-0xfffff\n"
msg_no_xsdt:    .asciz "acpi: the RSDP has no XSDT\n"
msg_no_fadt:    .asciz "acpi: no FACP in the XSDT\n"
msg_no_ctrl:    .asciz "acpi: FIRMWARE_CTRL is 0\n"
msg_no_facs:    .asciz "acpi: FIRMWARE_CTRL points at no FACS\n"

        .bss
        .balign 16
        .space  1024
stack_top:
