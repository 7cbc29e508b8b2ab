// SPDX-License-Identifier: MIT
/* The PCI Express capability's device and link registers, in lspci words. */
#include <stdio.h>

#include "lspci.h"

static const char *latency_l0s(unsigned int v)
{
	static const char *const s[] = { "<64ns", "<128ns", "<256ns",
					 "<512ns", "<1us",   "<2us",
					 "<4us",  "unlimited" };

	return s[v & 7];
}

static const char *latency_l1(unsigned int v)
{
	static const char *const s[] = { "<1us",  "<2us",  "<4us",
					 "<8us",  "<16us", "<32us",
					 "<64us", "unlimited" };

	return s[v & 7];
}

static const char *link_speed(unsigned int v)
{
	static const char *const s[] = { "unknown", "2.5GT/s", "5GT/s",
					 "8GT/s",   "16GT/s",  "32GT/s",
					 "64GT/s" };

	return v < sizeof(s) / sizeof(s[0]) ? s[v] : "unknown";
}

static const char *type_name(unsigned int type)
{
	switch (type) {
	case PCI_EXP_TYPE_ENDPOINT:
		return "Endpoint";
	case PCI_EXP_TYPE_LEG_END:
		return "Legacy Endpoint";
	case PCI_EXP_TYPE_ROOT_PORT:
		return "Root Port";
	case PCI_EXP_TYPE_UPSTREAM:
		return "Upstream Port";
	case PCI_EXP_TYPE_DOWNSTREAM:
		return "Downstream Port";
	case PCI_EXP_TYPE_PCI_BRIDGE:
		return "PCI-Express to PCI/PCI-X Bridge";
	case PCI_EXP_TYPE_PCIE_BRIDGE:
		return "PCI/PCI-X to PCI-Express Bridge";
	case PCI_EXP_TYPE_RC_END:
		return "Root Complex Integrated Endpoint";
	case PCI_EXP_TYPE_RC_EC:
		return "Root Complex Event Collector";
	default:
		return NULL;
	}
}

static bool is_endpoint(unsigned int type)
{
	return type == PCI_EXP_TYPE_ENDPOINT || type == PCI_EXP_TYPE_LEG_END;
}

/* Slot power limit in milliwatts (PCIe base spec, Device Capabilities). */
static uint32_t power_mw(uint32_t devcap)
{
	static const uint32_t mw_per_unit[] = { 1000, 100, 10, 1 };
	uint32_t v = (devcap & PCI_EXP_DEVCAP_PWR_VAL) >> 18;
	uint32_t scale = (devcap & PCI_EXP_DEVCAP_PWR_SCL) >> 26;

	/* Scale 1.0x with values F0h..F2h means 250, 275, 300 W. */
	if (!scale && v >= 0xf0)
		return (v == 0xf0 ? 250 : v == 0xf1 ? 275 : 300) * 1000u;
	return v * mw_per_unit[scale];
}

static void print_devcap(uint32_t t, unsigned int type)
{
	uint32_t mw = power_mw(t);

	printf("\t\tDevCap:\tMaxPayload %u bytes, PhantFunc %u",
	       128u << (t & PCI_EXP_DEVCAP_PAYLOAD),
	       (1u << ((t & PCI_EXP_DEVCAP_PHANTOM) >> 3)) - 1);
	if (is_endpoint(type))
		printf(", Latency L0s %s, L1 %s",
		       latency_l0s((t & PCI_EXP_DEVCAP_L0S) >> 6),
		       latency_l1((t & PCI_EXP_DEVCAP_L1) >> 9));
	printf("\n\t\t\tExtTag%c", flag(t, PCI_EXP_DEVCAP_EXT_TAG));
	if (is_endpoint(type) || type == PCI_EXP_TYPE_UPSTREAM ||
	    type == PCI_EXP_TYPE_PCI_BRIDGE)
		printf(" AttnBtn%c AttnInd%c PwrInd%c",
		       flag(t, PCI_EXP_DEVCAP_ATN_BUT),
		       flag(t, PCI_EXP_DEVCAP_ATN_IND),
		       flag(t, PCI_EXP_DEVCAP_PWR_IND));
	printf(" RBE%c", flag(t, PCI_EXP_DEVCAP_RBER));
	if (is_endpoint(type) || type == PCI_EXP_TYPE_RC_END)
		printf(" FLReset%c", flag(t, PCI_EXP_DEVCAP_FLR));
	if (type == PCI_EXP_TYPE_ENDPOINT || type == PCI_EXP_TYPE_UPSTREAM ||
	    type == PCI_EXP_TYPE_PCI_BRIDGE) {
		if (mw % 1000)
			printf(" SlotPowerLimit %u.%03uW", mw / 1000,
			       mw % 1000);
		else
			printf(" SlotPowerLimit %uW", mw / 1000);
	}
	printf("\n");
}

