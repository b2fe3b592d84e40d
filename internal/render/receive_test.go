package render

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// TestReceivePrefixOutsideWhatAPeerSends: render refuses, on the member and naming the
// prefix, every receive prefix a peer could never send: the API refuses these too, but
// the render command and the goldens read files that never went through an API server,
// and FRR (bundled mode) would refuse the whole configuration MetalLB reloads.
func TestReceivePrefixOutsideWhatAPeerSends(t *testing.T) {
	cases := []struct {
		name   string
		prefix v1alpha1.ReceivePrefix
		want   string // in the message; "" when accepted
	}{
		{"plain", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16"}, ""},
		{"le-ge", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", GE: ptr.To[int32](24), LE: ptr.To[int32](32)}, ""},
		{"v6-le-128", v1alpha1.ReceivePrefix{Prefix: "2001:db8::/32", LE: ptr.To[int32](128)}, ""},
		{"le-equal-to-prefix", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", LE: ptr.To[int32](16)}, ""},
		{"not-cidr", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0"}, "not a CIDR"},
		{"host-bits", v1alpha1.ReceivePrefix{Prefix: "10.20.0.1/16"}, "write it as 10.20.0.0/16"},
		{"le-beyond-ipv4", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", LE: ptr.To[int32](33)}, "an IPv4 route is at most /32"},
		{"ge-beyond-ipv4", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", GE: ptr.To[int32](40)}, "an IPv4 route is at most /32"},
		{"le-beyond-ipv6", v1alpha1.ReceivePrefix{Prefix: "2001:db8::/32", LE: ptr.To[int32](129)}, "an IPv6 route is at most /128"},
		{"le-shorter-than-prefix", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", LE: ptr.To[int32](8)}, "le is shorter than the prefix"},
		{"ge-equal-to-prefix", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", GE: ptr.To[int32](16)}, "ge must be longer than the prefix"},
		{"ge-above-le", v1alpha1.ReceivePrefix{Prefix: "10.20.0.0/16", GE: ptr.To[int32](28), LE: ptr.To[int32](24)}, "ge exceeds le"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Class: v1alpha1.AnycastClass{}}
			in.Class.Name = "datacenter"
			in.Class.Spec = v1alpha1.AnycastClassSpec{
				Pools: []string{"192.168.155.0/24"}, GatewayClassName: "envoy",
				Receive: &v1alpha1.ReceiveRoutes{Prefixes: []v1alpha1.ReceivePrefix{tc.prefix}},
				Clusters: []v1alpha1.ClusterMember{{Name: "west", ASN: 65001, MetalLBMode: v1alpha1.MetalLBModeFRRK8s,
					Peers: []v1alpha1.Peer{{Name: "tor", Address: "10.0.63.254", ASN: 64001}, {Name: "tor6", Address: "2001:db8::fe", ASN: 64001}}}},
			}
			co := Render(in).Cluster("west")
			if tc.want == "" {
				if len(co.Refusals) > 0 || len(co.Objects) == 0 {
					t.Fatalf("refused a prefix a peer can send: %v", co.Refusals)
				}
				return
			}
			if len(co.Refusals) != 1 || len(co.Objects) > 0 {
				t.Fatalf("want one refusal and nothing rendered, got %v and %d objects", co.Refusals, len(co.Objects))
			}
			p := co.Refusals[0]
			if p.Reason != ReasonInvalidReceiveFilter || p.Field != "spec.receive.prefixes[0]" || !strings.Contains(p.Message, tc.want) {
				t.Errorf("refusal %+v, want reason %s, field spec.receive.prefixes[0], a message with %q", p, ReasonInvalidReceiveFilter, tc.want)
			}
		})
	}
}

// TestReceiveJoinsMetalLBSessionTimers: frr-k8s refuses to merge two neighbours whose hold
// or keepalive times differ, and wants both or neither, so the FRRConfiguration carries
// the pair MetalLB derives from a peer that sets one of them (MetalLB: keepalive a third
// of the hold time, or the hold time three keepalives).
func TestReceiveJoinsMetalLBSessionTimers(t *testing.T) {
	hold, keep := metallbTimers(durationPtr("10s"), nil)
	if hold.Duration.String() != "10s" || keep.Duration.String() != "3.333333333s" {
		t.Errorf("hold only: got %v/%v, want 10s/3.333333333s as MetalLB computes it", hold, keep)
	}
	hold, keep = metallbTimers(nil, durationPtr("3s"))
	if hold.Duration.String() != "9s" || keep.Duration.String() != "3s" {
		t.Errorf("keepalive only: got %v/%v, want 9s/3s", hold, keep)
	}
	if hold, keep = metallbTimers(nil, nil); hold != nil || keep != nil {
		t.Errorf("neither: got %v/%v, want none", hold, keep)
	}
}

func durationPtr(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}
