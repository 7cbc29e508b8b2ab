// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm without /dev/kvm: its ELF loader over good and hostile
 * guest files (into plain memory standing for guest RAM), and its
 * command line, which it checks before it opens /dev/kvm.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm.h"

#define RAM (8ull << 20)
#define LOAD GPA_LOAD_MIN
#define CODE 64

extern char **environ;

struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	uint8_t code[CODE];
};

static struct guest_ram ram;

static int setup(void **state)
{
	ram.fd = -1;
	ram.size = RAM;
	ram.low = RAM;
	ram.hva = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return ram.hva == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
	munmap(ram.hva, RAM);
	return 0;
}

/* A good static x86-64 executable: code, then 4 KiB of bss. */
static void good(struct image *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = EM_X86_64;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_entry = LOAD + 8;
	im->eh.e_phoff = offsetof(struct image, ph);
	im->eh.e_phentsize = sizeof(Elf64_Phdr);
	im->eh.e_phnum = 1;
	im->ph[0].p_type = PT_LOAD;
	im->ph[0].p_flags = PF_R | PF_X;
	im->ph[0].p_offset = offsetof(struct image, code);
	im->ph[0].p_vaddr = LOAD;
	im->ph[0].p_filesz = CODE;
	im->ph[0].p_memsz = CODE + 4096;
	for (unsigned int i = 0; i < CODE; i++)
		im->code[i] = (uint8_t)(0x90 + i);
}

/* Writes len bytes of im to a file and loads it; elf_load's result. */
static int load(const void *im, size_t len, uint64_t *entry)
{
	char path[] = "/tmp/uvfio-elf-XXXXXX";
	int fd = mkstemp(path), r;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, im, len), (ssize_t)len);
	close(fd);
	r = elf_load(&ram, path, RAM, entry);
	unlink(path);
	return r;
}

static void test_good(void **state)
{
	struct image im;
	uint64_t entry = 0;

	good(&im);
	memset(ram.hva + LOAD, 0xee, CODE + 4096);
	assert_int_equal(load(&im, sizeof(im), &entry), 0);
	assert_int_equal(entry, LOAD + 8);
	assert_memory_equal(ram.hva + LOAD, im.code, CODE);
	for (unsigned int i = 0; i < 4096; i++)
		assert_int_equal(ram.hva[LOAD + CODE + i], 0); /* bss */
}

/* Spoils a good image in case k's way: its name, or NULL past the last. */
static const char *spoil(struct image *im, unsigned int k)
{
	switch (k) {
	case 0: im->eh.e_ident[1] = 'X'; return "not ELF";
	case 1: im->eh.e_ident[EI_CLASS] = ELFCLASS32; return "32-bit";
	case 2: im->eh.e_ident[EI_DATA] = ELFDATA2MSB; return "big-endian";
	case 3: im->eh.e_machine = EM_AARCH64; return "not x86-64";
	case 4: im->eh.e_type = ET_DYN; return "PIE";
	case 5: im->eh.e_phnum = 0; return "no program headers";
	case 6: im->eh.e_phnum = 65; return "too many headers";
	case 7: im->eh.e_phoff = 1u << 30; return "headers past the end";
	case 8: im->eh.e_phentsize = 8; return "odd header size";
	case 9: im->ph[0].p_filesz = im->ph[0].p_memsz + 1;
		return "filesz > memsz";
	case 10: im->ph[0].p_offset = 1u << 20; return "data past the file";
	case 11: im->ph[0].p_filesz = 4096; return "data size past the file";
	case 12: im->ph[0].p_vaddr = 0x1000; return "below the load area";
	case 13: im->ph[0].p_vaddr = RAM - 4096; return "past guest RAM";
	case 14: im->ph[0].p_memsz = UINT64_MAX; return "memsz wraps";
	case 15: im->eh.e_entry = LOAD + 0x10000; return "entry outside";
	case 16: im->ph[0].p_flags = PF_R; return "entry not executable";
	case 17: im->ph[0].p_type = PT_NOTE; return "nothing to load";
	default: return NULL;
	}
}

