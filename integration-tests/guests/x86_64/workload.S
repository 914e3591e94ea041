/*
 * The state benchmarks' guest. It reads its RAM size (fw_cfg RAM_SIZE) and the first byte of its
 * command line (fw_cfg CMDLINE_DATA), writes every page from 2 MiB to the end of RAM below 3 GiB,
 * prints "touched", and then, forever:
 *   - command line "d...": dirties 32 MiB at 2 MiB, one word per page per sweep, writing port
 *     0x80 once per page;
 *   - otherwise: writes port 0x80 in a loop and dirties nothing.
 * The port writes make the first instruction after a restore visible to the VMM. Loaded raw at
 * 1 MiB in protected mode.
 */
        .include "common.inc"
        .set FW_CFG_RAM_SIZE, 0x03
        .set FW_CFG_CMDLINE_DATA, 0x15
        .set BASE, 0x200000
        .set WINDOW, 32 << 20
        .set LOW_RAM_MAX, 0xc0000000
        .code32
        .text
        .globl  _start
_start:
        movl    $0x8000, %esp
        movw    $FW_CFG_SEL, %dx
        movw    $FW_CFG_RAM_SIZE, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        xorl    %ebp, %ebp
        xorl    %ecx, %ecx                      /* shift: 0, 8, 16, 24 */
1:      inb     %dx, %al                        /* RAM size, low 32 bits, little-endian */
        movzbl  %al, %eax
        shll    %cl, %eax
        orl     %eax, %ebp
        addl    $8, %ecx
        cmpl    $32, %ecx
        jb      1b
        testl   %ebp, %ebp
        jz      2f
        cmpl    $LOW_RAM_MAX, %ebp
        jbe     3f
2:      movl    $LOW_RAM_MAX, %ebp              /* 4 GiB or more: stop at the MMIO gap */
3:      movw    $FW_CFG_SEL, %dx
        movw    $FW_CFG_CMDLINE_DATA, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        movb    %al, %bl                        /* mode */

        movl    $BASE, %edi
4:      movl    %edi, (%edi)
        addl    $4096, %edi
        cmpl    %ebp, %edi
        jb      4b
        movl    $msg_touched, %esi
        call    puts

        cmpb    $'d', %bl
        je      dirty
idle:   outb    %al, $0x80
        jmp     idle
dirty:  movl    $BASE, %edi
5:      incl    (%edi)
        outb    %al, $0x80
        addl    $4096, %edi
        cmpl    $BASE + WINDOW, %edi
        jb      5b
        jmp     dirty

        DEFINE_PUTS
msg_touched: .asciz "touched\n"
