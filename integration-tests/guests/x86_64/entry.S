/*
 * Shared contract "entry": checks the entry state tetra documents for the boot vCPU, prints
 * "entry: ok" and exits 0x10; prints "entry: bad <what>" and exits 0x11 otherwise.
 *
 * Here: a plain ELF64 (no PVH note, no multiboot header), so tetra boots it as a Linux vmlinux
 * with the 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"), and
 * the checks are that protocol's promises plus tetra's own:
 *   - RFLAGS = 0x2: interrupts disabled, bit 1 set, nothing else;
 *   - long mode with paging: CR0.PE and CR0.PG, CR4.PAE, EFER.LME and EFER.LMA;
 *   - CS = __BOOT_CS (0x10), DS = ES = SS = __BOOT_DS (0x18), and the loaded GDT describes them as
 *     4 GiB flat segments: 0x10 present 64-bit execute/read code, 0x18 present read/write data;
 *   - RSI = boot_params: boot flag 0xAA55, "HdrS", type_of_loader 0xff, a command line pointer,
 *     and an e820 map whose RAM holds this kernel and adds up to no more than the RAM fw_cfg
 *     reports;
 *   - the boot vCPU is the bootstrap processor: IA32_APIC_BASE = 0xfee00000, enabled, BSP flag,
 *     xAPIC mode; its LAPIC (reached through tetra's identity map of the first 4 GiB) says id 0.
 */
        .include "common.inc"
        .set BOOT_CS, 0x10
        .set BOOT_DS, 0x18
        .set FW_CFG_RAM_SIZE, 0x03
        .set IA32_EFER, 0xc0000080
        .set IA32_APIC_BASE, 0x1b
        .set DESC_MASK_CODE, 0xffeffeffffffffff /* all but accessed (40) and AVL (52) */
        .set DESC_CODE, 0x00af9a000000ffff      /* flat, G, L, P, DPL 0, execute/read */
        .set DESC_MASK_DATA, 0xff8ffeffffffffff /* and neither L (53) nor D/B (54) */
        .set DESC_DATA, 0x008f92000000ffff      /* flat, G, P, DPL 0, read/write */

        .code64
        .text
        .globl  _start
_start:
        pushfq
        popq    %rbx
        movq    %rsi, %r12                      /* boot_params */
        leaq    bad_rflags(%rip), %r15
        cmpq    $0x2, %rbx
        jne     fail

        leaq    bad_cr0(%rip), %r15
        movq    %cr0, %rax
        andl    $0x80000001, %eax               /* PG, PE */
        cmpl    $0x80000001, %eax
        jne     fail
        leaq    bad_cr4(%rip), %r15
        movq    %cr4, %rax
        testl   $(1 << 5), %eax                 /* PAE */
        jz      fail
        leaq    bad_efer(%rip), %r15
        movl    $IA32_EFER, %ecx
        rdmsr
        andl    $0x500, %eax                    /* LMA, LME */
        cmpl    $0x500, %eax
        jne     fail

        leaq    bad_selectors(%rip), %r15
        movw    %cs, %ax
        cmpw    $BOOT_CS, %ax
        jne     fail
        movw    %ds, %ax
        cmpw    $BOOT_DS, %ax
        jne     fail
        movw    %es, %ax
        cmpw    $BOOT_DS, %ax
        jne     fail
        movw    %ss, %ax
        cmpw    $BOOT_DS, %ax
        jne     fail
        leaq    bad_gdt(%rip), %r15
        sgdt    gdtr(%rip)
        cmpw    $(BOOT_DS + 7), gdtr(%rip)      /* the limit covers both descriptors */
        jb      fail
        movq    gdtr + 2(%rip), %rdi
        movq    BOOT_CS(%rdi), %rax
        movabsq $DESC_MASK_CODE, %rdx
        andq    %rdx, %rax
        movabsq $DESC_CODE, %rdx
        cmpq    %rdx, %rax
        jne     fail
        movq    BOOT_DS(%rdi), %rax
        movabsq $DESC_MASK_DATA, %rdx
        andq    %rdx, %rax
        movabsq $DESC_DATA, %rdx
        cmpq    %rdx, %rax
        jne     fail

        leaq    bad_boot_params(%rip), %r15
        cmpw    $0xaa55, 0x1fe(%r12)            /* hdr.boot_flag */
        jne     fail
        cmpl    $0x53726448, 0x202(%r12)        /* hdr.header "HdrS" */
        jne     fail
        cmpb    $0xff, 0x210(%r12)              /* hdr.type_of_loader */
        jne     fail
        cmpl    $0, 0x228(%r12)                 /* hdr.cmd_line_ptr */
        je      fail

        /* e820: the entry holding _start is RAM; RAM adds up to at most fw_cfg's RAM size. */
        leaq    bad_e820(%rip), %r15
        movzbl  0x1e8(%r12), %r13d              /* e820_entries */
        testl   %r13d, %r13d
        jz      fail
        cmpl    $128, %r13d
        ja      fail
        leaq    0x2d0(%r12), %rsi               /* e820_table: {u64 addr, u64 size, u32 type} */
        movl    %r13d, %ecx
        xorl    %r14d, %r14d                    /* RAM bytes */
        xorl    %ebx, %ebx                      /* whether an entry of RAM holds _start */
        leaq    _start(%rip), %r8
