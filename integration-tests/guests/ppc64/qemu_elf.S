/*
 * A guest built as an ELF image for QEMU's pseries machine (elf.ld: physical address 0), booted
 * with `tetra run --kernel qemu_elf.elf` and no --raw: tetra places it as QEMU does, at
 * 0x400000, and enters it there with r3 = the device tree. It checks where it runs and that the
 * machine describes itself as QEMU's pseries does under KVM:
 *   elf: entered at 0x400000
 *   elf: compatible qemu,pseries
 *   elf: hypervisor linux,kvm
 *   elf: H_SET_SPRG0 ok                (SPRG0 reads back what the hypercall set)
 * then exits 0x10; 0x11 when entered elsewhere, 0x12 without "qemu,pseries" first in the root's
 * compatible, 0x13 without /hypervisor's "linux,kvm", 0x14 when H_SET_SPRG0 fails or SPRG0
 * does not read back.
 */
        .include "common.inc"
        .set H_SET_SPRG0, 0x24
        .text
        .globl  _start
_start:
        mr      %r31, %r3               /* the device tree */
        bl      1f
1:      mflr    %r30
        addi    %r30, %r30, _start - 1b /* where _start runs */
        lis     %r1, STACK@h
        bl      guest_init
        PRINT   msg_entered
        mr      %r3, %r30
        bl      puthex
        PRINT   msg_nl
        lis     %r9, 0x40
        cmpd    %r30, %r9
        beq     2f
        EXIT    0x11
2:      mr      %r3, %r31
        LA      %r4, s_compatible
        bl      fdt_prop                /* the first compatible is the root's */
        cmpdi   %r3, 0
        beq     3f
        LA      %r4, s_qemu
        bl      strcmp                  /* its first string */
        cmpdi   %r3, 0
        bne     3f
        PRINT   msg_qemu
        mr      %r3, %r31
        bl      hypervisor_kvm
        cmpdi   %r3, 0
        bne     4f
        PRINT   msg_kvm
        li      %r3, H_SET_SPRG0
        lis     %r4, 0x1234
        ori     %r4, %r4, 0xabcd
        mr      %r29, %r4
        sc      1
        cmpdi   %r3, 0
        bne     5f
        mfsprg0 %r9
        cmpd    %r9, %r29
        bne     5f
        PRINT   msg_sprg0
        EXIT    0x10
5:      PRINT   msg_no_sprg0
        EXIT    0x14
3:      PRINT   msg_no_qemu
        EXIT    0x12
4:      PRINT   msg_no_kvm
        EXIT    0x13

/* hypervisor_kvm: r3 = device tree -> r3 = 0 when a node named "hypervisor" has the compatible
 * "linux,kvm", 1 otherwise. */
hypervisor_kvm:
        ENTER   96
        std     %r26, 48(%r1)
        std     %r27, 56(%r1)
        std     %r28, 64(%r1)
        std     %r29, 72(%r1)
        mr      %r29, %r3
        addi    %r9, %r29, 8
        lwbrx   %r9, 0, %r9
        add     %r28, %r29, %r9         /* structure block cursor */
        addi    %r9, %r29, 12
        lwbrx   %r9, 0, %r9
        add     %r27, %r29, %r9         /* strings block */
        li      %r26, 0                 /* in /hypervisor */
1:      lwbrx   %r9, 0, %r28
        addi    %r28, %r28, 4
        cmpwi   %r9, 1                  /* FDT_BEGIN_NODE */
        beq     2f
        cmpwi   %r9, 3                  /* FDT_PROP */
        beq     4f
        cmpwi   %r9, 2                  /* FDT_END_NODE */
        bne     5f
        li      %r26, 0
        b       1b
5:      cmpwi   %r9, 4                  /* FDT_NOP */
        beq     1b
        li      %r3, 1                  /* FDT_END or garbage: not found */
        b       9f
2:      mr      %r3, %r28
        LA      %r4, s_hypervisor
        bl      strcmp
        cntlzd  %r26, %r3               /* 64 when equal */
        srdi    %r26, %r26, 6           /* 1 when equal */
3:      lbz     %r9, 0(%r28)            /* skip the name */
        addi    %r28, %r28, 1
        cmpwi   %r9, 0
        bne     3b
        addi    %r28, %r28, 3
        rldicr  %r28, %r28, 0, 61
        b       1b
4:      lwbrx   %r9, 0, %r28            /* len */
        stw     %r9, 40(%r1)
        addi    %r9, %r28, 4
        lwbrx   %r9, 0, %r9             /* nameoff */
        addi    %r28, %r28, 8           /* value */
        cmpdi   %r26, 0
        beq     6f
        add     %r3, %r27, %r9
        LA      %r4, s_compatible
        bl      strcmp
        cmpdi   %r3, 0
        bne     6f
        mr      %r3, %r28
        LA      %r4, s_kvm
        bl      strcmp
        cmpdi   %r3, 0
        beq     9f
6:      lwz     %r9, 40(%r1)
        add     %r28, %r28, %r9
        addi    %r28, %r28, 3
        rldicr  %r28, %r28, 0, 61
        b       1b
9:      ld      %r26, 48(%r1)
        ld      %r27, 56(%r1)
        ld      %r28, 64(%r1)
        ld      %r29, 72(%r1)
        LEAVE   96

        DEFINE_COMMON
msg_entered:  .asciz "elf: entered at 0x"
msg_qemu:     .asciz "elf: compatible qemu,pseries\n"
msg_kvm:      .asciz "elf: hypervisor linux,kvm\n"
msg_no_qemu:  .asciz "elf: the root is not compatible with qemu,pseries first\n"
msg_no_kvm:   .asciz "elf: no /hypervisor compatible with linux,kvm\n"
msg_sprg0:    .asciz "elf: H_SET_SPRG0 ok\n"
msg_no_sprg0: .asciz "elf: H_SET_SPRG0 failed or SPRG0 did not read back\n"
s_compatible: .asciz "compatible"
s_qemu:       .asciz "qemu,pseries"
s_hypervisor: .asciz "hypervisor"
s_kvm:        .asciz "linux,kvm"
        .balign 4
