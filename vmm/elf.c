// SPDX-License-Identifier: MIT
/*
 * Guest loader: a static ELF64 x86-64 executable, its PT_LOAD segments
 * copied to their (identity-mapped) addresses.  The file is untrusted:
 * every size, offset and address is checked before use, so that a
 * malformed or hostile ELF ends in an error message, never in a write
 * outside guest RAM.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

#define ELF_MAX_FILE (256ull << 20)
#define ELF_MAX_PHDRS 64

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vmm_err("guest %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > ELF_MAX_FILE) {
		vmm_err("guest %s: not a regular file of at most %llu bytes",
			path, ELF_MAX_FILE);
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			vmm_err("guest %s: read: %s", path, strerror(-ret));
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = done;
	return 0;
}

static int check_ehdr(const Elf64_Ehdr *eh, size_t len, const char *path)
{
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG)) {
		vmm_err("guest %s: not an ELF file", path);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT ||
	    eh->e_machine != EM_X86_64 || eh->e_version != EV_CURRENT) {
		vmm_err("guest %s: not a little-endian ELF64 for x86-64", path);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		vmm_err("guest %s: not a static executable (link with "
			"-static -no-pie)",
			path);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum ||
	    eh->e_phnum > ELF_MAX_PHDRS || eh->e_phoff > len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff) {
		vmm_err("guest %s: bad program header table", path);
		return -ENOEXEC;
	}
	return 0;
}

static int check_phdr(const Elf64_Phdr *ph, size_t len, uint64_t load_end,
		      const char *path)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > len ||
	    ph->p_filesz > len - ph->p_offset) {
		vmm_err("guest %s: segment at %#llx has bad sizes", path,
			(unsigned long long)ph->p_vaddr);
		return -ENOEXEC;
	}
	if (ph->p_vaddr < GPA_LOAD_MIN || ph->p_vaddr > load_end ||
	    ph->p_memsz > load_end - ph->p_vaddr) {
		vmm_err("guest %s: segment [%#llx, +%#llx) outside the load "
			"area [%#llx, %#llx)",
			path, (unsigned long long)ph->p_vaddr,
			(unsigned long long)ph->p_memsz, GPA_LOAD_MIN,
			(unsigned long long)load_end);
		return -ENOEXEC;
	}
	return 0;
}

static int load(struct guest_ram *ram, const uint8_t *file, size_t len,
		uint64_t load_end, uint64_t *entry, const char *path)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
	bool entry_ok = false;
	unsigned int i, loads = 0;
	int ret;

	ret = check_ehdr(eh, len, path);
	if (ret)
		return ret;
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		memcpy(&ph, file + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		ret = check_phdr(&ph, len, load_end, path);
		if (ret)
			return ret;
		dst = ram_ptr(ram, ph.p_vaddr, ph.p_memsz);
		if (!dst)
			return -ENOEXEC;
		memcpy(dst, file + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if ((ph.p_flags & PF_X) && eh->e_entry >= ph.p_vaddr &&
		    eh->e_entry - ph.p_vaddr < ph.p_memsz)
			entry_ok = true;
		loads++;
	}
	if (!loads || !entry_ok) {
		vmm_err("guest %s: %s", path,
			loads ? "entry point is not in an executable segment" :
				"nothing to load");
		return -ENOEXEC;
	}
	*entry = eh->e_entry;
	return 0;
}

int elf_load(struct guest_ram *ram, const char *path, uint64_t load_end,
	     uint64_t *entry)
{
	uint8_t *file = NULL;
	size_t len = 0;
	int ret;

	ret = read_file(path, &file, &len);
	if (ret)
		return ret;
	ret = load(ram, file, len, load_end, entry, path);
	free(file);
	return ret;
}
