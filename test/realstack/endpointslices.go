package realstack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/anycast-operator/anycast-operator/test/fixtures/resync"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StandInManagedBy is the endpointslice.kubernetes.io/managed-by value of the slices the
// stand-ins write (the real controller writes endpointslice-controller.k8s.io).
const StandInManagedBy = "realstack.anycast.dev"

// EndpointSliceController stands in for kube-controller-manager's EndpointSlice
// controller, which does not run here: for every Service with a selector it writes one
// EndpointSlice per IP family of the Service (spec.ipFamilies) listing the pods the
// selector matches, as the real controller does and only with what the real components
// were seen to read:
//
//   - the address of the pod in that family (status.podIPs), its node, and the
//     conditions ready (the pod's Ready condition), serving and terminating;
//   - one port per Service port, named as the Service port, with the targetPort
//     resolved (a named targetPort through the pod's container ports; a pod without
//     that port is left out, as the real controller leaves it out);
//   - the labels kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by
//     (StandInManagedBy) and an owner reference to the Service.
//
// Traefik resolves route backends through these slices (by port name, ready endpoints,
// no loopback addresses); MetalLB's speaker announces a Service's address only with a
// ready endpoint; the operator's health gate reads them too. Slices are named
// "<service>-<family>-standin", and a Service that is gone, or loses its selector or a
// family, loses its slices.
type EndpointSliceController struct {
	Client client.Client
	// Interval between passes (default 200 ms).
	Interval time.Duration
}

// Run syncs until ctx ends; an error is retried at the next pass.
func (e *EndpointSliceController) Run(ctx context.Context) {
	resync.Every(ctx, e.Interval, 200*time.Millisecond, func() { _ = e.Sync(ctx) })
}

// Sync does one pass.
func (e *EndpointSliceController) Sync(ctx context.Context) error {
	svcs := &corev1.ServiceList{}
	pods := &corev1.PodList{}
	slices := &discoveryv1.EndpointSliceList{}
	if err := e.Client.List(ctx, svcs); err != nil {
		return err
	}
	if err := e.Client.List(ctx, pods); err != nil {
		return err
	}
	if err := e.Client.List(ctx, slices, client.MatchingLabels{discoveryv1.LabelManagedBy: StandInManagedBy}); err != nil {
		return err
	}
	want := map[string]*discoveryv1.EndpointSlice{}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if len(svc.Spec.Selector) == 0 || !svc.DeletionTimestamp.IsZero() {
			continue
		}
		families := svc.Spec.IPFamilies
		if len(families) == 0 {
			families = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		for _, fam := range families {
			es := sliceFor(svc, fam, pods.Items)
			want[es.Namespace+"/"+es.Name] = es
		}
	}
	var errs []error
	have := map[string]*discoveryv1.EndpointSlice{}
	for i := range slices.Items {
		s := &slices.Items[i]
		key := s.Namespace + "/" + s.Name
		if _, ok := want[key]; !ok {
			if err := e.Client.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
				errs = append(errs, err)
			}
			continue
		}
		have[key] = s
	}
	for key, es := range want {
		cur, ok := have[key]
		if !ok {
			if err := e.Client.Create(ctx, es); err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, err)
			}
			continue
		}
		if reflect.DeepEqual(cur.Endpoints, es.Endpoints) && reflect.DeepEqual(cur.Ports, es.Ports) {
			continue
		}
		cur.Endpoints, cur.Ports = es.Endpoints, es.Ports
		if err := e.Client.Update(ctx, cur); err != nil && !apierrors.IsConflict(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sliceFor builds the slice of one family of a Service from the pods.
func sliceFor(svc *corev1.Service, fam corev1.IPFamily, pods []corev1.Pod) *discoveryv1.EndpointSlice {
	addrType := discoveryv1.AddressTypeIPv4
	if fam == corev1.IPv6Protocol {
		addrType = discoveryv1.AddressTypeIPv6
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace,
			Name:      fmt.Sprintf("%s-%s-standin", svc.Name, strings.ToLower(string(fam))),
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   StandInManagedBy,
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		AddressType: addrType,
		// The real controller writes an empty list rather than none.
		Endpoints: []discoveryv1.Endpoint{},
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var ports []discoveryv1.EndpointPort
	for i := range pods {
		p := &pods[i]
		if p.Namespace != svc.Namespace || !sel.Matches(labels.Set(p.Labels)) ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		addr := podAddress(p, fam)
		if addr == "" {
			continue
		}
		pp, ok := resolvePorts(svc, p)
		if !ok {
			continue
		}
		if ports == nil {
			ports = pp
		}
		ready := podReady(p) && p.DeletionTimestamp.IsZero()
		ep := discoveryv1.Endpoint{
			Addresses: []string{addr},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(ready), Serving: ptr.To(podReady(p)), Terminating: ptr.To(!p.DeletionTimestamp.IsZero()),
			},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		}
		if p.Spec.NodeName != "" {
			ep.NodeName = ptr.To(p.Spec.NodeName)
		}
		es.Endpoints = append(es.Endpoints, ep)
	}
	sort.Slice(es.Endpoints, func(i, j int) bool { return es.Endpoints[i].Addresses[0] < es.Endpoints[j].Addresses[0] })
	if ports == nil {
		// No pod: the Service's own ports, as the real controller lists them then.
		ports, _ = resolvePorts(svc, nil)
	}
	es.Ports = ports
	return es
}

// podAddress is the pod's address of family fam ("" when it has none).
func podAddress(p *corev1.Pod, fam corev1.IPFamily) string {
	ips := p.Status.PodIPs
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		if a.Is6() == (fam == corev1.IPv6Protocol) {
			return a.String()
		}
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// resolvePorts maps the Service's ports onto a pod (nil: the ports as the Service says,
// a named targetPort left unresolved). ok is false when a named targetPort is not a port
// of the pod.
func resolvePorts(svc *corev1.Service, p *corev1.Pod) ([]discoveryv1.EndpointPort, bool) {
	var out []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		port := sp.Port
		switch {
		case sp.TargetPort.IntVal != 0:
			port = sp.TargetPort.IntVal
		case sp.TargetPort.StrVal != "" && p != nil:
			found := false
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						port, found = cp.ContainerPort, true
					}
				}
			}
			if !found {
				return nil, false
			}
		}
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(port), Protocol: ptr.To(proto), AppProtocol: sp.AppProtocol})
	}
	return out, true
}
