/*
 * A malicious virtio driver: loaded raw at 1 MiB in protected mode, run with 16 MiB of RAM and
 * tetra's virtio-rng device (`--rng`), which the device layer places first at 0xd1000000
 * (virtio-mmio version 2). It sets the device up as a driver does (virtio 1.2, 3.1.1 and 4.2.3:
 * reset, ACKNOWLEDGE, DRIVER, VERSION_1, FEATURES_OK, queue 0 with its rings in RAM at 2 MiB,
 * DRIVER_OK, QueueNotify) and then plays one abuse per case, from a fresh reset and set-up each
 * time (the table `cases` at the end). It first prints "virtio: rng at 0xd1000000". For each case
 * it waits (bounded by the TSC, 2^33 ticks, seconds) until the device either puts the chain in
 * the used ring or shows DEVICE_NEEDS_RESET (status bit 0x40), and prints one line:
 *
 *   case NAME: served N            the chain was served, N bytes written (used length)
 *   case NAME: needs-reset         refused: DEVICE_NEEDS_RESET, nothing in the used ring, and a
 *                                  configuration-change interrupt pending
 *   case NAME: timeout | served and needs-reset | needs-reset without a config interrupt |
 *              served N chains     something is wrong
 *
 * followed by " (...)" when a case's own check fails. A case that is not what this guest expects
 * counts as a failure. Served cases: good, zero-length, huge (a buffer of 8 MiB gets at most the
 * device's cap, 64 KiB, and nothing past it is written), early-notify (QueueNotify right after
 * the reset and again with the chain offered, both before DRIVER_OK: nothing is served or
 * refused until DRIVER_OK, then it is served), notify-no-such-queue and final (a good request
 * after every reset). Refused cases: loop, next-past-queue, head-past-queue, past-ram, wrap,
 * mmio-buffer, nested-indirect, huge-4g, chain-over-4g, avail-idx-ahead, queue-size-3,
 * queue-size-512, status-cleared (DRIVER_OK cleared without a reset and set again).
 *
 * It then reads fw_cfg again and prints "virtio: N failed, fw_cfg and serial still work", and
 * exits through the debug-exit port with 0x10 when every case went as expected, 0x11 otherwise
 * (0x11 at once when the rig itself is wrong: no device, not 16 MiB of RAM, VERSION_1 refused).
 */
        .include "common.inc"

        .set VIO,                 0xd1000000
        .set R_MAGIC,             0x000
        .set R_VERSION,           0x004
        .set R_DEVICE_ID,         0x008
        .set R_DEVICE_FEATURES,   0x010
        .set R_DEVICE_FEATURES_SEL, 0x014
        .set R_DRIVER_FEATURES,   0x020
        .set R_DRIVER_FEATURES_SEL, 0x024
        .set R_QUEUE_SEL,         0x030
        .set R_QUEUE_NUM_MAX,     0x034
        .set R_QUEUE_NUM,         0x038
        .set R_QUEUE_READY,       0x044
        .set R_QUEUE_NOTIFY,      0x050
        .set R_INTERRUPT_STATUS,  0x060
        .set R_INTERRUPT_ACK,     0x064
        .set R_STATUS,            0x070
        .set R_QUEUE_DESC_LOW,    0x080
        .set R_QUEUE_DESC_HIGH,   0x084
        .set R_QUEUE_AVAIL_LOW,   0x090
        .set R_QUEUE_AVAIL_HIGH,  0x094
        .set R_QUEUE_USED_LOW,    0x0a0
        .set R_QUEUE_USED_HIGH,   0x0a4

        .set S_ACKNOWLEDGE,       0x01
        .set S_DRIVER,            0x02
        .set S_DRIVER_OK,         0x04
        .set S_FEATURES_OK,       0x08
        .set S_NEEDS_RESET,       0x40
        .set S_READY,             S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK

        .set F_NEXT,              1
        .set F_WRITE,             2
        .set F_INDIRECT,          4
        .set INT_VRING,           1
        .set INT_CONFIG,          2

        .set FW_CFG_RAM_SIZE,     0x03
        .set RAM_END,             16 << 20
        .set DESC,                0x200000      /* descriptor table, 16 bytes an entry */
        .set AVAIL,               0x201000      /* flags, idx, ring[] */
        .set USED,                0x202000      /* flags, idx, ring[] of (id, len) */
        .set IND1,                0x203000      /* indirect tables */
        .set IND2,                0x204000
        .set INDBIG,              0x205000      /* BIG_N entries: 5504 bytes */
        .set BUF,                 0x210000
        .set BUFLEN,              64
        .set HUGE,                0x400000
        .set HUGELEN,             8 << 20
        .set CAP,                 0x10000       /* vmm_core's rng::MAX_REQUEST */
        .set SENTINEL,            256           /* bytes past CAP that must stay untouched */
        .set BIG_N,               344           /* 344 x 12 MiB passes 4 GiB (342 would) */
        .set BIG_LEN,             0xc00000
        .set QSIZE,               16

        /* outcome's results besides a served length */
        .set RES_RESET,           0xffffffff
        .set RES_TIMEOUT,         0xfffffffe
        .set RES_BAD,             0xfffffffd

