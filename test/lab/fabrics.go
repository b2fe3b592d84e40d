package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/lab/gobgpnet"
	"github.com/anycast-operator/anycast-operator/test/lab/speaker"
)

// Fabric modes.
const (
	// FabricAuto runs FRR when this machine can, GoBGP otherwise.
	FabricAuto = "auto"
	// FabricFRR: FRR routers in network namespaces (root, FRR, gobgpd, iproute2).
	FabricFRR = "frr"
	// FabricGoBGP: GoBGP routers inside the lab process, on loopback addresses.
	FabricGoBGP = "gobgp"
)

// bgpFabric is the reference topology, whichever routers play it.
type bgpFabric interface {
	// Mode is FabricFRR or FabricGoBGP; Describe says what runs, for people.
	Mode() string
	Describe() string
	// Announcer is the BGP speaker of a cluster (west or east).
	Announcer(cluster string) speaker.Announcer
	// StopSpeaker and StartSpeaker kill and restart a cluster's BGP speaker.
	StopSpeaker(cluster string)
	StartSpeaker(ctx context.Context, cluster string) error
	SpeakerRunning(cluster string) bool
	// TOR is the router a cluster's speaker peers with.
	TOR(cluster string) (addr netip.Addr, asn uint32, port uint16)
	// Watcher is the watcher's session to the core: dial from local to router:port.
	Watcher() (local, router netip.Addr, routerASN uint32, port uint16)
	// Core reads what the core router holds for a prefix.
	Core(ctx context.Context, p netip.Prefix) (CoreView, error)
	// Client reads what the client router (AS 64500, peering with the core only) holds
	// for a prefix.
	Client(ctx context.Context, p netip.Prefix) (ClientView, error)
	// Block is the FRR fabric's block (-1 for GoBGP), recorded for cleanup.
	Block() int
	Close()
}

// CoreView is the core router's view of the VIP.
type CoreView struct {
	Paths []CorePath
	// FIB lists the next hops of the route the core installed in its kernel (FRR only);
	// HasFIB says whether the fabric has one.
	FIB    []netip.Addr
	HasFIB bool
}

// CorePath is one path at the core.
type CorePath struct {
	ASPath    string
	NextHop   netip.Addr
	From      netip.Addr
	Best      bool
	Multipath bool
}

// ClientView is the client router's view of the VIP: the paths it learnt from the core.
type ClientView struct {
	ASN uint32
	// CoreAddr is the core's address on the client's session: the next hop of a path
	// learnt from the core.
	CoreAddr netip.Addr
	Paths    []CorePath
}

// ClientASN is the client router's AS in both fabrics.
const ClientASN = labfabric.ClientASN

// ClientNet is the clients' own network on the real stack: the client router announces it
// and the requests come from it.
var ClientNet = labfabric.ClientNet

// Origin is the last AS of the path.
func (p CorePath) Origin() string {
	f := strings.Fields(p.ASPath)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// chooseFabric resolves FabricAuto and says why.
func chooseFabric(mode string) (string, string, error) {
	switch mode {
	case FabricFRR, FabricGoBGP:
		return mode, "asked for", nil
	case "", FabricAuto:
		if err := labfabric.Available(); err != nil {
			return FabricGoBGP, "the FRR fabric cannot run: " + err.Error(), nil
		}
		return FabricFRR, "root, FRR and gobgpd available", nil
	}
	return "", "", fmt.Errorf("unknown fabric %q (want auto, frr or gobgp)", mode)
}

// frrFabric is test/lab/fabric: FRR in network namespaces, gobgpd speakers.
type frrFabric struct{ f *labfabric.Fabric }

func newFRRFabric(opts labfabric.Options) (*frrFabric, error) {
	f, err := labfabric.New(opts)
	if err != nil {
		return nil, err
	}
	return &frrFabric{f}, nil
}

func (x *frrFabric) Mode() string { return FabricFRR }
func (x *frrFabric) Describe() string {
	v := "FRR"
	if out, err := exec.Command("vtysh", "-N", x.f.Core.NS, "-c", "show version").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "FRRouting ") {
				v = "FRR " + strings.Fields(line)[1]
				break
			}
		}
	}
	roles := "client,core,torw,tore,spw,spe"
	if x.f.Mgmt {
		roles += ",mgmt"
	}
	return fmt.Sprintf("%s routers and gobgpd speakers in network namespaces %s-{%s}", v, fmt.Sprintf("acf-%d", x.f.Block), roles)
}
func (x *frrFabric) speaker(c string) *labfabric.Speaker {
	if c == "east" {
		return x.f.East
	}
	return x.f.West
}
func (x *frrFabric) Announcer(c string) speaker.Announcer { return x.speaker(c) }
func (x *frrFabric) StopSpeaker(c string)                 { x.speaker(c).Stop() }
func (x *frrFabric) StartSpeaker(_ context.Context, c string) error {
	return x.speaker(c).Start()
}
func (x *frrFabric) SpeakerRunning(c string) bool { return x.speaker(c).Running() }
func (x *frrFabric) TOR(c string) (netip.Addr, uint32, uint16) {
	s := x.speaker(c).Sessions()[0] // the IPv4 session
	return s.PeerAddress, s.PeerASN, 179
}
func (x *frrFabric) Watcher() (netip.Addr, netip.Addr, uint32, uint16) {
	return x.f.CoreLink.WatcherAddr, x.f.CoreLink.RouterAddr, x.f.CoreLink.RouterASN, 179
}

