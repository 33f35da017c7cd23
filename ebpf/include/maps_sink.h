#ifndef S6NF_MAPS_SINK_H
#define S6NF_MAPS_SINK_H

#include "consts.h"
#include "structs.h"

/* canonical flow_key → packets and bytes received; sink writes, tests and benches read. */
S6_MAP("hash", struct flow_key, struct counter, sink_flows, MAX_FLOWS);

#endif