.macro WR reg, val
        movl    \val, VIO + \reg
.endm

.macro RD reg
        movl    VIO + \reg, %eax
.endm

/* One descriptor: entry i of table. */
.macro DESCR table, i, lo, hi, len, flags, next
        movl    $(\lo), \table + 16 * (\i)
        movl    $(\hi), \table + 16 * (\i) + 4
        movl    $(\len), \table + 16 * (\i) + 8
        movw    $(\flags), \table + 16 * (\i) + 12
        movw    $(\next), \table + 16 * (\i) + 14
.endm

/* A case: its name, the routine playing it, what it must end in, an extra check (or 0). */
.macro CASE name, prep, expect, check
        .long   .Lname\@, \prep, \expect, \check
        .pushsection .rodata
.Lname\@: .asciz "\name"
        .popsection
.endm

        .code32
        .text
        .globl  _start
_start:
        movl    $0x8000, %esp
        movw    %ds, %ax
        movw    %ax, %es
        cld
        call    ram_size
        cmpl    $RAM_END, %eax
        movl    $msg_ram, %esi
        jne     die
        call    probe
        xorl    %ebp, %ebp                      /* failures */
        movl    $cases, %ebx
next_case:
        cmpl    $0, (%ebx)
        je      done
        pushl   %ebx
        movl    $msg_case, %esi
        call    puts
        movl    (%ebx), %esi
        call    puts
        movl    $msg_colon, %esi
        call    puts
        call    fresh
        movl    (%esp), %ebx
        call    *4(%ebx)
        call    outcome
        movl    (%esp), %ebx
        cmpl    8(%ebx), %eax
        je      1f
        incl    %ebp
        movl    $msg_unexpected, %esi
        call    puts
1:      movl    12(%ebx), %ecx
        testl   %ecx, %ecx
        jz      2f
        call    *%ecx                           /* %eax: 0, or a complaint */
        testl   %eax, %eax
        jz      2f
        incl    %ebp
        movl    %eax, %esi
        call    puts
2:      movl    $msg_nl, %esi
        call    puts
        popl    %ebx
        addl    $16, %ebx
        jmp     next_case

done:   WR      R_STATUS, $0
        call    ram_size                        /* the other devices still answer */
        cmpl    $RAM_END, %eax
        movl    $msg_fwcfg, %esi
        jne     die
        movl    $msg_done1, %esi
        call    puts
        movl    %ebp, %eax
        call    putdec
        movl    $msg_done2, %esi
        call    puts
        testl   %ebp, %ebp
        jnz     1f
        EXIT    0x10
1:      EXIT    0x11

/* die: prints %esi and exits 0x11. */
die:    call    puts
        EXIT    0x11

