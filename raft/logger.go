package raft

import (
	"context"
	"fmt"
	"log/slog"
)

// Logger is what the core logs through. Panicf must panic.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
	Errorf(format string, args ...any)
	Panicf(format string, args ...any)
}

// discardLogger drops everything but still panics on Panicf: invariants
// hold whether or not anyone is listening.
type discardLogger struct{}

func (discardLogger) Debugf(string, ...any)   {}
func (discardLogger) Infof(string, ...any)    {}
func (discardLogger) Warningf(string, ...any) {}
func (discardLogger) Errorf(string, ...any)   {}
func (discardLogger) Panicf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// SlogLogger adapts a *slog.Logger to Logger. Debugf is logged at
// slog.LevelDebug, Warningf at Warn and so on; Panicf logs at Error and then
// panics.
type SlogLogger struct{ L *slog.Logger }

// NewSlogLogger returns a Logger writing to l.
func NewSlogLogger(l *slog.Logger) *SlogLogger { return &SlogLogger{L: l} }

func (s *SlogLogger) logf(level slog.Level, format string, args ...any) {
	if !s.L.Enabled(context.Background(), level) {
		return
	}
	s.L.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

// Debugf logs at debug level.
func (s *SlogLogger) Debugf(format string, args ...any) { s.logf(slog.LevelDebug, format, args...) }

// Infof logs at info level.
func (s *SlogLogger) Infof(format string, args ...any) { s.logf(slog.LevelInfo, format, args...) }

// Warningf logs at warn level.
func (s *SlogLogger) Warningf(format string, args ...any) { s.logf(slog.LevelWarn, format, args...) }

// Errorf logs at error level.
func (s *SlogLogger) Errorf(format string, args ...any) { s.logf(slog.LevelError, format, args...) }

// Panicf logs at error level and panics with the message.
func (s *SlogLogger) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.L.Error(msg)
	panic(msg)
}
