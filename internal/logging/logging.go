// Package logging builds the operator's logger. Its one rule: never more verbose than
// MaxVerbosity. client-go logs whole HTTP request and response bodies from verbosity 8
// (kubectl -v=8 does the same), and those bodies carry Secret data, Skupper access codes
// and AccessToken specs; no log level of this operator may print them.
package logging

import (
	"fmt"
	"io"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// MaxVerbosity is the most verbose level the operator logs at (logr V(5)). client-go's
// wire logging starts at V(6) (URLs and headers) and V(8) (bodies).
const MaxVerbosity = 5

// New returns the logger for opts, clamped to MaxVerbosity, writing to w. The returned
// note is non-empty when a more verbose level was asked for and lowered.
func New(opts zap.Options, w io.Writer) (logr.Logger, string) {
	note := ""
	if lvl, ok := opts.Level.(zapcore.Level); ok && lvl < -MaxVerbosity {
		opts.Level = zapcore.Level(-MaxVerbosity)
		note = fmt.Sprintf("log verbosity lowered to %d: higher levels print API request bodies, which carry secrets", MaxVerbosity)
	}
	if lvl, ok := opts.Level.(interface{ Level() zapcore.Level }); ok && lvl.Level() < -MaxVerbosity {
		opts.Level = zapcore.Level(-MaxVerbosity)
		note = fmt.Sprintf("log verbosity lowered to %d: higher levels print API request bodies, which carry secrets", MaxVerbosity)
	}
	opts.DestWriter = w
	return zap.New(zap.UseFlagOptions(&opts)), note
}
