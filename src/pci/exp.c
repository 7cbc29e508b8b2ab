// SPDX-License-Identifier: MIT
/*
 * The PCI Express capability of an endpoint (version 2): a x1 2.5 GT/s
 * link that is always up, no slot, no FLR, error reporting controls that
 * software may set and error status it clears by writing ones.
 */
#include "pci_internal.h"

#define EXP_SIZEOF 0x3c /* through Slot Status 2 */
#define EXP_VERSION 2

#define DEVCAP_INIT                                                   \
	(PCI_EXP_DEVCAP_RBER | (1u << 0) /* 256-byte max payload */ | \
	 PCI_EXP_DEVCAP_L0S /* no L0s limit */ |                      \
	 PCI_EXP_DEVCAP_L1 /* no L1 limit */)

#define DEVCTL_WRITABLE                                                     \
	(PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE | \
	 PCI_EXP_DEVCTL_URRE | PCI_EXP_DEVCTL_RELAX_EN |                    \
	 PCI_EXP_DEVCTL_PAYLOAD | PCI_EXP_DEVCTL_NOSNOOP_EN |               \
	 PCI_EXP_DEVCTL_READRQ)

/* The spec's reset values. */
#define DEVCTL_INIT                                            \
	(PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | \
	 PCI_EXP_DEVCTL_READRQ_512B)

#define DEVSTA_W1C                                                       \
	(PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED | PCI_EXP_DEVSTA_FED | \
	 PCI_EXP_DEVSTA_URD)

#define LNKCTL_WRITABLE                                                   \
	(PCI_EXP_LNKCTL_ASPMC | PCI_EXP_LNKCTL_RCB | PCI_EXP_LNKCTL_CCC | \
	 PCI_EXP_LNKCTL_ES)

int uvfio_pci_add_cap_exp(struct uvfio_pci_cfg *cfg)
{
	int pos = uvfio_pci_cap_alloc(cfg, PCI_CAP_ID_EXP, EXP_SIZEOF);

	if (pos < 0)
		return pos;
	uvfio_pci_set16(cfg, pos + PCI_EXP_FLAGS,
			EXP_VERSION | (PCI_EXP_TYPE_ENDPOINT << 4));

	uvfio_pci_set32(cfg, pos + PCI_EXP_DEVCAP, DEVCAP_INIT);
	uvfio_pci_set16(cfg, pos + PCI_EXP_DEVCTL, DEVCTL_INIT);
	uvfio_pci_mask(cfg, pos + PCI_EXP_DEVCTL, DEVCTL_WRITABLE, 0, 2);
	uvfio_pci_mask(cfg, pos + PCI_EXP_DEVSTA, 0, DEVSTA_W1C, 2);

	uvfio_pci_set32(cfg, pos + PCI_EXP_LNKCAP,
			PCI_EXP_LNKCAP_SLS_2_5GB | (1u << 4) /* x1 */);
	uvfio_pci_mask(cfg, pos + PCI_EXP_LNKCTL, LNKCTL_WRITABLE, 0, 2);
	uvfio_pci_set16(cfg, pos + PCI_EXP_LNKSTA,
			PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1 |
				PCI_EXP_LNKSTA_SLC);

	uvfio_pci_set32(cfg, pos + PCI_EXP_DEVCAP2,
			PCI_EXP_DEVCAP2_COMP_TMOUT_DIS);
	uvfio_pci_mask(cfg, pos + PCI_EXP_DEVCTL2,
		       PCI_EXP_DEVCTL2_COMP_TMOUT_DIS, 0, 2);
	uvfio_pci_set32(cfg, pos + PCI_EXP_LNKCAP2, PCI_EXP_LNKCAP2_SLS_2_5GB);
	uvfio_pci_set16(cfg, pos + PCI_EXP_LNKCTL2, PCI_EXP_LNKCTL2_TLS_2_5GT);
	return pos;
}
