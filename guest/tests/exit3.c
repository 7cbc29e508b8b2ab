// SPDX-License-Identifier: MIT
/* The exit port's value becomes the VMM's exit status: this one is 3. */
#include "guest.h"

int main(void)
{
	printf("exiting with 3\n");
	return 3;
}
