package render

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

func classWith(name string, m v1alpha1.ClusterMember, sessions ...v1alpha1.WatcherSession) v1alpha1.AnycastClass {
	c := v1alpha1.AnycastClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1, 0))}}
	c.Spec.Clusters = []v1alpha1.ClusterMember{m}
	if len(sessions) > 0 {
		c.Spec.Watcher = &v1alpha1.Watcher{Sessions: sessions}
	}
	return c
}

// TestClassConflicts: on one cluster (same kubeconfig reference), a younger class may not
// give MetalLB another ASN in a VRF the older one uses, nor define the same peer again; on
// another cluster, or another VRF, it may. Watcher sessions clash on the same router and
// local address.
func TestClassConflictsPure(t *testing.T) {
	east := &v1alpha1.SecretKeyReference{Name: "east"}
	tor := v1alpha1.Peer{Name: "tor", Address: "10.0.0.1", ASN: 64001}
	old := classWith("old", v1alpha1.ClusterMember{Name: "e", ASN: 65002, KubeconfigSecretRef: east, Peers: []v1alpha1.Peer{tor}},
		v1alpha1.WatcherSession{Name: "core", Address: "192.168.8.100"})
	cases := []struct {
		name   string
		member v1alpha1.ClusterMember
		want   string // substring of the refusal, "" for none
	}{
		{"another ASN, same VRF", v1alpha1.ClusterMember{Name: "x", ASN: 65009, KubeconfigSecretRef: east, Peers: []v1alpha1.Peer{{Name: "t2", Address: "10.0.0.2", ASN: 64001}}}, "with ASN 65002"},
		{"the same peer", v1alpha1.ClusterMember{Name: "x", ASN: 65002, KubeconfigSecretRef: east, Peers: []v1alpha1.Peer{{Name: "other", Address: "10.0.0.1", ASN: 64001}}}, "already defines the BGP peer 10.0.0.1"},
		{"another cluster", v1alpha1.ClusterMember{Name: "x", ASN: 65009, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: "north"}, Peers: []v1alpha1.Peer{tor}}, ""},
		{"another VRF", v1alpha1.ClusterMember{Name: "x", ASN: 65009, KubeconfigSecretRef: east, Peers: []v1alpha1.Peer{{Name: "v", Address: "10.0.0.9", ASN: 64001, VRF: "red"}}}, ""},
	}
	for _, tc := range cases {
		c := classWith("young", tc.member)
		got := ClassConflicts(&c, []v1alpha1.AnycastClass{old})
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: refused: %v", tc.name, got)
		case tc.want != "" && (len(got) != 1 || got[0].Reason != ReasonPeerConflict || !strings.Contains(got[0].Message, tc.want)):
			t.Errorf("%s: %v, want a PeerConflict saying %q", tc.name, got, tc.want)
		}
	}
	young := classWith("young", v1alpha1.ClusterMember{Name: "w", ASN: 65001},
		v1alpha1.WatcherSession{Name: "mine", Address: "192.168.8.100"}, v1alpha1.WatcherSession{Name: "other", Address: "192.168.8.101"})
	if got := SessionConflicts(&young, []v1alpha1.AnycastClass{old}); len(got) != 1 || !strings.Contains(got["mine"], "class old already peers with 192.168.8.100") {
		t.Errorf("session conflicts %v", got)
	}
}
