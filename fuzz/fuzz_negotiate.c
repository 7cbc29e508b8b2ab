// SPDX-License-Identifier: MIT
/*
 * VERSION negotiation: a VERSION payload (version and JSON) from a peer,
 * parsed as either side parses it, then answered as a server answers:
 * what the server formats must parse again, and the client's check of
 * it must run to the end.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uvfio_caps peer, ours, reply, again;
	char buf[4096];
	int n;

	uvfio_caps_default(&peer);
	if (uvfio_caps_parse(data, size, &peer))
		return 0;
	uvfio_caps_default(&ours);
	if (uvfio_caps_negotiate(&peer, &ours, &reply))
		return 0;
	n = uvfio_caps_format(&reply, buf, sizeof(buf));
	if (n < 0)
		fuzz_fail("a negotiated reply does not format");
	uvfio_caps_default(&again);
	if (uvfio_caps_parse(buf, (size_t)n, &again))
		fuzz_fail("the server's own reply does not parse");
	/* Its result depends on the twin socket's fd, the caller's part. */
	(void)uvfio_caps_check_reply(&peer, &again);
	return 0;
}