/* ram_size: %eax = fw_cfg RAM_SIZE, low 32 bits. */
ram_size:
        movw    $FW_CFG_SEL, %dx
        movw    $FW_CFG_RAM_SIZE, %ax
        outw    %ax, %dx
        movw    $FW_CFG_DATA, %dx
        xorl    %ebx, %ebx
        xorl    %ecx, %ecx
1:      inb     %dx, %al
        movzbl  %al, %eax
        shll    %cl, %eax
        orl     %eax, %ebx
        addl    $8, %ecx
        cmpl    $32, %ecx
        jb      1b
        movl    %ebx, %eax
        ret

/* probe: the device at VIO is virtio-mmio version 2, an entropy device. */
probe:
        movl    $msg_nodev, %esi
        RD      R_MAGIC
        cmpl    $0x74726976, %eax               /* "virt" */
        jne     die
        RD      R_VERSION
        cmpl    $2, %eax
        jne     die
        RD      R_DEVICE_ID
        cmpl    $4, %eax
        jne     die
        movl    $msg_found, %esi
        jmp     puts

/* fresh: resets the device (its status must then read 0), clears the rings, the indirect tables
 * and the buffers' patterns. */
fresh:
        WR      R_STATUS, $0
        RD      R_STATUS
        testl   %eax, %eax
        jz      1f
        incl    %ebp
        movl    $msg_not_reset, %esi
        call    puts
1:      movl    $DESC, %edi
        movl    $(INDBIG + 0x2000 - DESC) / 4, %ecx
        xorl    %eax, %eax
        rep stosl
        movl    $BUF, %edi
        movl    $BUFLEN, %ecx
        movb    $0xa5, %al
        rep stosb
        movl    $HUGE + CAP, %edi
        movl    $SENTINEL, %ecx
        movb    $0x5a, %al
        rep stosb
        movl    $0, early
        ret

/* setup: the driver's initialisation up to QueueReady, queue 0 of %eax entries; no DRIVER_OK. */
setup:
        pushl   %eax
        WR      R_STATUS, $S_ACKNOWLEDGE
        WR      R_STATUS, $(S_ACKNOWLEDGE | S_DRIVER)
        WR      R_DEVICE_FEATURES_SEL, $1
        RD      R_DEVICE_FEATURES
        testl   $1, %eax                        /* VERSION_1, bit 32 */
        movl    $msg_noversion1, %esi
        jz      die
        WR      R_DRIVER_FEATURES_SEL, $0
        WR      R_DRIVER_FEATURES, $0
        WR      R_DRIVER_FEATURES_SEL, $1
        WR      R_DRIVER_FEATURES, $1
        WR      R_STATUS, $S_READY
        RD      R_STATUS
        testl   $S_FEATURES_OK, %eax
        movl    $msg_nofeatures, %esi
        jz      die
        WR      R_QUEUE_SEL, $0
        RD      R_QUEUE_NUM_MAX
        cmpl    $QSIZE, %eax
        movl    $msg_qmax, %esi
        jb      die
        popl    %eax
        movl    %eax, VIO + R_QUEUE_NUM
        WR      R_QUEUE_DESC_LOW, $DESC
        WR      R_QUEUE_DESC_HIGH, $0
        WR      R_QUEUE_AVAIL_LOW, $AVAIL
        WR      R_QUEUE_AVAIL_HIGH, $0
        WR      R_QUEUE_USED_LOW, $USED
        WR      R_QUEUE_USED_HIGH, $0
        WR      R_QUEUE_READY, $1
        ret

driver_ok:
        WR      R_STATUS, $(S_READY | S_DRIVER_OK)
        ret

/* start: a complete set-up of a queue of QSIZE entries. */
start:
        movl    $QSIZE, %eax
        call    setup
        jmp     driver_ok

/* offer: chain %ax is available entry 0; the available index becomes 1. */
offer:
        movw    %ax, AVAIL + 4
        movw    $1, AVAIL + 2
        ret

notify:
        WR      R_QUEUE_NOTIFY, $0
        ret

