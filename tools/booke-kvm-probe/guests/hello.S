# The shared `hello` contract (integration-tests/tests/suite/contract.rs) for e500v2: prints
# "hello from tetra" on the board's 16550 and ends with debug-exit status 0x10.
	.include "board.inc"
	.text
	.globl _start
_start:
	MAP_CCSR
	LA 5, msg
	PUTS
	DEBUG_EXIT 0x10
msg:
	.asciz "hello from tetra\n"
