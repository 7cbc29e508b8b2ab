// SPDX-License-Identifier: MIT
/*
 * Console on the VMM's debug port, and a small printf: %d %i %u %x %X
 * %p %s %c %%, with l/ll/z, a width and the 0, - and # flags.  Output is
 * formatted into a buffer and sent with one rep outsb, which costs one
 * exit instead of one per character.  A spinlock keeps lines from
 * several vCPUs apart.
 */
#include "guest.h"

#define LINE_MAX 512

static volatile int console_lock;

static void lock(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu_pause();
}

static void unlock(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

static void send(const char *s, size_t n)
{
	__asm__ volatile("rep outsb"
			 : "+S"(s), "+c"(n)
			 : "d"((uint16_t)PORT_CONSOLE)
			 : "memory");
}

void putchar_console(char c)
{
	outb(PORT_CONSOLE, (uint8_t)c);
}

void puts_console(const char *s)
{
	lock();
	send(s, strlen(s));
	unlock();
}

struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void emit(struct out *o, char c)
{
	if (o->pos + 1 < o->len)
		o->buf[o->pos] = c;
	o->pos++;
}

static void emit_num(struct out *o, uint64_t v, unsigned int base, bool neg,
		     bool upper, unsigned int width, char pad, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	unsigned int n = 0, total;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	total = n + neg;
	if (neg && pad == '0')
		emit(o, '-');
	for (; !left && total < width; total++)
		emit(o, pad);
	if (neg && pad != '0')
		emit(o, '-');
	while (n)
		emit(o, tmp[--n]);
	for (; left && total < width; total++)
		emit(o, ' ');
}

static uint64_t get_arg(va_list *ap, int lng, bool is_signed, bool *neg)
{
	int64_t s;

	*neg = false;
	if (!is_signed)
		return lng ? va_arg(*ap, uint64_t) : va_arg(*ap, unsigned int);
	s = lng ? va_arg(*ap, int64_t) : va_arg(*ap, int);
	if (s < 0) {
		*neg = true;
		return (uint64_t)0 - (uint64_t)s;
	}
	return (uint64_t)s;
}

int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct out o = { buf, len, 0 };
	va_list aq;

	va_copy(aq, ap);
	for (; *fmt; fmt++) {
		unsigned int width = 0;
		bool left = false, alt = false, neg;
		char pad = ' ';
		const char *s;
		int lng = 0;
		uint64_t v;

		if (*fmt != '%') {
			emit(&o, *fmt);
			continue;
		}
		fmt++;
		for (; *fmt == '0' || *fmt == '-' || *fmt == '#'; fmt++) {
			if (*fmt == '0')
				pad = '0';
			else if (*fmt == '-')
				left = true;
			else
				alt = true;
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (unsigned int)(*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng = 1;
		if (left)
			pad = ' ';
		switch (*fmt) {
		case 'd':
		case 'i':
			v = get_arg(&aq, lng, true, &neg);
			emit_num(&o, v, 10, neg, false, width, pad, left);
			break;
		case 'u':
		case 'x':
		case 'X':
			v = get_arg(&aq, lng, false, &neg);
			if (alt && v && *fmt != 'u') {
				emit(&o, '0');
				emit(&o, 'x');
			}
			emit_num(&o, v, *fmt == 'u' ? 10 : 16, false,
				 *fmt == 'X', width, pad, left);
			break;
		case 'p':
			emit(&o, '0');
			emit(&o, 'x');
			emit_num(&o, (uintptr_t)va_arg(aq, void *), 16, false,
				 false, width, pad, left);
			break;
		case 'c':
			emit(&o, (char)va_arg(aq, int));
			break;
		case 's':
			s = va_arg(aq, const char *);
			s = s ? s : "(null)";
			v = strlen(s);
			for (; !left && v < width; v++)
				emit(&o, ' ');
			for (; *s; s++)
				emit(&o, *s);
			for (; left && v < width; v++)
				emit(&o, ' ');
			break;
		case '%':
			emit(&o, '%');
			break;
		default:
			emit(&o, '%');
			if (!*fmt)
				goto done;
			emit(&o, *fmt);
			break;
		}
	}
done:
	va_end(aq);
	if (len)
		buf[o.pos < len ? o.pos : len - 1] = '\0';
	return (int)o.pos;
}

int snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

int vprintf(const char *fmt, va_list ap)
{
	char line[LINE_MAX];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	lock();
	send(line, strlen(line));
	unlock();
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