static void print_devctl_sta(const struct uvfio_pci_cfg *cfg, uint8_t pos,
			     uint32_t devcap, unsigned int type)
{
	uint16_t w = uvfio_pci_get16(cfg, pos + PCI_EXP_DEVCTL);

	printf("\t\tDevCtl:\tCorrErr%c NonFatalErr%c FatalErr%c UnsupReq%c\n",
	       flag(w, PCI_EXP_DEVCTL_CERE), flag(w, PCI_EXP_DEVCTL_NFERE),
	       flag(w, PCI_EXP_DEVCTL_FERE), flag(w, PCI_EXP_DEVCTL_URRE));
	printf("\t\t\tRlxdOrd%c ExtTag%c PhantFunc%c AuxPwr%c NoSnoop%c",
	       flag(w, PCI_EXP_DEVCTL_RELAX_EN),
	       flag(w, PCI_EXP_DEVCTL_EXT_TAG), flag(w, PCI_EXP_DEVCTL_PHANTOM),
	       flag(w, PCI_EXP_DEVCTL_AUX_PME),
	       flag(w, PCI_EXP_DEVCTL_NOSNOOP_EN));
	if ((is_endpoint(type) || type == PCI_EXP_TYPE_RC_END) &&
	    (devcap & PCI_EXP_DEVCAP_FLR))
		printf(" FLReset%c", flag(w, PCI_EXP_DEVCTL_BCR_FLR));
	printf("\n\t\t\tMaxPayload %u bytes, MaxReadReq %u bytes\n",
	       128u << ((w & PCI_EXP_DEVCTL_PAYLOAD) >> 5),
	       128u << ((w & PCI_EXP_DEVCTL_READRQ) >> 12));

	w = uvfio_pci_get16(cfg, pos + PCI_EXP_DEVSTA);
	printf("\t\tDevSta:\tCorrErr%c NonFatalErr%c FatalErr%c UnsupReq%c "
	       "AuxPwr%c TransPend%c\n",
	       flag(w, PCI_EXP_DEVSTA_CED), flag(w, PCI_EXP_DEVSTA_NFED),
	       flag(w, PCI_EXP_DEVSTA_FED), flag(w, PCI_EXP_DEVSTA_URD),
	       flag(w, PCI_EXP_DEVSTA_AUXPD), flag(w, PCI_EXP_DEVSTA_TRPND));
}

