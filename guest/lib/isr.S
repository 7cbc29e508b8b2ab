/* SPDX-License-Identifier: MIT */
/*
 * 256 interrupt entry stubs, 16 bytes apart from isr_stubs, so idt.c
 * finds vector n at isr_stubs + 16 * n.  Each pushes a dummy error code
 * where the CPU pushes none, then the vector, and joins isr_common,
 * which saves the general registers as a struct irq_frame and calls
 * isr_dispatch(frame).  The CPU aligned RSP to 16 before its pushes; the
 * 22 quadwords that follow keep it aligned for the call.
 */
	.section .text, "ax"
	.globl isr_stubs
	.balign 16
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	/* Vectors the CPU pushes an error code for. */
	.set errcode, (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17)
	.set errcode, errcode || (vec == 21) || (vec == 29) || (vec == 30)
	.if errcode == 0
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

	.section .note.GNU-stack, "", @progbits
