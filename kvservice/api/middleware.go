package api

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	opKey   = "raftkv.op"
	codeKey = "raftkv.code"
)

// setOp names the operation of a request for metrics and logs.
func setOp(c *gin.Context, op string) { c.Set(opKey, op) }

type metrics struct {
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	proposals      *prometheus.CounterVec
	proposeLatency prometheus.Histogram
	reads          *prometheus.CounterVec
	forwarded      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_http_requests_total", Help: "HTTP requests by operation and result code.",
		}, []string{"op", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "raftkv_http_request_duration_seconds", Help: "HTTP request latency by operation and result code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op", "code"}),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_proposals_total", Help: "Writes proposed by this node (as leader), by operation and result.",
		}, []string{"op", "result"}),
		proposeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "raftkv_proposal_duration_seconds", Help: "Time from proposing a write to its application.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_reads_total", Help: "Reads served by this node, by read mode and result.",
		}, []string{"mode", "result"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftkv_forwarded_requests_total", Help: "Requests this node forwarded to the leader.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.proposals, m.proposeLatency, m.reads, m.forwarded)
	return m
}

func resultLabel(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// observe counts and times every request, and logs it: failures of the
// server (5xx) at warn, the rest at debug.
func (a *API) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		d := time.Since(start)
		op := c.GetString(opKey)
		if op == "" {
			op = "other"
		}
		code := c.GetString(codeKey)
		if code == "" {
			code = "ok"
			if c.Writer.Status() >= 400 {
				code = strconv.Itoa(c.Writer.Status())
			}
		}
		a.metrics.requests.WithLabelValues(op, code).Inc()
		a.metrics.latency.WithLabelValues(op, code).Observe(d.Seconds())
		level := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			level = slog.LevelWarn
		}
		if !a.log.Enabled(c.Request.Context(), level) {
			// Skip building the attributes (ClientIP parses headers).
			return
		}
		a.log.Log(c.Request.Context(), level, "http request",
			"method", c.Request.Method, "path", c.Request.URL.Path, "op", op,
			"status", c.Writer.Status(), "code", code, "duration", d,
			"remote", c.ClientIP(), "forwarded_by", c.GetHeader(ForwardedHeader))
	}
}

// recovery turns a panic in a handler into a logged internal error instead
// of a dropped connection.
func (a *API) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				a.log.Error("panic in http handler", "path", c.Request.URL.Path, "panic", r, "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					a.fail(c, Errorf(CodeInternal, "internal error"))
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}
