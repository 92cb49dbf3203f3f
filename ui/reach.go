package ui

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"
)

// describeUnreachable says in words why a member's status could not be
// fetched, for the page (and the operator reading it), instead of Go's
// dial error: what happened and what it usually means.
func describeUnreachable(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %v: the node is overloaded, paused, or cut off from this one", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: the node is down (or not listening on its API address)"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "the connection was reset: the node went down or restarted during the request"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "no route to the node's host: it is off the network"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("its API address does not resolve (%s)", dnsErr.Name)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return "its TLS certificate is not trusted by this node (check --api-ca and the member's --cert)"
	case errors.Is(err, ErrNoAddress):
		return "it has no API address in the member table yet"
	case errors.Is(err, context.Canceled):
		return "the status fetch was canceled"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
