package realstack

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Stand-ins for the kubelet and the EndpointSlice controller. Nothing here runs a kubelet:
// the real components run as plain processes, and the objects a kubelet (or the
// EndpointSlice controller) would write about them are written here, with only the fields
// the real components were seen to read.

// EnsureNamespace creates a namespace unless it exists.
func EnsureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// StandInNode registers a Node as its kubelet would: labelled kubernetes.io/hostname (the
// label frr-k8s configurations select nodes by; MetalLB's speaker writes its
// FRRConfiguration for its node with it), Ready, with NetworkUnavailable False (the
// speaker announces nothing from a node that is NetworkUnavailable), and its addresses as
// InternalIPs.
func StandInNode(ctx context.Context, c client.Client, name string, labels map[string]string, ips ...netip.Addr) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for k, v := range labels {
		n.Labels[k] = v
	}
	if err := c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node %s: %w", name, err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
		return err
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "stand-in for the kubelet (test/realstack)", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated", LastHeartbeatTime: now, LastTransitionTime: now},
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	return c.Status().Update(ctx, n)
}

// StandInPod registers the Pod a real component would run in, as the kubelet reports it:
// scheduled on node, phase Running, Ready. MetalLB's controller and speaker (v0.16) read
// their own Pod at start (--pod-name) to own their ConfigurationState, and refuse to start
// without it; the speaker also uses its Pod's node.
func StandInPod(ctx context.Context, c client.Client, namespace, name, node string, labels map[string]string) error {
	return StandInPodWith(ctx, c, Pod{Namespace: namespace, Name: name, Node: node, Labels: labels})
}

// Pod is what StandInPodWith registers.
type Pod struct {
	Namespace, Name, Node string
	Labels                map[string]string
	// IPs are the pod's addresses (status.podIPs, first is status.podIP): for a process
	// that runs in a node's network namespace, the node's own addresses (a pod on the
	// host network). Services select pods by Labels, and the EndpointSlice controller
	// stand-in lists these addresses.
	IPs []netip.Addr
	// Ports are the container's ports: a Service's named targetPort resolves through them.
	Ports []corev1.ContainerPort
	// NotReady reports the pod Running but not Ready (a failing readiness probe).
	NotReady bool
}

// StandInPodWith registers p as the kubelet reports a running pod: scheduled on its node,
// phase Running, Ready unless NotReady, with its addresses. It updates an existing one.
func StandInPodWith(ctx context.Context, c client.Client, p Pod) error {
	if err := EnsureNamespace(ctx, c, p.Namespace); err != nil {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels},
		Spec: corev1.PodSpec{
			NodeName:    p.Node,
			HostNetwork: len(p.IPs) > 0,
			Containers:  []corev1.Container{{Name: p.Name, Image: "stand-in.invalid/" + p.Name, Ports: p.Ports}},
		},
	}
	if err := c.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		return err
	}
	now := metav1.Now()
	ready := corev1.ConditionTrue
	if p.NotReady {
		ready = corev1.ConditionFalse
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
	}
	pod.Status.PodIP, pod.Status.PodIPs = "", nil
	for i, ip := range p.IPs {
		if i == 0 {
			pod.Status.PodIP = ip.String()
		}
		pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	return c.Status().Update(ctx, pod)
}

// Endpoint is one backend address of a Service, on a node.
type Endpoint struct {
	Address string
	Node    string
	// NotReady lists the endpoint as not ready (a failing readiness probe).
	NotReady bool
}

// StandInEndpointSlice writes the EndpointSlice the EndpointSlice controller would write
// for svc: one slice named <svc>-standin, labelled kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by, with svc's ports by name (Traefik resolves a
// route's backend port through the slice's port names) and the given endpoints with
// their node. MetalLB's speaker announces a Service only with a ready endpoint (on its
// own node for externalTrafficPolicy Local); Traefik skips loopback addresses.
func StandInEndpointSlice(ctx context.Context, c client.Client, svc *corev1.Service, endpoints []Endpoint) error {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace,
			Name:      svc.Name + "-standin",
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   "realstack.anycast.dev",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if port == 0 {
			port = sp.Port
		}
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{
			Name: ptr.To(sp.Name), Port: ptr.To(port), Protocol: ptr.To(sp.Protocol),
		})
	}
	for _, e := range endpoints {
		ready := !e.NotReady
		ep := discoveryv1.Endpoint{
			Addresses:  []string{e.Address},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
		}
		if e.Node != "" {
			ep.NodeName = ptr.To(e.Node)
		}
		es.Endpoints = append(es.Endpoints, ep)
	}
	existing := &discoveryv1.EndpointSlice{}
	err := c.Get(ctx, client.ObjectKeyFromObject(es), existing)
	switch {
	case apierrors.IsNotFound(err):
		return c.Create(ctx, es)
	case err != nil:
		return err
	}
	existing.Ports, existing.Endpoints, existing.Labels = es.Ports, es.Endpoints, es.Labels
	return c.Update(ctx, existing)
}
