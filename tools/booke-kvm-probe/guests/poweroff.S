# The shared `poweroff` contract (integration-tests/tests/suite/power.rs) for e500v2: prints
# "poweroff: bye" and powers off through GPIO pin 0 (GPDIR then GPDAT bit 0x80000000), the way
# QEMU's ppce500 board wires `gpio-poweroff` (see probe.c for where the GPIO block sits).
	.include "board.inc"
	.text
	.globl _start
_start:
	MAP_CCSR
	LA 5, msg
	PUTS
	LI32 10, GPIO_EA
	lis 4, 0x8000
	stw 4, 0(10)		# GPDIR: pin 0 is an output
	stw 4, 8(10)		# GPDAT: pin 0 high -> power off
1:	b 1b
msg:
	.asciz "poweroff: bye\n"
