package lab

import (
	"fmt"

	labfabric "github.com/anycast-operator/anycast-operator/test/lab/fabric"
	"github.com/anycast-operator/anycast-operator/test/realstack"
)

// Stacks: what plays each cluster's MetalLB, Gateway API implementation and workloads.
const (
	// StackAuto runs the real stack when this machine can, the stand-ins otherwise.
	StackAuto = "auto"
	// StackReal: the upstream MetalLB (controller and speaker, native and frr-k8s modes),
	// frr-k8s with FRR, and Traefik, built by `make real-components`, on a node per
	// cluster (a network namespace of the FRR fabric), with real HTTP traffic from the
	// client's namespace to the VIP. Needs root, the FRR fabric, frr-pythontools and the
	// built components.
	StackReal = "real"
	// StackStandin: the stand-ins this project wrote (test/lab/speaker for the MetalLB
	// speaker, test/fixtures/gateway for MetalLB's controller and the Gateway
	// implementation); no packet reaches the VIP. What a machine without root gets.
	StackStandin = "standin"
)

// chooseStack resolves StackAuto and says why; an explicit StackReal that cannot run is
// an error saying what is missing. fabric is the fabric asked for (the real stack needs
// FRR: its speakers peer with FRR TORs from node namespaces).
func chooseStack(stack, fabric string) (string, string, error) {
	switch stack {
	case StackStandin:
		return StackStandin, "asked for (LAB_STACK=standin)", nil
	case StackReal, "", StackAuto:
	default:
		return "", "", fmt.Errorf("unknown stack %q (want auto, real or standin)", stack)
	}
	why := realStackMissing(fabric)
	switch {
	case why == nil && stack == StackReal:
		return StackReal, "asked for (LAB_STACK=real)", nil
	case why == nil:
		return StackReal, "root, FRR, frr-pythontools and the real components (bin/real) available", nil
	case stack == StackReal:
		return "", "", fmt.Errorf("the real stack cannot run here: %w (LAB_STACK=standin runs the stand-ins)", why)
	}
	return StackStandin, "THE REAL STACK CANNOT RUN HERE: " + why.Error() + "; running the stand-ins instead (no MetalLB, no Traefik, no traffic)", nil
}

// RealStackMissing says why the real stack cannot run on this machine with the given
// fabric (FabricAuto when unsure), or nil when it can.
func RealStackMissing(fabric string) error { return realStackMissing(fabric) }

// realStackMissing says why the real stack cannot run, or nil.
func realStackMissing(fabric string) error {
	if fabric == FabricGoBGP {
		return fmt.Errorf("the GoBGP fabric was asked for (LAB_FABRIC=gobgp), and the real MetalLB speakers need the FRR fabric's TORs")
	}
	if err := labfabric.Available(); err != nil {
		return err
	}
	if err := realstack.Tools(); err != nil {
		return err
	}
	_, err := realstack.Locate()
	return err
}