/* deadline_start / deadline_passed: 2^33 TSC ticks from deadline_start (CF set once
 * passed). Clobber %eax, %edx. */
deadline_start:
        rdtsc
        movl    %eax, t0
        movl    %edx, t0 + 4
        ret
deadline_passed:
        rdtsc
        subl    t0, %eax
        sbbl    t0 + 4, %edx
        cmpl    $2, %edx                        /* CF set while below 2^33 ticks */
        cmc
        ret

/* outcome: waits for the device to serve the offered chain or to need a reset, prints what
 * happened and returns it in %eax: the used length, or RES_RESET, RES_TIMEOUT, RES_BAD. */
outcome:
        call    deadline_start
1:      RD      R_STATUS
        testl   $S_NEEDS_RESET, %eax
        jnz     refused
        movzwl  USED + 2, %eax
        testl   %eax, %eax
        jnz     served
        pause
        call    deadline_passed
        jnc     1b
        movl    $msg_timeout, %esi
        call    puts
        movl    $RES_TIMEOUT, %eax
        ret
refused:
        movzwl  USED + 2, %eax
        testl   %eax, %eax
        movl    $msg_both, %esi
        jnz     bad
        call    deadline_start                  /* raised just after the status shows it */
2:      RD      R_INTERRUPT_STATUS
        testl   $INT_CONFIG, %eax
        jnz     3f
        call    deadline_passed
        jnc     2b
        movl    $msg_noconfig, %esi
        jmp     bad
3:      movl    $msg_reset, %esi
        call    puts
        movl    $RES_RESET, %eax
        ret
served:
        cmpl    $1, %eax
        jne     many
        RD      R_STATUS
        testl   $S_NEEDS_RESET, %eax
        movl    $msg_both, %esi
        jnz     bad
        movl    $msg_served, %esi
        call    puts
        movl    USED + 8, %eax                  /* used ring[0].len */
        pushl   %eax
        call    putdec
        popl    %eax
        ret
many:   pushl   %eax
        movl    $msg_served, %esi
        call    puts
        popl    %eax
        call    putdec
        movl    $msg_chains, %esi
bad:    call    puts
        movl    $RES_BAD, %eax
        ret

/* The cases. Each starts from `fresh`; the device is reset before the next. */

prep_good:
        call    start
        DESCR   DESC, 0, BUF, 0, BUFLEN, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* check_written: the buffer holds something else than its pattern, and the device raised a
 * used-buffer interrupt. */
check_written:
        movl    $BUF, %esi
        movl    $BUFLEN, %ecx
1:      cmpb    $0xa5, (%esi)
        jne     2f
        incl    %esi
        loop    1b
        movl    $msg_untouched, %eax
        ret
2:      call    deadline_start
3:      RD      R_INTERRUPT_STATUS
        testl   $INT_VRING, %eax
        jnz     4f
        call    deadline_passed
        jnc     3b
        movl    $msg_nointr, %eax
        ret
4:      WR      R_INTERRUPT_ACK, $INT_VRING
        RD      R_INTERRUPT_STATUS
        testl   $INT_VRING, %eax
        movl    $msg_noack, %eax
        jnz     5f
        xorl    %eax, %eax
5:      ret

/* A descriptor loop: 0 -> 1 -> 0. */
prep_loop:
        call    start
        DESCR   DESC, 0, BUF, 0, 8, F_WRITE | F_NEXT, 1
        DESCR   DESC, 1, BUF + 8, 0, 8, F_WRITE | F_NEXT, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* A next index past the queue. */
prep_next_past:
        call    start
        DESCR   DESC, 0, BUF, 0, 8, F_WRITE | F_NEXT, 200
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* A chain head past the queue in the available ring. */
prep_head_past:
        call    start
        DESCR   DESC, 0, BUF, 0, 8, F_WRITE, 0
        movl    $300, %eax
        call    offer
        jmp     notify

/* A buffer that runs past the end of RAM. */
prep_past_ram:
        call    start
        DESCR   DESC, 0, RAM_END-32, 0, 64, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* A length that wraps the address space. */
