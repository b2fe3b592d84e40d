package realstack

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	metallbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MetalLB's namespace unless an option says otherwise.
const DefaultMetalLBNamespace = "metallb-system"

// ControllerOptions shape the real MetalLB controller.
type ControllerOptions struct {
	Namespace string // default metallb-system
	PodName   string // default "controller"
	LogLevel  string // all, debug, info, warn, error, none; default info
}

// StartMetalLBController runs the real MetalLB controller out of cluster, in the root
// namespace:
//
//	controller --kubeconfig K --namespace NS --pod-name P --webhook-mode=disabled
//	           --disable-cert-rotation --port <free> --health-probe-port <free>
//
// Webhooks are off (nothing could call them: no Service routes to this process), so the
// API server admits any MetalLB object and only the controller's own validation judges
// it, as it does for objects it reads at start. v0.16 reads its own Pod at start (to own
// its ConfigurationState, "controller"): the Pod is registered first (StandInPod). It
// returns once the controller has started its workers.
func (c *Cluster) StartMetalLBController(ctx context.Context, o ControllerOptions) (*Process, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultMetalLBNamespace
	}
	if o.PodName == "" {
		o.PodName = "controller"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if err := StandInPod(ctx, c.Client, o.Namespace, o.PodName, "", map[string]string{"app": "metallb", "component": "controller"}); err != nil {
		return nil, err
	}
	// The controller listens on the root namespace, where other tests run too: free ports.
	// Another process can take a port between the probe and the controller's bind (seen
	// under .ci/run: "bind: address already in use", the controller exits); then new ports.
	for attempt := 1; ; attempt++ {
		metrics, err := FreePort()
		if err != nil {
			return nil, err
		}
		health, err := FreePort()
		if err != nil {
			return nil, err
		}
		p, err := startProcess(c.Dir, "metallb-controller", nil, c.Bin.MetalLBController(),
			"--kubeconfig", c.Kubeconfig, "--namespace", o.Namespace, "--pod-name", o.PodName,
			"--webhook-mode=disabled", "--disable-cert-rotation",
			"--port", itoa(metrics), "--health-probe-port", itoa(health), "--log-level", o.LogLevel)
		if err != nil {
			return nil, err
		}
		c.track(p)
		err = p.waitLog(2*time.Minute, "Starting workers")
		if err != nil && attempt < 3 && !p.Running() && strings.Contains(p.LogTail(4000), "address already in use") {
			continue
		}
		return p, err
	}
}

// BGP modes of the speaker (METALLB_BGP_TYPE).
const (
	ModeNative = "native"
	ModeFRRK8s = "frr-k8s"
)

// SpeakerOptions shape a real MetalLB speaker.
type SpeakerOptions struct {
	Namespace string // default metallb-system
	PodName   string // default speaker-<node>
	// Mode is METALLB_BGP_TYPE: native (default) or frr-k8s. In frr-k8s mode the speaker
	// announces nothing itself: it writes an FRRConfiguration for its node into
	// FRRK8sNamespace, which the node's frr-k8s (StartFRRK8s) turns into FRR's config.
	Mode            string
	FRRK8sNamespace string // default frr-k8s-system
	LogLevel        string // default info
}

// StartSpeaker runs the real MetalLB speaker inside the node's network namespace:
//
//	ip netns exec NS speaker --kubeconfig K --namespace NS --node-name N --pod-name P
//	                         --port 7472 --ml-bindport="" [--frrk8s-namespace F]
//
// with METALLB_BGP_TYPE=Mode. --ml-bindport "" turns memberlist off (one speaker per
// node, no peers to gossip with). Its own Pod (nodeName, Running) is registered first: the
// speaker refuses to start without it. It returns once the speaker has started its
// workers.
func (n *Node) StartSpeaker(ctx context.Context, o SpeakerOptions) (*Process, error) {
	c := n.Cluster
	if o.Namespace == "" {
		o.Namespace = DefaultMetalLBNamespace
	}
	if o.PodName == "" {
		o.PodName = "speaker-" + n.Name
	}
	if o.Mode == "" {
		o.Mode = ModeNative
	}
	if o.FRRK8sNamespace == "" {
		o.FRRK8sNamespace = DefaultFRRK8sNamespace
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if err := StandInPod(ctx, c.Client, o.Namespace, o.PodName, n.Name, map[string]string{"app": "metallb", "component": "speaker"}); err != nil {
		return nil, err
	}
	args := []string{"ip", "netns", "exec", n.NetNS, c.Bin.MetalLBSpeaker(),
		"--kubeconfig", c.Kubeconfig, "--namespace", o.Namespace, "--node-name", n.Name, "--pod-name", o.PodName,
		"--port", "7472", "--ml-bindport=", "--log-level", o.LogLevel}
	if o.Mode == ModeFRRK8s {
		args = append(args, "--frrk8s-namespace", o.FRRK8sNamespace)
	}
	p, err := startProcess(n.Dir, "metallb-speaker", []string{"METALLB_BGP_TYPE=" + o.Mode}, args...)
	if err != nil {
		return nil, err
	}
	c.track(p)
	return p, p.waitLog(2*time.Minute, "Starting workers")
}

// ConfigError is one line where MetalLB said it rejected its configuration.
type ConfigError struct {
	Process string // the process's name (metallb-controller, metallb-speaker)
	Line    string // the log line as written
	Message string // MetalLB's error text
}

// ConfigErrors scans the captured logs of processes for MetalLB rejecting its
// configuration, and returns those lines. MetalLB (v0.16, go-kit JSON logs) writes, from
// its ConfigReconciler (speaker) or PoolReconciler (controller), at level error:
//
//	{"controller":"PoolReconciler","error":"<why>","level":"error",...}   the configuration does not parse or validate
//	{"controller":"ConfigReconciler","event":"reload failed, retry",...}  the speaker could not apply it
//	{"level":"error","msg":"Reconciler error","controller":"frrconfiguration","error":"<why>",...}
//	                                        in frr-k8s mode: its FRRConfiguration for the node was refused
//
// (MetalLB logs "error","failed to parse the configuration","error",<why>: go-kit's JSON
// keeps the last value of a repeated key, so the line carries the reason only). Lines with
// a "message" key are its own bookkeeping ("failed to report condition" while its
// ConfigurationState does not exist yet at start, "failed to get ..." when the API server
// cannot be read) and are not verdicts on the objects. After such a rejection MetalLB
// keeps its last good configuration and ignores every later change, so a test fails when
// this returns anything for objects it expected to be accepted.
func ConfigErrors(procs ...*Process) []ConfigError {
	var out []ConfigError
	for _, p := range procs {
		if p == nil {
			continue
		}
		for _, line := range strings.Split(p.Output(), "\n") {
			if msg, ok := configErrorLine(line); ok {
				out = append(out, ConfigError{Process: p.Name, Line: line, Message: msg})
			}
		}
	}
	return out
}

// configErrorLine recognizes one of MetalLB's log lines for a rejected configuration and
// returns its reason.
func configErrorLine(line string) (string, bool) {
	if !strings.HasPrefix(strings.TrimSpace(line), "{") {
		return "", false
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return "", false
	}
	if m["level"] != "error" {
		return "", false
	}
	if m["msg"] == "Reconciler error" && m["controller"] == "frrconfiguration" {
		msg, _ := m["error"].(string)
		return "writing the node's FRRConfiguration: " + msg, true
	}
	switch m["controller"] {
	case "ConfigReconciler", "PoolReconciler":
	default:
		return "", false
	}
	if ev, _ := m["event"].(string); strings.HasPrefix(ev, "reload failed") {
		return ev, true
	}
	if _, bookkeeping := m["message"]; bookkeeping {
		return "", false
	}
	msg, _ := m["error"].(string)
	return msg, msg != ""
}

// ConfigurationStates lists MetalLB's own verdicts on its configuration in namespace
// (v0.15.3 on): one ConfigurationState named "controller" (label
// metallb.io/component-type=controller) and one "speaker-<node>" per speaker
// (component-type=speaker, metallb.io/node-name=<node>), each with status.result
// Valid, Invalid or Unknown and, when Invalid, status.errorSummary.
func ConfigurationStates(ctx context.Context, c client.Client, namespace string) ([]metallbv1beta1.ConfigurationState, error) {
	list := &metallbv1beta1.ConfigurationStateList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	return list.Items, nil
}
