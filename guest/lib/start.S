/* SPDX-License-Identifier: MIT */
/*
 * Entry from the VMM: long mode, paging on, interrupts off, RSP at the
 * top of this vCPU's stack, RDI = vCPU index, RSI = vCPU count, RDX =
 * RAM at 0, R8 = RAM at 4 GiB (RCX 0): guest_start()'s arguments as
 * they stand.  Everything else happens in C.
 */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	xorl %ebp, %ebp
	andq $-16, %rsp
	call guest_start
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
