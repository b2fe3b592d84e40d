package routerview

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

// Config is the class's rendered watcher (render.RenderWatcher) with the session
// passwords read from the operator's namespace. A session whose password is missing is
// reported rather than started without authentication.
func Config(class *v1alpha1.AnycastClass, secrets map[string]string) (bgp.Config, []string, error) {
	w, problems := render.RenderWatcher(class, secrets)
	var missing, invalid []string
	lacking := map[string]bool{}
	for _, p := range problems {
		if p.Reason == render.ReasonPasswordSecretNotFound {
			missing = append(missing, p.Message)
			lacking[p.Field] = true
			continue
		}
		invalid = append(invalid, p.Message)
	}
	if len(invalid) > 0 {
		return bgp.Config{}, nil, errors.New(strings.Join(invalid, "; "))
	}
	cfg := bgp.Config{ASN: w.ASN, RouterID: w.RouterID, Pools: w.Pools}
	for _, s := range w.Sessions {
		if lacking[fmt.Sprintf("spec.watcher.sessions[%s].passwordSecretRef", s.Name)] {
			continue
		}
		sc := bgp.SessionConfig{
			Name: s.Name, Address: s.Address, Port: s.Port, ASN: s.ASN, Multihop: s.Multihop,
			HoldTime: mustDuration(s.HoldTime), KeepaliveTime: mustDuration(s.KeepaliveTime), ConnectRetry: mustDuration(s.ConnectRetry),
			AddPathReceive: s.AddPathReceive, MaxPrefixes: s.MaxPrefixes,
		}
		if s.LocalAddress != "" {
			sc.LocalAddress = netip.MustParseAddr(s.LocalAddress) // render parsed it
		}
		if s.PasswordSecret != "" {
			sc.Password = secrets[s.PasswordSecret]
		}
		cfg.Sessions = append(cfg.Sessions, sc)
	}
	cfg.BMP = bmpConfig(w.BMP)
	return cfg, missing, nil
}

// mustDuration parses a duration render wrote with time.Duration.String.
func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic("render wrote an unparsable duration " + s)
	}
	return d
}

// bmpConfig is the rendered collector as the watcher runs it; nil without one.
func bmpConfig(b *render.WatcherBMP) *bgp.BMPConfig {
	if b == nil {
		return nil
	}
	out := &bgp.BMPConfig{Listen: b.Listen}
	for _, r := range b.Routers {
		out.Routers = append(out.Routers, bgp.BMPRouterConfig{Name: r.Name, Address: r.Address, MaxPrefixes: r.MaxPrefixes, MaxPeers: r.MaxPeers})
	}
	return out
}