prep_wrap:
        call    start
        DESCR   DESC, 0, 0xffffff00, 0xffffffff, 0x1000, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* A buffer on the device's own registers. */
prep_mmio_buffer:
        call    start
        DESCR   DESC, 0, VIO, 0, 64, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* An indirect table inside an indirect table. */
prep_nested:
        call    start
        DESCR   DESC, 0, IND1, 0, 16, F_INDIRECT, 0
        DESCR   IND1, 0, IND2, 0, 16, F_INDIRECT, 0
        DESCR   IND2, 0, BUF, 0, BUFLEN, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* A zero-length buffer. */
prep_zero:
        call    start
        DESCR   DESC, 0, BUF, 0, 0, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* An 8 MiB buffer: the device writes at most CAP bytes. */
prep_huge:
        call    start
        DESCR   DESC, 0, HUGE, 0, HUGELEN, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* check_cap: nothing written past CAP. */
check_cap:
        movl    $HUGE + CAP, %esi
        movl    $SENTINEL, %ecx
1:      cmpb    $0x5a, (%esi)
        jne     2f
        incl    %esi
        loop    1b
        xorl    %eax, %eax
        ret
2:      movl    $msg_past_cap, %eax
        ret

/* A 4 GiB - 1 buffer (past RAM). */
prep_huge4g:
        call    start
        DESCR   DESC, 0, HUGE, 0, 0xffffffff, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* A chain of BIG_N 12 MiB buffers, each in RAM, longer than 4 GiB in all (an indirect table). */
prep_over4g:
        call    start
        DESCR   DESC, 0, INDBIG, 0, BIG_N*16, F_INDIRECT, 0
        movl    $INDBIG, %edi
        movl    $1, %ecx
1:      movl    $HUGE, (%edi)
        movl    $0, 4(%edi)
        movl    $BIG_LEN, 8(%edi)
        movw    $F_WRITE | F_NEXT, 12(%edi)
        movw    %cx, 14(%edi)
        addl    $16, %edi
        incl    %ecx
        cmpl    $BIG_N, %ecx
        jb      1b
        movl    $HUGE, (%edi)
        movl    $0, 4(%edi)
        movl    $BIG_LEN, 8(%edi)
        movw    $F_WRITE, 12(%edi)
        movw    $0, 14(%edi)
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* An available index far ahead of the ring (100 new entries in a queue of 16). */
prep_avail_ahead:
        call    start
        DESCR   DESC, 0, BUF, 0, 8, F_WRITE, 0
        movw    $0, AVAIL + 4
        movw    $100, AVAIL + 2
        jmp     notify

/* Queue sizes that cannot be: not a power of two, above QueueNumMax. */
prep_qsize3:
        movl    $3, %eax
        call    setup
        jmp     driver_ok
prep_qsize512:
        movl    $512, %eax
        call    setup
        jmp     driver_ok

/* Clearing DRIVER_OK without a reset and setting it again, then a good request. */
prep_status_cleared:
        call    start
        WR      R_STATUS, $S_READY
        call    driver_ok
        DESCR   DESC, 0, BUF, 0, BUFLEN, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        jmp     notify

/* QueueNotify right after the reset, before anything is set up, and again with the chain offered
 * but before DRIVER_OK: nothing may be served or refused before DRIVER_OK (early = 1 if it was);
 * after it the request is served. */
prep_early:
        call    notify
        movl    $QSIZE, %eax
        call    setup
        DESCR   DESC, 0, BUF, 0, BUFLEN, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        call    notify
        /* give a device that serves too early some time to do so: about 2^24 ticks */
        rdtsc
        movl    %edx, %ecx
        movl    %eax, %ebx
1:      pause
        rdtsc
        subl    %ebx, %eax
        sbbl    %ecx, %edx
        testl   %edx, %edx
        jnz     2f
        cmpl    $1 << 24, %eax
        jb      1b
