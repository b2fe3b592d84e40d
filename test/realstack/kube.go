package realstack

import (
	"context"
	"fmt"

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
// FRRConfiguration for its node with it) and Ready, with NetworkUnavailable False (the
// speaker announces nothing from a node that is NetworkUnavailable).
func StandInNode(ctx context.Context, c client.Client, name string, labels map[string]string) error {
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
	return c.Status().Update(ctx, n)
}

// StandInPod registers the Pod a real component would run in, as the kubelet reports it:
// scheduled on node, phase Running, Ready. MetalLB's controller and speaker (v0.16) read
// their own Pod at start (--pod-name) to own their ConfigurationState, and refuse to start
// without it; the speaker also uses its Pod's node.
func StandInPod(ctx context.Context, c client.Client, namespace, name, node string, labels map[string]string) error {
	if err := EnsureNamespace(ctx, c, namespace); err != nil {
		return err
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: name, Image: "stand-in.invalid/" + name}},
		},
	}
	if err := c.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("pod %s/%s: %w", namespace, name, err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
		return err
	}
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	return c.Status().Update(ctx, p)
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
