package bmp_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestBMPListenFailed: a class whose collector port is taken says so (SessionsEstablished
// False, BMPListenFailed, with the system's error, and status.bmp.listening false); once
// the port is free the operator's next look (every 30 s) opens it, and the class then
// names each router that has not connected yet.
func TestBMPListenFailed(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := int32(taken.Addr().(*net.TCPAddr).Port)
	create(t, &v1alpha1.AnycastClass{
		ObjectMeta: metav1.ObjectMeta{Name: "bmp-port-taken"},
		Spec: v1alpha1.AnycastClassSpec{
			Pools: []string{"192.168.157.0/24"}, GatewayClassName: "envoy", Clusters: members(252),
			Watcher: &v1alpha1.Watcher{BMP: &v1alpha1.BMPCollector{ListenAddress: "127.0.0.1", Port: &port,
				Routers: []v1alpha1.BMPRouter{{Name: "tor-west", Address: "127.0.0.51"}}}},
		},
	})
	t.Cleanup(func() { testenv.DeleteClass(t, west.Client, "bmp-port-taken") })
	testenv.Eventually(t, "BMPListenFailed", converge, func() error {
		cls := getClass(t, "bmp-port-taken")
		if err := testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionSessionsEstablished, metav1.ConditionFalse, "BMPListenFailed"); err != nil {
			return err
		}
		if b := cls.Status.BMP; b == nil || b.Listening || !strings.Contains(b.Message, "address already in use") {
			return fmt.Errorf("status.bmp %+v", b)
		}
		return nil
	})
	taken.Close()
	testenv.Eventually(t, "listening once the port is free; the router not connected yet", converge, func() error {
		cls := getClass(t, "bmp-port-taken")
		if err := testenv.ConditionIs(cls.Status.Conditions, cls.Generation, v1alpha1.ConditionSessionsEstablished, metav1.ConditionFalse, "SessionsDown"); err != nil {
			return err
		}
		for _, c := range cls.Status.Conditions {
			if c.Type == v1alpha1.ConditionSessionsEstablished && !strings.Contains(c.Message, "BMP router tor-west is not connected: not connected yet") {
				return fmt.Errorf("condition message %q", c.Message)
			}
		}
		if b := cls.Status.BMP; b == nil || !b.Listening || b.Address != fmt.Sprintf("127.0.0.1:%d", port) {
			return fmt.Errorf("status.bmp %+v", b)
		}
		return nil
	})
}