2:      movzwl  USED + 2, %eax
        testl   %eax, %eax
        jz      3f
        movl    $1, early
3:      RD      R_STATUS
        testl   $S_NEEDS_RESET, %eax
        jz      4f
        movl    $1, early
4:      jmp     driver_ok

check_early:
        cmpl    $0, early
        movl    $msg_early, %eax
        jne     1f
        call    check_written
1:      ret

/* QueueNotify for queues the device does not have, then for queue 0. */
prep_no_such_queue:
        call    start
        DESCR   DESC, 0, BUF, 0, BUFLEN, F_WRITE, 0
        xorl    %eax, %eax
        call    offer
        WR      R_QUEUE_NOTIFY, $1
        WR      R_QUEUE_NOTIFY, $0xffff
        WR      R_QUEUE_NOTIFY, $0xffffffff
        jmp     notify

        DEFINE_PUTS
        DEFINE_PUTDEC32

        .data
        .balign 4
t0:     .long   0, 0
early:  .long   0
cases:
        CASE    "good", prep_good, BUFLEN, check_written
        CASE    "loop", prep_loop, RES_RESET, 0
        CASE    "next-past-queue", prep_next_past, RES_RESET, 0
        CASE    "head-past-queue", prep_head_past, RES_RESET, 0
        CASE    "past-ram", prep_past_ram, RES_RESET, 0
        CASE    "wrap", prep_wrap, RES_RESET, 0
        CASE    "mmio-buffer", prep_mmio_buffer, RES_RESET, 0
        CASE    "nested-indirect", prep_nested, RES_RESET, 0
        CASE    "zero-length", prep_zero, 0, 0
        CASE    "huge", prep_huge, CAP, check_cap
        CASE    "huge-4g", prep_huge4g, RES_RESET, 0
        CASE    "chain-over-4g", prep_over4g, RES_RESET, 0
        CASE    "avail-idx-ahead", prep_avail_ahead, RES_RESET, 0
        CASE    "queue-size-3", prep_qsize3, RES_RESET, 0
        CASE    "queue-size-512", prep_qsize512, RES_RESET, 0
        CASE    "status-cleared", prep_status_cleared, RES_RESET, 0
        CASE    "early-notify", prep_early, BUFLEN, check_early
        CASE    "notify-no-such-queue", prep_no_such_queue, BUFLEN, check_written
        CASE    "final", prep_good, BUFLEN, check_written
        .long   0

        .section .rodata
msg_found:      .asciz "virtio: rng at 0xd1000000\n"
msg_nodev:      .asciz "virtio: no virtio-mmio entropy device at 0xd1000000\n"
msg_ram:        .asciz "virtio: this guest needs 16 MiB of RAM\n"
msg_fwcfg:      .asciz "virtio: fw_cfg no longer answers\n"
msg_noversion1: .asciz "virtio: VERSION_1 not offered\n"
msg_nofeatures: .asciz "virtio: FEATURES_OK refused\n"
msg_qmax:       .asciz "virtio: QueueNumMax too small\n"
msg_case:       .asciz "case "
msg_colon:      .asciz ": "
msg_nl:         .asciz "\n"
msg_served:     .asciz "served "
msg_chains:     .asciz " chains"
msg_reset:      .asciz "needs-reset"
msg_timeout:    .asciz "timeout"
msg_both:       .asciz "served and needs-reset"
msg_noconfig:   .asciz "needs-reset without a config interrupt"
msg_unexpected: .asciz " (unexpected)"
msg_untouched:  .asciz " (buffer untouched)"
msg_nointr:     .asciz " (no used-buffer interrupt)"
msg_noack:      .asciz " (interrupt not acknowledged)"
msg_past_cap:   .asciz " (written past the cap)"
msg_early:      .asciz " (served or refused before DRIVER_OK)"
msg_not_reset:  .asciz "(status not 0 after a reset) "
msg_done1:      .asciz "virtio: "
msg_done2:      .asciz " failed, fw_cfg and serial still work\n"
