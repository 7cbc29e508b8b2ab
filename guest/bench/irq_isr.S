/* SPDX-License-Identifier: MIT */
/*
 * Interrupt entries for the irq benchmark: count the arrival in the
 * mailbox and EOI, nothing else, so that the guest's own share of the
 * measured latency (its code is emulated here) stays as small as it can.
 * The count comes first, as it is what the host waits for; the host lets
 * the guest halt again before the next raise, so the EOI is long done.
 * One vCPU: a plain increment is atomic enough.
 */
#include "mailbox.h"

	.section .text, "ax"
	.macro bench_entry path
	.globl bench_isr\path
bench_isr\path:
	pushq %rax
	movl $(BENCH_MAILBOX_GPA + BENCH_MB_SEQ(\path)), %eax
	incl (%rax)
	movl $0xfee000b0, %eax
	movl $0, (%rax)
	popq %rax
	iretq
	.endm

	bench_entry 0
	bench_entry 1
	bench_entry 2

	.section .note.GNU-stack, "", @progbits
