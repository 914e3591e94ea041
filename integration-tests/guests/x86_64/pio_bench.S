/*
 * The PIO exit benchmark guest: times LOOPS x 16 byte writes to port 0x80 with RDTSC and ends
 * through the debug-exit port with the average TSC cycles per write (each write is one exit to
 * the VMM). Loaded raw at 1 MiB in protected mode. The loop's own instructions are included in
 * the figure, identically for tetra and for the baseline it is compared against.
 */
        .include "common.inc"
        .set PORT, 0x80
        .set LOOPS, 1000
        .set PER_LOOP, 16
        .code32
        .text
        .globl  _start
_start:
        rdtsc
        movl    %eax, %esi
        movl    %edx, %edi
        movl    $LOOPS, %ecx
        movw    $PORT, %dx
1:
        .rept   PER_LOOP
        outb    %al, %dx
        .endr
        decl    %ecx
        jnz     1b
        rdtsc
        subl    %esi, %eax
        sbbl    %edi, %edx
        movl    $(LOOPS * PER_LOOP), %ecx
        divl    %ecx                    /* edx:eax / writes -> eax */
        outl    %eax, $DEBUG_EXIT
