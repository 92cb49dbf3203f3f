// Package devcerts makes a development certificate authority and per-node
// certificates for raftkv's mutual TLS: one CA, and for each node a key and
// certificate usable both as a TLS server (the node's listeners) and as a
// TLS client (the node dialling its peers), naming the node by its name
// (DNS SAN and common name) and carrying the loopback SANs so that a local
// cluster can be reached as localhost or 127.0.0.1. Client-only
// certificates (for raftkvctl, the harness) are made the same way.
//
// These are for development and tests: keys are ECDSA P-256 written
// unencrypted, and the CA lives next to them. A production deployment uses
// its own PKI; raftkv only needs PEM files.
package devcerts
