package bgp

import (
	"math"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// families the watcher negotiates on every session, whatever the transport
// address family: a router may send IPv6 VIPs over an IPv4 session.
var families = []*api.Family{
	{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
	{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST},
}

// peerConfig turns a session into a GoBGP neighbor. The watcher only dials:
// the BgpServer never listens (ListenPort -1), so the router should be
// passive or simply see its own connection attempts refused.
func peerConfig(s SessionConfig) *api.Peer {
	hold := s.HoldTime
	if hold == 0 {
		hold = DefaultHoldTime
	}
	keepalive := s.KeepaliveTime
	if keepalive == 0 {
		keepalive = hold / 3
	}
	retry := s.ConnectRetry
	if retry == 0 {
		retry = DefaultConnectRetry
	}
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: s.Address.Unmap().String(),
			PeerAsn:         s.ASN,
			AuthPassword:    s.Password,
			Description:     s.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          seconds(hold),
			KeepaliveInterval: seconds(keepalive),
			ConnectRetry:      seconds(retry),
			// After an error the FSM waits this long before dialing again;
			// GoBGP's default is 30 s. Reuse the connect-retry interval.
			IdleHoldTimeAfterReset: seconds(retry),
		}},
		Transport: &api.Transport{RemotePort: uint32(s.Port)},
	}
	if s.Port == 0 {
		p.Transport.RemotePort = 179
	}
	if s.LocalAddress.IsValid() {
		p.Transport.LocalAddress = s.LocalAddress.Unmap().String()
	}
	if s.Multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(s.Multihop)}
	}
	for _, f := range families {
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if s.AddPathReceive {
			af.AddPaths = &api.AddPaths{Config: &api.AddPathsConfig{Receive: true}}
		}
		if s.MaxPrefixes > 0 {
			af.PrefixLimits = &api.PrefixLimit{Family: f, MaxPrefixes: s.MaxPrefixes}
		}
		p.AfiSafis = append(p.AfiSafis, af)
	}
	return p
}

// seconds rounds up to whole seconds (GoBGP's unit), at least 1.
func seconds(d time.Duration) uint64 {
	return uint64(max(1, math.Ceil(d.Seconds())))
}