/* Each spoiled image is one a loader must refuse. */
static void test_hostile(void **state)
{
	struct image im;
	uint64_t entry;
	const char *what;

	for (unsigned int k = 0; good(&im), (what = spoil(&im, k)); k++) {
		entry = 0;
		if (load(&im, sizeof(im), &entry) != -ENOEXEC)
			fail_msg("%s: loaded", what);
		assert_int_equal(entry, 0);
	}
	/* Cut short, empty, missing. */
	good(&im);
	assert_int_equal(load(&im, sizeof(im.eh) - 1, &entry), -ENOEXEC);
	assert_int_not_equal(load(&im, 0, &entry), 0);
	assert_int_not_equal(elf_load(&ram, "/nonexistent/guest.elf", RAM,
				      &entry),
			     0);
}

/* Runs uvfio-vmm with args; its exit status, its stderr in err. */
static int vmm(char *const *args, char *err, size_t cap)
{
	const char *bin = getenv("UVFIO_VMM");
	posix_spawn_file_actions_t fa;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	assert_non_null(bin);
	assert_int_equal(pipe(p), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, args, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	for (size_t got = 0;; got += (size_t)n) {
		n = got < cap - 1 ? read(p[0], err + got, cap - 1 - got) : 0;
		if (n <= 0) {
			err[got] = 0;
			break;
		}
	}
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_cmdline(void **state)
{
	static const struct {
		char *args[8];
		const char *says;
	} bad[] = {
		{ { "uvfio-vmm", NULL }, "--guest is required" },
		{ { "uvfio-vmm", "-g", "x", "--mem", "1K", NULL }, "--mem" },
		{ { "uvfio-vmm", "-g", "x", "--mem", "65G", NULL }, "--mem" },
		{ { "uvfio-vmm", "-g", "x", "--cpus", "65", NULL }, "--cpus" },
		{ { "uvfio-vmm", "-g", "x", "--cpus", "0", NULL }, "--cpus" },
		{ { "uvfio-vmm", "-g", "x", "-d", "nvme,socket=/s", NULL },
		  "--device" },
		{ { "uvfio-vmm", "-g", "x", "stray", NULL }, "unexpected" },
		{ { "uvfio-vmm", "-g", "x", "--reconnect-ms", "-1", NULL },
		  "--reconnect-ms" },
		{ { "uvfio-vmm", "-g", "x", "--reconnect-ms", "5s", NULL },
		  "--reconnect-ms" },
		{ { "uvfio-vmm", "--bogus", NULL }, "usage" },
		{ { "uvfio-vmm", "--incoming", "/tmp/s", NULL },
		  "want unix:PATH" },
		{ { "uvfio-vmm", "--incoming", "unix:", NULL }, "empty path" },
		{ { "uvfio-vmm", "-g", "x", "--restore", "f", NULL },
		  "exclude each other" },
		{ { "uvfio-vmm", "-g", "x", "--migrate-after-ms", "5", NULL },
		  "needs --migrate-to" },
		{ { "uvfio-vmm", "-g", "x", "--save", "a", "--save", "b",
		    NULL },
		  "at most" },
		{ { "uvfio-vmm", "-g", "x", "--migrate-to", "tcp:1", NULL },
		  "want unix:PATH" },
	};
	char out[4096];
	char *help[] = { "uvfio-vmm", "--help", NULL };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vmm(bad[i].args, out, sizeof(out)), 125);
		if (!strstr(out, bad[i].says))
			fail_msg("case %zu: no '%s' in: %s", i, bad[i].says,
				 out);
	}
	assert_int_equal(vmm(help, out, sizeof(out)), 0);
	for (const char *o = "--guest\0--mem\0--cpus\0--device\0--stats\0"
			     "--reconnect-ms\0--verbose\0--help\0--incoming\0"
			     "--restore\0--migrate-to\0--save\0"
			     "--migrate-after-ms\0";
	     *o; o += strlen(o) + 1)
		if (!strstr(out, o))
			fail_msg("--help does not list %s", o);
}

