// Package client is a Go client for raftkv's HTTP API (docs/api.md), used
// by raftkvctl and the integration tests.
//
// A Client holds a list of endpoints and sends each request to the current
// one. It moves to the next endpoint only when a connection could not be
// made at all (nothing was sent), so a write is never sent twice by the
// client itself; any other failure is returned to the caller. Error answers
// of the API come back as *Error, which carries the API's code and whether
// the operation certainly had no effect (Definite).
package client
