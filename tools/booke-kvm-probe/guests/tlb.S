# The shared TLB, both directions (booke lane, probe.c mode "tlb"):
# 1. the guest writes TLB1[2] (the CCSR map) and a TLB0 entry (EA 0x105000 -> 0x5000, 4 KiB,
#    set 5 way 1: array index 5 * 4 + 1 = 21) with tlbwe, loads the word at EA 0x105000 through
#    it and stores it to the report port: the driver then checks that the shared array holds both
#    entries exactly as written (what KVM keeps in sync on every exit);
# 2. the driver changes the array: TLB0[21] now maps EA 0x105000 to 0x6000 (an entry the guest
#    has used, so KVM holds a shadow mapping of it), and a new TLB1[3] maps EA 0x3000_0000 to
#    0x7000; it flags both with KVM_DIRTY_TLB and resumes; the guest loads through both and
#    reports the words: the host's entries, not stale shadows, reached the guest's MMU;
# 3. debug exit 0x10. Any interrupt (a TLB miss if an entry is missing) lands at 0x700 (every
#    IVOR, set by the driver), which reports 0xbad00bad and exits with 0x11.
	.include "board.inc"
	.text
	.globl _start
_start:
	MAP_CCSR
	WRITE_TLB 0x00010000, 0x80000100, 0x00105000, 0x00005005, 0
	LI32 11, REPORT_EA
	LI32 7, 0x00105000
	lwz 6, 0(7)
	stw 6, 0(11)		# report 1: the word at 0x5000, read through the guest's TLB0 entry
	LI32 7, 0x00105000
	lwz 6, 0(7)
	stw 6, 0(11)		# report 2: the word at 0x6000, through TLB0[21] as the host retargeted it
	lis 7, 0x3000
	lwz 6, 0(7)
	stw 6, 0(11)		# report 3: the word at 0x7000, read through the host's TLB1[3]
	DEBUG_EXIT 0x10

	.org 0x700
interrupt:
	LI32 11, REPORT_EA
	LI32 6, 0xbad00bad
	stw 6, 0(11)
	DEBUG_EXIT 0x11

	.org 0x5000
	.long 0x5eed0001
	.org 0x6000
	.long 0x5eed0002
	.org 0x7000
	.long 0x5eed0003
