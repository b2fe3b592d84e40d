package realstack

import "testing"

// Lines as the real MetalLB v0.16.1 wrote them (TestOverlappingPoolsInvalid,
// TestControllerAssignsVIP and TestFRRK8sSpeakerAnnounces before frr-k8s's CRDs got int64
// ASNs).
func TestConfigErrorLine(t *testing.T) {
	cases := []struct {
		name, line, want string
		match            bool
	}{
		{"controller rejects an overlapping pool",
			`{"caller":"pool_controller.go:95","controller":"PoolReconciler","error":"CIDR \"192.168.155.151/32\" in pool \"vip\" overlaps with already defined CIDR \"192.168.155.0/24\"","level":"error","ts":"2026-12-05T04:21:11Z"}`,
			`CIDR "192.168.155.151/32" in pool "vip" overlaps with already defined CIDR "192.168.155.0/24"`, true},
		{"speaker rejects an overlapping pool",
			`{"caller":"config_controller.go:183","controller":"ConfigReconciler","error":"CIDR \"192.168.155.151/32\" in pool \"vip\" overlaps with already defined CIDR \"192.168.155.0/24\"","level":"error","ts":"2026-12-05T04:21:11Z"}`,
			`CIDR "192.168.155.151/32" in pool "vip" overlaps with already defined CIDR "192.168.155.0/24"`, true},
		{"speaker cannot write its FRRConfiguration",
			`{"level":"error","ts":"2026-12-05T04:09:57Z","msg":"Reconciler error","controller":"frrconfiguration","controllerGroup":"frrk8s.metallb.io","controllerKind":"FRRConfiguration","error":"FRRConfiguration.frrk8s.metallb.io \"metallb-east-node\" is invalid"}`,
			`writing the node's FRRConfiguration: FRRConfiguration.frrk8s.metallb.io "metallb-east-node" is invalid`, true},
		{"reload failed",
			`{"caller":"config_controller.go:209","controller":"ConfigReconciler","event":"reload failed, retry","level":"error","metallb CRs and Secrets":"{}"}`,
			"reload failed, retry", true},
		{"its ConfigurationState does not exist yet at start",
			`{"caller":"pool_controller.go:59","controller":"PoolReconciler","error":"patch metallb-system/controller: configurationstates.metallb.io \"controller\" not found","level":"error","message":"failed to report condition","ts":"2026-12-05T04:05:03Z"}`,
			"", false},
		{"the API server cannot be read",
			`{"caller":"config_controller.go:88","controller":"ConfigReconciler","error":"context canceled","level":"error","message":"failed to get bgppeers"}`,
			"", false},
		{"a Service it cannot serve is not a configuration error",
			`{"caller":"service_controller.go:112","controller":"ServiceReconciler","event":"failed to handle service","level":"error","name":"hello/other"}`,
			"", false},
		{"info", `{"caller":"config_controller.go:224","controller":"ConfigReconciler","event":"config reloaded","level":"info"}`, "", false},
		{"not JSON", `=== 2026-12-05T04:05:03Z: controller --kubeconfig k`, "", false},
	}
	for _, c := range cases {
		got, ok := configErrorLine(c.line)
		if ok != c.match || got != c.want {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, got, ok, c.want, c.match)
		}
	}
}
