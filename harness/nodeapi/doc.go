// Package nodeapi is the harness's HTTP client for one raftkv node: the KV
// command endpoint, the cluster endpoints (status, members, leader
// transfer) and the fault-injection API described in docs/api.md.
//
// Its contract is the classification of outcomes, because the history
// depends on it: a *Error with Definite true, or a transport error that
// happened before anything was sent (the dial failed), means the operation
// certainly did not take effect; every other error (a timeout, a connection
// lost after the request was written, a non-definite API error) means it
// may have. IsDefinite tells the two apart.
//
// New speaks to a plain node; NewWith to a secured one (docs/security.md):
// https with the given TLS configuration, and a bearer token on every
// request.
package nodeapi
