/*
 * Guest "sleep": ACPI S3 with an RTC-alarm wake (issue 18 item 5; tests/suite/sleep.rs).
 * A multiboot (v1) kernel: a raw image would get no ACPI tables.
 *
 * Boot 1 (counted in CMOS NVRAM byte 0x41, battery-backed): finds the FACS as an OS does (the
 * RSDP in 0xE0000-0xFFFFF, the XSDT's FACP, its FIRMWARE_CTRL) and writes its
 * Firmware_Waking_Vector: TRAMPOLINE (0x7000), where it copies a real-mode trampoline, or 0 when
 * the kernel command line (fw_cfg) is not empty. It writes `marker` (0 in the image), sets the
 * RTC to binary, reads the second t0, arms the alarm at second t0 + 2 (minutes and hours "don't
 * care", 0xFF) with AIE, sets RTC_EN in PM1 enable, clears WAK_STS, prints "sleep: suspending
 * at t0=N" and writes SLP_TYP=S3 (1) | SLP_EN to PM1a control (0x604). Then, as Linux does, it
 * polls PM1 status for WAK_STS (an I/O exit each time: a vCPU left running would climb in
 * KVM_RUN returns); if the write returns that way it prints "sleep: the S3 write returned" and
 * exits with 0x31.
 *
 * At the waking vector, in real mode: the trampoline loads the guest's GDT, enters protected
 * mode and prints "sleep: woke at the waking vector: pm1_sts=N rtc_c=N t0=N t1=N marker=kept"
 * (PM1 status, RTC register C, the seconds before and after, `marker` still as written or
 * "lost"), then powers off through S5.
 *
 * Boot 2 (a wake with vector 0 taken as a machine reset, `--on-triple-fault reset`): prints
 * "sleep: boot 2" and powers off.
 */
        .include "common.inc"
        .set CMOS_INDEX, 0x70
        .set CMOS_DATA, 0x71
        .set BOOTS, 0x41
        .set RTC_SEC, 0x00
        .set RTC_SEC_ALARM, 0x01
        .set RTC_MIN_ALARM, 0x03
        .set RTC_HOUR_ALARM, 0x05
        .set RTC_B, 0x0b
        .set RTC_C, 0x0c
        .set B_24H_BINARY, 0x06
        .set B_AIE, 0x20
        .set PM1_STS, 0x600
        .set PM1_EN, 0x602
        .set PM1_CNT, 0x604
        .set WAK_STS, 1 << 15
        .set RTC_EN, 1 << 10
        .set SLP_TYP_S3, 1 << 10
        .set SLP_TYP_S5, 5 << 10
        .set SLP_EN, 1 << 13
        .set FW_CFG_CMDLINE_SIZE, 0x14
        .set TRAMPOLINE, 0x7000
        .set MARKER, 0x5a17e3e9

/* CMOS register \reg into %al. */
.macro CMOS_RD reg
        movb    $\reg, %al
        outb    %al, $CMOS_INDEX
        inb     $CMOS_DATA, %al
.endm

/* %ah into CMOS register \reg. */
.macro CMOS_WR reg
        movb    $\reg, %al
        outb    %al, $CMOS_INDEX
        movb    %ah, %al
        outb    %al, $CMOS_DATA
.endm

        .set MB_MAGIC,      0x1badb002
        .set MB_FLAGS,      0x2

        .section .multiboot, "a"
        .balign 4
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .code32
        .text
        .globl  _start
_start:
        movl    $stack_top, %esp
        CMOS_RD BOOTS
        incb    %al
        movb    %al, %ah
        CMOS_WR BOOTS
        cmpb    $1, %ah
        je      find_facs
        movl    $msg_boot2, %esi
        call    puts
        jmp     poweroff

find_facs:
        movl    $0xe0000, %ebx                  /* the RSDP: "RSD PTR " on a 16-byte boundary */
1:      cmpl    $0x20445352, (%ebx)
        jne     2f
        cmpl    $0x20525450, 4(%ebx)
        je      3f
2:      addl    $16, %ebx
        cmpl    $0x100000, %ebx
        jb      1b
        jmp     no_facs
3:      movl    24(%ebx), %ebx                  /* XsdtAddress */
        movl    4(%ebx), %ecx
        leal    36(%ebx), %edi
        addl    %ebx, %ecx
4:      cmpl    %ecx, %edi
        jae     no_facs
        movl    (%edi), %eax
        cmpl    $0x50434146, (%eax)             /* "FACP" */
        je      5f
        addl    $8, %edi
        jmp     4b
