// SPDX-License-Identifier: MIT
/*
 * Test reporting: one PASS/FAIL/SKIP line per check, and a summary that
 * ends the guest with 0 when something passed and nothing failed, 1
 * otherwise: a guest that checked nothing proved nothing.
 */
#include "guest.h"

static unsigned int passed, failed, skipped;

static void line(const char *tag, const char *fmt, va_list ap)
{
	char msg[400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	printf("%s: %s\n", tag, msg);
}

void report(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line(ok ? "PASS" : "FAIL", fmt, ap);
	va_end(ap);
	if (ok)
		passed++;
	else
		failed++;
}

void report_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line("SKIP", fmt, ap);
	va_end(ap);
	skipped++;
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line("INFO", fmt, ap);
	va_end(ap);
}

void report_summary(void)
{
	if (!passed && !failed)
		printf("FAIL: no check was made\n");
	printf("SUMMARY: %u passed, %u failed, %u skipped\n", passed, failed,
	       skipped);
	exit(failed || !passed ? 1 : 0);
}
