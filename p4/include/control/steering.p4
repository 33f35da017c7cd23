/* Steering: a flow pin, else the key space, picks the NF instance; every bucket is counted. */
#ifndef S6NF_STEERING_P4
#define S6NF_STEERING_P4

#include "../headers.p4"
#include "../sizes.p4"

control Steering(inout parsed_headers_t hdr,
                 inout steer_metadata_t meta,
                 inout standard_metadata_t smeta) {

    /* Packets and bytes per bucket, read by the controller to balance load. */
    counter(BUCKETS, CounterType.packets_and_bytes) bucket_counter;

    action forward(port_t port, mac_addr_t dmac) {
        smeta.egress_spec = port;
        hdr.ethernet.dst_addr = dmac;
    }

    action drop() {
        mark_to_drop(smeta);
    }

    /* Per-flow overrides (a flow kept on its old instance, or a blocked flow). */
    table flow_pin {
        key = {
            meta.flow_key.addr_lo: exact @name("addr_lo");
            meta.flow_key.addr_hi: exact @name("addr_hi");
            meta.flow_key.port_lo: exact @name("port_lo");
            meta.flow_key.port_hi: exact @name("port_hi");
            meta.flow_key.proto:   exact @name("proto");
        }
        actions = {
            forward;
            drop;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = MAX_PINS;
    }

    /* The key space of the current epoch: bucket -> instance. Unassigned buckets drop. */
    table key_space {
        key = {
            meta.bucket: exact @name("bucket");
        }
        actions = {
            forward;
            drop;
        }
        const default_action = drop();
        size = BUCKETS;
    }

    apply {
        bucket_counter.count((bit<32>)meta.bucket);
        if (!flow_pin.apply().hit) {
            key_space.apply();
        }
    }
}

#endif
