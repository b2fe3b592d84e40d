package realstack

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestSliceForFamily: an IPv6 Service's slice lists the pods' IPv6 addresses, its IPv4
// slice their IPv4 ones; a pod without an address of the family is left out. (The API
// servers of the realstack tests are IPv4-only; the lab's dual-stack ones run the IPv6
// walk-through through this.)
func TestSliceForFamily(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "traefik", Name: "gw"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "traefik"},
		Ports:    []corev1.ServicePort{{Name: "p80", Port: 80, TargetPort: intstr.FromInt32(80)}},
	}}
	pod := func(name string, ips ...string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "traefik", Name: name, Labels: map[string]string{"app": "traefik"}},
			Spec:   corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
		for _, ip := range ips {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		return p
	}
	pods := []corev1.Pod{pod("dual", "198.18.12.2", "2001:2:0:12::2"), pod("v4only", "198.18.12.3")}
	v6 := sliceFor(svc, corev1.IPv6Protocol, pods)
	if v6.AddressType != discoveryv1.AddressTypeIPv6 || len(v6.Endpoints) != 1 || v6.Endpoints[0].Addresses[0] != "2001:2:0:12::2" {
		t.Errorf("IPv6 slice %s %+v", v6.AddressType, v6.Endpoints)
	}
	v4 := sliceFor(svc, corev1.IPv4Protocol, pods)
	if v4.AddressType != discoveryv1.AddressTypeIPv4 || len(v4.Endpoints) != 2 || v4.Endpoints[0].Addresses[0] != "198.18.12.2" {
		t.Errorf("IPv4 slice %s %+v", v4.AddressType, v4.Endpoints)
	}
	if v6.Name == v4.Name || *v6.Ports[0].Port != 80 {
		t.Errorf("names %s %s, ports %+v", v6.Name, v4.Name, v6.Ports)
	}
}
