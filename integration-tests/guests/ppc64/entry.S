/*
 * pseries entry: checks the state tetra starts the boot vCPU in and what the device tree
 * tells, then exits 0x10 after "entry: ok" (0x11.. on a failure, with a message):
 * - r3 = the device tree (its magic), r4 = the load address, r5 = 0;
 * - MSR: 64-bit, little-endian, real mode, no external interrupts, supervisor;
 * - H_SET_MODE(little-endian interrupts) succeeds; with an unknown resource it is H_P2;
 * - an unknown hypercall is H_FUNCTION;
 * - the d-cache-block-size of the device tree is the block `dcbz` really clears (seed 002).
 */
        .include "common.inc"
        .set SCRATCH, 0x200000
        .text
        .globl  _start
_start:
        mr      %r31, %r3
        mr      %r30, %r4
        mr      %r29, %r5
        mfmsr   %r28
        lis     %r1, STACK@h
        bl      guest_init
        cmpdi   %r3, 0
        bne     fail_set_mode

        lwbrx   %r9, 0, %r31
        lis     %r10, 0xd00d
        ori     %r10, %r10, 0xfeed
        cmpw    %r9, %r10
        bne     fail_fdt
        LA      %r9, _start
        cmpd    %r30, %r9
        bne     fail_r4
        cmpdi   %r29, 0
        bne     fail_r5
        srdi    %r9, %r28, 63           /* SF */
        cmpdi   %r9, 1
        bne     fail_msr
        andi.   %r9, %r28, 1            /* LE */
        beq     fail_msr
        andi.   %r9, %r28, 0xc030       /* EE, PR, IR, DR */
        bne     fail_msr
        PRINT   msg_regs

        li      %r3, 0x1234             /* no such hypercall */
        sc      1
        cmpdi   %r3, -2
        bne     fail_hfunc
        li      %r3, 0
        ori     %r3, %r3, H_SET_MODE
        li      %r4, 0
        li      %r5, 99                 /* no such resource */
        li      %r6, 0
        li      %r7, 0
        sc      1
        cmpdi   %r3, -55
        bne     fail_set_mode_p2
        PRINT   msg_hcalls

        /* Fill 1 KiB with 0xff, dcbz in the middle, count the zeroed bytes. */
        lis     %r27, SCRATCH@h
        li      %r9, -1
        li      %r10, 0
1:      stdx    %r9, %r27, %r10
        addi    %r10, %r10, 8
        cmpdi   %r10, 1024
        blt     1b
        sync
        li      %r10, 512
        dcbz    %r27, %r10
        sync
        li      %r26, 0                 /* zero bytes */
        li      %r10, 0
2:      lbzx    %r9, %r27, %r10
        cmpwi   %r9, 0
        bne     3f
        addi    %r26, %r26, 1
3:      addi    %r10, %r10, 1
        cmpdi   %r10, 1024
        blt     2b
        mr      %r3, %r31
        LA      %r4, name_dblock
        bl      fdt_u32
        mr      %r25, %r3
        PRINT   msg_dcbz
        mr      %r3, %r26
        bl      putdec
        PRINT   msg_fdt
        mr      %r3, %r25
        bl      putdec
        PRINT   msg_nl
        cmpw    %r25, %r26
        bne     fail_cache
        mr      %r3, %r31
        LA      %r4, name_iblock
        bl      fdt_u32
        cmpwi   %r3, -1
        beq     fail_cache
        PRINT   msg_ok
        EXIT    0x10

fail_set_mode:
        PRINT   msg_f_set_mode
        EXIT    0x11
fail_fdt:
        PRINT   msg_f_fdt
        EXIT    0x12
fail_r4:
        PRINT   msg_f_r4
        EXIT    0x13
fail_r5:
        PRINT   msg_f_r5
        EXIT    0x14
fail_msr:
        PRINT   msg_f_msr
        mr      %r3, %r28
        bl      puthex
        PRINT   msg_nl
        EXIT    0x15
fail_hfunc:
        PRINT   msg_f_hfunc
        EXIT    0x16
fail_set_mode_p2:
        PRINT   msg_f_p2
        EXIT    0x17
fail_cache:
        PRINT   msg_f_cache
        EXIT    0x18

        DEFINE_COMMON
name_dblock:    .asciz "d-cache-block-size"
name_iblock:    .asciz "i-cache-block-size"
msg_regs:       .asciz "entry: r3 r4 r5 msr ok\n"
msg_hcalls:     .asciz "entry: hcalls ok\n"
msg_dcbz:       .asciz "entry: dcbz clears "
msg_fdt:        .asciz ", d-cache-block-size "
msg_ok:         .asciz "entry: ok\n"
msg_f_set_mode: .asciz "entry: H_SET_MODE(LE) failed\n"
msg_f_fdt:      .asciz "entry: r3 is not a device tree\n"
msg_f_r4:       .asciz "entry: r4 is not the load address\n"
msg_f_r5:       .asciz "entry: r5 is not 0\n"
msg_f_msr:      .asciz "entry: unexpected MSR 0x"
msg_f_hfunc:    .asciz "entry: an unknown hypercall did not return H_FUNCTION\n"
msg_f_p2:       .asciz "entry: H_SET_MODE with a bad resource did not return H_P2\n"
msg_f_cache:    .asciz "entry: the device tree's cache block size is wrong\n"
