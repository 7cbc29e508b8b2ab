/* SPDX-License-Identifier: MIT */
/*
 * uvfio-testdev programming model: the register layout of the Linux
 * pci-epf-test endpoint function, so that the stock pci_endpoint_test
 * driver and pcitest drive it unchanged.  Plain defines only: tests and
 * tools include this without pulling in anything else.
 */
#ifndef TESTDEV_REGS_H
#define TESTDEV_REGS_H

/* TI DRA74x: an ID the pci_endpoint_test driver binds to. */
#define TESTDEV_VENDOR_ID 0x104cu
#define TESTDEV_DEVICE_ID 0xb500u
#define TESTDEV_CLASS 0xff0000u         /* unclassified */

/* PCIe extended capabilities: Device Serial Number, then a VSEC. */
#define TESTDEV_SERIAL 0x7576666900b50001ull /* "uvfi", b500, 1 */
#define TESTDEV_VSEC_ID 0x0001
#define TESTDEV_VSEC_REV 1

/* BAR0 holds the registers and the MSI-X structures; 1..5 are memory. */
#define TESTDEV_REG_BAR 0
#define TESTDEV_BAR0_SIZE 0x10000u
#define TESTDEV_BAR1_SIZE 512u
#define TESTDEV_BAR2_SIZE 1024u
#define TESTDEV_BAR3_SIZE 16384u
#define TESTDEV_BAR4_SIZE 131072u
#define TESTDEV_BAR5_SIZE 1048576u
#define TESTDEV_BAR_SIZES                                                    \
	{ TESTDEV_BAR0_SIZE, TESTDEV_BAR1_SIZE, TESTDEV_BAR2_SIZE,           \
	  TESTDEV_BAR3_SIZE, TESTDEV_BAR4_SIZE, TESTDEV_BAR5_SIZE }

/* Registers: 32-bit, little endian, at the start of BAR0. */
#define TESTDEV_REG_MAGIC 0x00
#define TESTDEV_REG_COMMAND 0x04
#define TESTDEV_REG_STATUS 0x08
#define TESTDEV_REG_SRC_LO 0x0c
#define TESTDEV_REG_SRC_HI 0x10
#define TESTDEV_REG_DST_LO 0x14
#define TESTDEV_REG_DST_HI 0x18
#define TESTDEV_REG_SIZE 0x1c
#define TESTDEV_REG_CHECKSUM 0x20
#define TESTDEV_REG_IRQ_TYPE 0x24
#define TESTDEV_REG_IRQ_NUMBER 0x28    /* 1-based: N raises vector N-1 */
#define TESTDEV_REG_FLAGS 0x2c
#define TESTDEV_REGS_LEN 0x30           /* read/write register bytes */
/* Read-only, as in newer pci-epf-test; writes are ignored. */
#define TESTDEV_REG_CAPS 0x30
#define TESTDEV_REGS_END 0x34           /* everything up to here decodes */

/* COMMAND: exactly one bit per command. */
#define TESTDEV_CMD_RAISE_INTX (1u << 0)
#define TESTDEV_CMD_RAISE_MSI (1u << 1)
#define TESTDEV_CMD_RAISE_MSIX (1u << 2)
#define TESTDEV_CMD_RAISE_ALL                                               \
	(TESTDEV_CMD_RAISE_INTX | TESTDEV_CMD_RAISE_MSI | TESTDEV_CMD_RAISE_MSIX)
#define TESTDEV_CMD_READ (1u << 3)      /* host SRC -> CRC vs CHECKSUM */
#define TESTDEV_CMD_WRITE (1u << 4)     /* random data -> host DST */
#define TESTDEV_CMD_COPY (1u << 5)      /* host SRC -> host DST */

/* STATUS */
#define TESTDEV_STATUS_READ_OK (1u << 0)
#define TESTDEV_STATUS_READ_FAIL (1u << 1)
#define TESTDEV_STATUS_WRITE_OK (1u << 2)
#define TESTDEV_STATUS_WRITE_FAIL (1u << 3)
#define TESTDEV_STATUS_COPY_OK (1u << 4)
#define TESTDEV_STATUS_COPY_FAIL (1u << 5)
#define TESTDEV_STATUS_IRQ_RAISED (1u << 6)
#define TESTDEV_STATUS_SRC_INVALID (1u << 7)
#define TESTDEV_STATUS_DST_INVALID (1u << 8)

/* IRQ_TYPE */
#define TESTDEV_IRQ_INTX 0
#define TESTDEV_IRQ_MSI 1
#define TESTDEV_IRQ_MSIX 2

/* FLAGS: informational only, the device always moves data itself. */
#define TESTDEV_FLAG_USE_DMA (1u << 0)

/* CAPS: what the pci_endpoint_test driver reads to pick its defaults. */
#define TESTDEV_CAP_UNALIGNED (1u << 0)
#define TESTDEV_CAP_MSI (1u << 1)
#define TESTDEV_CAP_MSIX (1u << 2)
#define TESTDEV_CAP_INTX (1u << 3)
#define TESTDEV_CAPS                                                         \
	(TESTDEV_CAP_UNALIGNED | TESTDEV_CAP_MSI | TESTDEV_CAP_MSIX |        \
	 TESTDEV_CAP_INTX)

/* Interrupts. */
#define TESTDEV_MSI_VECTORS 32
#define TESTDEV_MSIX_VECTORS 2048
#define TESTDEV_MSIX_TABLE_OFF 0x1000u
#define TESTDEV_MSIX_TABLE_LEN (TESTDEV_MSIX_VECTORS * 16u)
#define TESTDEV_MSIX_PBA_OFF 0x9000u
#define TESTDEV_MSIX_PBA_LEN 256u

/* Largest READ/WRITE/COPY the device accepts. */
#define TESTDEV_MAX_XFER (64u << 20)

#endif