static void print_link(const struct uvfio_pci_cfg *cfg, uint8_t pos,
		       unsigned int type)
{
	static const char *const support[] = { "not supported", "L0s", "L1",
					       "L0s L1" };
	static const char *const enabled[] = { "Disabled", "L0s Enabled",
					       "L1 Enabled", "L0s L1 Enabled" };
	uint32_t t = uvfio_pci_get32(cfg, pos + PCI_EXP_LNKCAP);
	unsigned int aspm = (t & PCI_EXP_LNKCAP_ASPMS) >> 10;
	uint16_t w;

	printf("\t\tLnkCap:\tPort #%u, Speed %s, Width x%u, ASPM %s", t >> 24,
	       link_speed(t & PCI_EXP_LNKCAP_SLS),
	       (t & PCI_EXP_LNKCAP_MLW) >> 4, support[aspm]);
	if (aspm) {
		printf(", Exit Latency ");
		if (aspm & 1)
			printf("L0s %s",
			       latency_l0s((t & PCI_EXP_LNKCAP_L0SEL) >> 12));
		if (aspm & 2)
			printf("%sL1 %s", aspm & 1 ? ", " : "",
			       latency_l1((t & PCI_EXP_LNKCAP_L1EL) >> 15));
	}
	printf("\n\t\t\tClockPM%c Surprise%c LLActRep%c BwNot%c "
	       "ASPMOptComp%c\n",
	       flag(t, PCI_EXP_LNKCAP_CLKPM), flag(t, PCI_EXP_LNKCAP_SDERC),
	       flag(t, PCI_EXP_LNKCAP_DLLLARC), flag(t, PCI_EXP_LNKCAP_LBNC),
	       flag(t, 1u << 22));

	w = uvfio_pci_get16(cfg, pos + PCI_EXP_LNKCTL);
	printf("\t\tLnkCtl:\tASPM %s;", enabled[w & PCI_EXP_LNKCTL_ASPMC]);
	if (is_endpoint(type) || type == PCI_EXP_TYPE_ROOT_PORT ||
	    type == PCI_EXP_TYPE_RC_END)
		printf(" RCB %u bytes,", w & PCI_EXP_LNKCTL_RCB ? 128 : 64);
	printf(" Disabled%c CommClk%c\n", flag(w, PCI_EXP_LNKCTL_LD),
	       flag(w, PCI_EXP_LNKCTL_CCC));
	printf("\t\t\tExtSynch%c ClockPM%c AutWidDis%c BWInt%c AutBWInt%c\n",
	       flag(w, PCI_EXP_LNKCTL_ES), flag(w, PCI_EXP_LNKCTL_CLKREQ_EN),
	       flag(w, PCI_EXP_LNKCTL_HAWD), flag(w, PCI_EXP_LNKCTL_LBMIE),
	       flag(w, PCI_EXP_LNKCTL_LABIE));

	w = uvfio_pci_get16(cfg, pos + PCI_EXP_LNKSTA);
	printf("\t\tLnkSta:\tSpeed %s, Width x%u\n",
	       link_speed(w & PCI_EXP_LNKSTA_CLS),
	       (w & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT);
	printf("\t\t\tTrErr%c Train%c SlotClk%c DLActive%c BWMgmt%c "
	       "ABWMgmt%c\n",
	       flag(w, 1u << 10), flag(w, PCI_EXP_LNKSTA_LT),
	       flag(w, PCI_EXP_LNKSTA_SLC), flag(w, PCI_EXP_LNKSTA_DLLLA),
	       flag(w, PCI_EXP_LNKSTA_LBMS), flag(w, PCI_EXP_LNKSTA_LABS));
}

/* Version 2 adds the "2" registers; only their common flags are shown. */
static void print_v2(const struct uvfio_pci_cfg *cfg, uint8_t pos)
{
	uint32_t t = uvfio_pci_get32(cfg, pos + PCI_EXP_DEVCAP2);
	uint16_t w = uvfio_pci_get16(cfg, pos + PCI_EXP_DEVCTL2);

	printf("\t\tDevCap2: Completion Timeout: %s, TimeoutDis%c "
	       "LTR%c ARIFwd%c\n",
	       t & 0xf ? "Supported" : "Not Supported",
	       flag(t, PCI_EXP_DEVCAP2_COMP_TMOUT_DIS),
	       flag(t, PCI_EXP_DEVCAP2_LTR), flag(t, PCI_EXP_DEVCAP2_ARI));
	printf("\t\t\t AtomicOpsCap: 32bit%c 64bit%c 128bitCAS%c\n",
	       flag(t, PCI_EXP_DEVCAP2_ATOMIC_COMP32),
	       flag(t, PCI_EXP_DEVCAP2_ATOMIC_COMP64),
	       flag(t, PCI_EXP_DEVCAP2_ATOMIC_COMP128));
	printf("\t\tDevCtl2: TimeoutDis%c LTR%c ARIFwd%c\n",
	       flag(w, PCI_EXP_DEVCTL2_COMP_TMOUT_DIS),
	       flag(w, PCI_EXP_DEVCTL2_LTR_EN), flag(w, PCI_EXP_DEVCTL2_ARI));
	printf("\t\t\t AtomicOpsCtl: ReqEn%c\n",
	       flag(w, PCI_EXP_DEVCTL2_ATOMIC_REQ));
}

void lspci_print_exp(const struct uvfio_pci_cfg *cfg, uint8_t pos)
{
	uint16_t f = uvfio_pci_get16(cfg, pos + PCI_EXP_FLAGS);
	unsigned int type = (f & PCI_EXP_FLAGS_TYPE) >> 4;
	unsigned int ver = f & PCI_EXP_FLAGS_VERS;
	uint32_t devcap = uvfio_pci_get32(cfg, pos + PCI_EXP_DEVCAP);
	const char *name = type_name(type);

	printf("Express (v%u) ", ver);
	if (name)
		printf("%s", name);
	else
		printf("Unknown type %u", type);
	if (f & PCI_EXP_FLAGS_SLOT)
		printf(", Slot+");
	printf(", MSI %02x\n", (f & PCI_EXP_FLAGS_IRQ) >> 9);

	print_devcap(devcap, type);
	print_devctl_sta(cfg, pos, devcap, type);
	/* Link registers exist for every type but the event collector. */
	if (type != PCI_EXP_TYPE_RC_EC && type != PCI_EXP_TYPE_RC_END)
		print_link(cfg, pos, type);
	if (ver >= 2)
		print_v2(cfg, pos);
}
