// Package schema_test checks the API's validation and the renderer's output against a real
// kube-apiserver with the real upstream CRDs of MetalLB, Gateway API and Skupper installed.
package schema_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start("schema")
	if err != nil {
		// Never skip: an API server that cannot start is a failure, in CI and outside.
		fmt.Fprintln(os.Stderr, "FAIL: envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}
