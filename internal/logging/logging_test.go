package logging

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

func TestVerbosityIsClamped(t *testing.T) {
	var buf bytes.Buffer
	log, note := New(zap.Options{Level: zapcore.Level(-10)}, &buf)
	if note == "" {
		t.Error("asking for V(10) should say the level was lowered")
	}
	log.V(MaxVerbosity).Info("allowed")
	log.V(8).Info("Request Body", "body", "secret")
	if !strings.Contains(buf.String(), "allowed") {
		t.Errorf("V(%d) should be logged: %s", MaxVerbosity, buf.String())
	}
	if strings.Contains(buf.String(), "Request Body") {
		t.Errorf("V(8) must never be logged: %s", buf.String())
	}
	if _, note := New(zap.Options{Level: zapcore.Level(-2)}, &buf); note != "" {
		t.Errorf("V(2) needs no clamping, got %q", note)
	}
}
