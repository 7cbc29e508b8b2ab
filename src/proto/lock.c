// SPDX-License-Identifier: MIT
/* The contended half of lock.h. */
#include "lock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void uvfio_lock_wait(struct uvfio_lock *l)
{
	/* From here on the lock is marked as having waiters. */
	while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire))
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void uvfio_lock_wake(struct uvfio_lock *l)
{
	syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