1:      cmpl    $1, 16(%rsi)
        jne     2f
        movq    (%rsi), %r9
        movq    8(%rsi), %r10
        addq    %r10, %r14
        cmpq    %r9, %r8
        jb      2f
        addq    %r9, %r10
        cmpq    %r10, %r8
        jae     2f
        movl    $1, %ebx
2:      addq    $20, %rsi
        decl    %ecx
        jnz     1b
        testl   %ebx, %ebx
        jz      fail
        call    ram_size
        movq    %rax, %rbp
        cmpq    %rbp, %r14
        ja      fail

        leaq    bad_apic_base(%rip), %r15
        movl    $IA32_APIC_BASE, %ecx
        rdmsr
        andl    $0xfffffd00, %eax               /* base, enable, x2APIC, BSP */
        cmpl    $0xfee00900, %eax
        jne     fail
        testl   %edx, %edx
        jnz     fail
        leaq    bad_apic_id(%rip), %r15
        movl    $(LAPIC + 0x20), %eax
        cmpl    $0, (%rax)
        jne     fail

        leaq    msg_params(%rip), %rsi
        call    puts
        movq    %r12, %rax
        call    puthex
        leaq    msg_e820(%rip), %rsi
        call    puts
        movl    %r13d, %eax
        call    putdec
        leaq    msg_entries(%rip), %rsi
        call    puts
        movq    %r14, %rax
        shrq    $10, %rax
        call    putdec
        leaq    msg_of(%rip), %rsi
        call    puts
        movq    %rbp, %rax
        shrq    $10, %rax
        call    putdec
        leaq    msg_kib(%rip), %rsi
        call    puts
        leaq    msg_ok(%rip), %rsi
        call    puts
        EXIT    0x10
fail:
        leaq    msg_bad(%rip), %rsi
        call    puts
        movq    %r15, %rsi
        call    puts
        leaq    msg_nl(%rip), %rsi
        call    puts
        EXIT    0x11

/* ram_size: %rax = fw_cfg RAM_SIZE (a little-endian u64). */
ram_size:
        movw    $FW_CFG_SEL, %dx
        movw    $FW_CFG_RAM_SIZE, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        xorl    %esi, %esi
        xorl    %ecx, %ecx
1:      inb     %dx, %al
        movzbq  %al, %rax
        shlq    %cl, %rax
        orq     %rax, %rsi
        addl    $8, %ecx
        cmpl    $64, %ecx
        jb      1b
        movq    %rsi, %rax
        ret

        DEFINE_PUTS
        DEFINE_PUTDEC64
        DEFINE_PUTHEX64
msg_params:      .asciz "entry: boot_params at "
msg_e820:        .asciz ", e820 "
msg_entries:     .asciz " entries, "
msg_of:          .asciz " KiB RAM of "
msg_kib:         .asciz " KiB\n"
msg_ok:          .asciz "entry: ok\n"
msg_bad:         .asciz "entry: bad "
msg_nl:          .asciz "\n"
bad_rflags:      .asciz "RFLAGS (not 0x2)"
bad_cr0:         .asciz "CR0 (PE or PG clear)"
bad_cr4:         .asciz "CR4 (PAE clear)"
bad_efer:        .asciz "EFER (LME or LMA clear)"
bad_selectors:   .asciz "selectors (CS not 0x10, or DS/ES/SS not 0x18)"
bad_gdt:         .asciz "GDT (0x10/0x18 not flat 64-bit code / data)"
bad_boot_params: .asciz "RSI (no boot_params there)"
bad_e820:        .asciz "e820 map (no RAM at the kernel, or more RAM than fw_cfg's)"
bad_apic_base:   .asciz "IA32_APIC_BASE (not 0xfee00000, enabled, BSP, xAPIC)"
bad_apic_id:     .asciz "LAPIC id (not 0)"

        .data
        .balign 8
        .word   0                               /* so that the GDTR's base is 8-byte aligned */
        .word   0
        .word   0
gdtr:   .word   0
        .quad   0