/*
 * The page tables boot_build() leaves: walks them in the RAM image as
 * the MMU would; the entry mapping va (2 MiB or 4 KiB), or 0.
 */
static uint64_t walk(const uint8_t *mem, uint64_t va, uint64_t *pa)
{
	uint64_t e;

	memcpy(&e, mem + GPA_PML4 + (va >> 39 & 511) * 8, 8);
	if (!(e & 1))
		return 0;
	memcpy(&e, mem + (e & ~0xfffull) + (va >> 30 & 511) * 8, 8);
	if (!(e & 1))
		return 0;
	memcpy(&e, mem + (e & ~0xfffull) + (va >> 21 & 511) * 8, 8);
	if (!(e & 1))
		return 0;
	if (e & 0x80) {
		*pa = (e & ~0x1fffffull & ((1ull << 52) - 1)) | (va & 0x1fffff);
		return e;
	}
	memcpy(&e, mem + (e & ~0xfffull) + (va >> 12 & 511) * 8, 8);
	*pa = (e & ~0xfffull & ((1ull << 52) - 1)) | (va & 0xfff);
	return e & 1 ? e : 0;
}

/* 5 GiB of RAM: 3 at 0, 2 at 4 GiB, then the 64-bit PCI window. */
static void test_paging(void **state)
{
	struct guest_ram big = { .fd = -1,
				 .size = 5ull << 30,
				 .low = RAM_LOW_MAX };
	const uint64_t uc = 0x18; /* PCD | PWT */
	uint64_t w64, pa = 0, e;
	struct {
		uint64_t va;
		bool mapped, uncached;
	} want[] = {
		{ 0, false, false }, /* page 0: NULL faults */
		{ 0x1000, true, false },
		{ 0x200000, true, false },
		{ RAM_LOW_MAX - 1, true, false },
		{ PCI_MMIO_BASE, true, true },
		{ 0xfee00000, true, true },
		{ GPA_HIGH_RAM, true, false },
		{ GPA_HIGH_RAM + (2ull << 30) - 1, true, false },
		{ 0, true, true }, /* the 64-bit window, filled in below */
		{ 0, true, true },
		{ 0, false, false },
	};

	big.hva = mmap(NULL, GPA_BOOT_END, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(big.hva != MAP_FAILED);
	w64 = ram_mmio64_base(&big);
	assert_int_equal(w64, 6ull << 30);
	want[8].va = w64;
	want[9].va = w64 + PCI_MMIO64_SIZE - 1;
	want[10].va = w64 + PCI_MMIO64_SIZE;
	assert_int_equal(boot_build(&big), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		e = walk(big.hva, want[i].va, &pa);
		if (!!e != want[i].mapped)
			fail_msg("%#llx: %s", (unsigned long long)want[i].va,
				 e ? "mapped" : "not mapped");
		if (!e)
			continue;
		assert_int_equal(pa, want[i].va); /* identity */
		assert_int_equal((e & uc) == uc, want[i].uncached);
	}
	assert_ptr_equal(ram_ptr(&big, GPA_HIGH_RAM + 4096, 4096),
			 big.hva + RAM_LOW_MAX + 4096);
	assert_null(ram_ptr(&big, RAM_LOW_MAX, 4096)); /* the PCI hole */
	assert_null(ram_ptr(&big, GPA_HIGH_RAM + (2ull << 30) - 4095, 4096));
	assert_int_equal(ram_gpa(&big, RAM_LOW_MAX + 8192),
			 GPA_HIGH_RAM + 8192);
	munmap(big.hva, GPA_BOOT_END);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_paging),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