5:      movl    36(%eax), %ebx                  /* FIRMWARE_CTRL */
        cmpl    $0x53434146, (%ebx)             /* "FACS" */
        jne     no_facs

        movw    $FW_CFG_SEL, %dx                /* a command line asks for vector 0 */
        movw    $FW_CFG_CMDLINE_SIZE, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        inb     %dx, %al
        movl    $TRAMPOLINE, %ecx
        cmpb    $1, %al
        jbe     6f
        xorl    %ecx, %ecx
6:      movl    %ecx, 12(%ebx)                  /* Firmware_Waking_Vector */

        movl    $tramp, %esi
        movl    $TRAMPOLINE, %edi
        movl    $(tramp_end - tramp), %ecx
        cld
        rep movsb
        movl    $MARKER, marker

        movb    $B_24H_BINARY, %ah
        CMOS_WR RTC_B
        CMOS_RD RTC_SEC
        movzbl  %al, %eax
        movl    %eax, t0
        addl    $2, %eax
        cmpl    $60, %eax
        jb      7f
        subl    $60, %eax
7:      movb    %al, %ah
        CMOS_WR RTC_SEC_ALARM
        movb    $0xff, %ah
        CMOS_WR RTC_MIN_ALARM
        CMOS_WR RTC_HOUR_ALARM
        movb    $(B_24H_BINARY | B_AIE), %ah
        CMOS_WR RTC_B
        CMOS_RD RTC_C                           /* clears it */

        movl    $msg_suspending, %esi
        call    puts
        movl    t0, %eax
        call    putdec
        movl    $msg_nl, %esi
        call    puts

        movw    $PM1_EN, %dx
        movw    $RTC_EN, %ax
        outw    %ax, %dx
        movw    $PM1_STS, %dx
        movw    $WAK_STS, %ax
        outw    %ax, %dx
        movw    $PM1_CNT, %dx
        movw    $(SLP_TYP_S3 | SLP_EN), %ax
        outw    %ax, %dx
        movw    $PM1_STS, %dx
8:      inw     %dx, %ax
        testw   $WAK_STS, %ax
        jz      8b
        movl    $msg_returned, %esi
        call    puts
        EXIT    0x31

no_facs:
        movl    $msg_no_facs, %esi
        call    puts
        EXIT    0x32

/* Copied to TRAMPOLINE, where the wake starts it in real mode (CS = 0x700, IP = 0). */
        .code16
tramp:
        cli
        lgdtl   %cs:(tramp_gdtr - tramp)
        movl    %cr0, %eax
        orl     $1, %eax                        /* PE */
        movl    %eax, %cr0
        ljmpl   $0x08, $resumed
        .balign 8
tramp_gdtr:
        .word   gdt_end - gdt - 1
        .long   gdt
tramp_end:

        .code32
resumed:
        movw    $0x18, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    $stack_top, %esp
        movw    $PM1_STS, %dx
        inw     %dx, %ax
        movzwl  %ax, %ebx
        CMOS_RD RTC_C
        movzbl  %al, %ebp
        movl    $msg_woke, %esi
        call    puts
        movl    %ebx, %eax
        call    putdec
        movl    $msg_rtc_c, %esi
        call    puts
        movl    %ebp, %eax
        call    putdec
        movl    $msg_t0, %esi
        call    puts
        movl    t0, %eax
        call    putdec
        movl    $msg_t1, %esi
        call    puts
        CMOS_RD RTC_SEC
        movzbl  %al, %eax
        call    putdec
        movl    $msg_kept, %esi
        cmpl    $MARKER, marker
        je      1f
        movl    $msg_lost, %esi
1:      call    puts

poweroff:
        movw    $PM1_CNT, %dx
        movw    $(SLP_TYP_S5 | SLP_EN), %ax
        outw    %ax, %dx
        EXIT    0x3f

        DEFINE_PUTS
        DEFINE_PUTDEC32

        .balign 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff              /* 0x08: flat 32-bit code */
        .quad   0
        .quad   0x00cf92000000ffff              /* 0x18: flat data */
gdt_end:
marker:         .long 0
t0:             .long 0
msg_suspending: .asciz "sleep: suspending at t0="
msg_nl:         .asciz "\n"
msg_woke:       .asciz "sleep: woke at the waking vector: pm1_sts="
msg_rtc_c:      .asciz " rtc_c="
msg_t0:         .asciz " t0="
msg_t1:         .asciz " t1="
msg_kept:       .asciz " marker=kept\n"
msg_lost:       .asciz " marker=lost\n"
msg_returned:   .asciz "sleep: the S3 write returned\n"
msg_no_facs:    .asciz "sleep: no FACS\n"
msg_boot2:      .asciz "sleep: boot 2\n"

        .balign 16
        .space  1024
stack_top:
