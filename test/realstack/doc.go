// Package realstack runs the real upstream components of a member cluster on this machine,
// for the lab and the end-to-end tests: the MetalLB controller and speaker (native or
// frr-k8s mode), frr-k8s with FRR and its reloader, and Traefik as the Gateway API
// implementation. It is test tooling, not product code. The binaries are built from the Go
// module proxy by hack/real-components.sh (`make real-components`) into
// bin/real/<component>-<version>; Locate finds them.
//
// Each component runs as a plain process out of cluster, against an envtest API server
// (test/testenv), with its stdout and stderr captured to a file that tests read
// (Process.Output, ConfigErrors). Node components run in a network namespace of the
// caller's (a speaker namespace of test/fabric, veth-linked to its FRR TOR), and reach the
// API server through a Forwarder at the kubeconfig's own address:
//
//	bin := realstack.Require(t, realstack.ComponentMetalLB)  // fails in CI, skips elsewhere
//	f := fabric.Start(t, fabric.Options{})
//	f.West.Stop()                                            // the namespace is the node's now
//	cl := realstack.StartCluster(t, bin, "west")
//	ctl, _ := cl.StartMetalLBController(ctx, realstack.ControllerOptions{})
//	node, _ := cl.AddNode(ctx, "west-node", f.West.NS)
//	sp, _ := node.StartSpeaker(ctx, realstack.SpeakerOptions{Mode: realstack.ModeNative})
//	// ... MetalLB objects, a LoadBalancer Service and its EndpointSlice ...
//	if errs := realstack.ConfigErrors(ctl, sp); len(errs) > 0 { t.Fatal(errs) }
//
// Stand-ins for the kubelet and the EndpointSlice controller, which do not run here
// (kube.go): StandInNode (a Node labelled kubernetes.io/hostname, Ready, not
// NetworkUnavailable), StandInPod (a component's own Pod, on its node, Running and
// Ready: MetalLB v0.16's controller and speaker refuse to start without it) and
// StandInEndpointSlice (a Service's endpoints, named ports, ready or not, with their
// node). They write only what the real components were seen to read.
//
// frr-k8s on a node (StartFRRK8s) is what its DaemonSet pod runs: zebra, bgpd and bfdd,
// frr-k8s's own frr-tools/reloader/frr-reloader.sh (which applies each new frr.conf with
// frr-reload.py from Debian's frr-pythontools on SIGHUP), and frr-k8s-controller, in the
// node's network namespace and in a mount namespace of the node's where /etc/frr_reloader,
// /etc/frr and /var/run/frr are the node's own directories: frr-k8s v0.0.21 takes
// FRR_CONFIG_FILE and FRR_RELOADER_PID_FILE from the environment but reads the
// reloader's status files at fixed paths under /etc/frr_reloader, and the reloader and
// vtysh use FRR's default paths. From the root namespace the node's FRR answers
// `vtysh -N <netns>`.
package realstack