// bmpWatcher is the watcher's BMP collector for a fabric built with a BMPPort: the core
// and both TORs, each connecting from its end of its link to the watcher.
func (x *frrFabric) bmpWatcher() *bmpWatcher {
	return &bmpWatcher{port: x.f.BMPPort, routers: []bmpRouter{
		{x.f.CoreLink.Router, x.f.CoreLink.RouterAddr},
		{x.f.TORWestLink.Router, x.f.TORWestLink.RouterAddr},
		{x.f.TOREastLink.Router, x.f.TOREastLink.RouterAddr},
	}}
}

func (x *frrFabric) Core(_ context.Context, p netip.Prefix) (CoreView, error) {
	v := CoreView{HasFIB: true}
	paths, err := x.f.Core.BGPPaths(p)
	if err != nil {
		return v, err
	}
	for _, bp := range paths {
		cp := CorePath{ASPath: bp.ASPath, From: bp.From, Best: bp.Best, Multipath: bp.Multipath || bp.Best}
		if len(bp.NextHops) > 0 {
			cp.NextHop = bp.NextHops[0]
		}
		v.Paths = append(v.Paths, cp)
	}
	v.FIB, err = x.f.Core.FIBNextHops(p)
	return v, err
}
func (x *frrFabric) Client(_ context.Context, p netip.Prefix) (ClientView, error) {
	v := ClientView{ASN: x.f.Client.ASN, CoreAddr: x.f.ClientUplink}
	if p.Addr().Is6() {
		v.CoreAddr = x.f.ClientUplink6
	}
	paths, err := x.f.Client.BGPPaths(p)
	if err != nil {
		return v, err
	}
	for _, bp := range paths {
		if !bp.Valid {
			continue
		}
		cp := CorePath{ASPath: bp.ASPath, From: bp.From, Best: bp.Best, Multipath: bp.Multipath || bp.Best}
		if len(bp.NextHops) > 0 {
			cp.NextHop = bp.NextHops[0]
		}
		v.Paths = append(v.Paths, cp)
	}
	return v, nil
}
func (x *frrFabric) Block() int { return x.f.Block }
func (x *frrFabric) Close()     { x.f.Close() }

// goFabric is test/lab/gobgpnet: GoBGP in this process on loopback addresses.
type goFabric struct{ n *gobgpnet.Network }

func newGoFabric(ctx context.Context, log io.Writer) (*goFabric, error) {
	n, err := gobgpnet.New(ctx, gobgpnet.Options{Log: log})
	if err != nil {
		return nil, err
	}
	return &goFabric{n}, nil
}

func (x *goFabric) Mode() string { return FabricGoBGP }
func (x *goFabric) Describe() string {
	return fmt.Sprintf("GoBGP routers and speakers inside the lab process on %s (no FIB: ECMP read from the core's BGP table)",
		netip.PrefixFrom(x.n.Core.Addr, 24).Masked())
}
func (x *goFabric) speaker(c string) *gobgpnet.Speaker {
	if c == "east" {
		return x.n.East
	}
	return x.n.West
}
func (x *goFabric) Announcer(c string) speaker.Announcer { return x.speaker(c) }
func (x *goFabric) StopSpeaker(c string)                 { x.speaker(c).Stop() }
func (x *goFabric) StartSpeaker(ctx context.Context, c string) error {
	return x.speaker(c).Start(ctx)
}
func (x *goFabric) SpeakerRunning(c string) bool { return x.speaker(c).Running() }
func (x *goFabric) TOR(c string) (netip.Addr, uint32, uint16) {
	t := x.speaker(c).TOR
	return t.Addr, t.ASN, t.Port
}
func (x *goFabric) Watcher() (netip.Addr, netip.Addr, uint32, uint16) {
	return x.n.WatcherAddr, x.n.Core.Addr, x.n.Core.ASN, x.n.Core.Port
}
func (x *goFabric) Core(ctx context.Context, p netip.Prefix) (CoreView, error) {
	paths, err := x.n.Core.Paths(ctx, p)
	if err != nil {
		return CoreView{}, err
	}
	var v CoreView
	bestLen := -1
	for _, gp := range paths {
		if gp.Best {
			bestLen = len(strings.Fields(gp.ASPath))
		}
	}
	for _, gp := range paths {
		// What FRR's multipath-relax would do: paths tied with the best on AS path length.
		v.Paths = append(v.Paths, CorePath{ASPath: gp.ASPath, NextHop: gp.NextHop, From: gp.From, Best: gp.Best,
			Multipath: len(strings.Fields(gp.ASPath)) == bestLen})
	}
	return v, nil
}
func (x *goFabric) Client(ctx context.Context, p netip.Prefix) (ClientView, error) {
	v := ClientView{ASN: x.n.Client.ASN, CoreAddr: x.n.Core.Addr}
	paths, err := x.n.Client.Paths(ctx, p)
	if err != nil {
		return v, err
	}
	for _, gp := range paths {
		v.Paths = append(v.Paths, CorePath{ASPath: gp.ASPath, NextHop: gp.NextHop, From: gp.From, Best: gp.Best, Multipath: gp.Best})
	}
	return v, nil
}
func (x *goFabric) Block() int { return -1 }
func (x *goFabric) Close()     { x.n.Close() }
