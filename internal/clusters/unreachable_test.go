package clusters

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestIsUnreachable: a refused connection (an API server stopped), wrapped as the applier
// wraps it, is unreachable; an answer (an API error) is not, nor is a server that accepted
// the connection and then took too long (a slow member, which memberWork handles).
func TestIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	_, refused := http.Get("http://" + closed + "/apis")
	if refused == nil {
		t.Fatal("a closed port answered")
	}
	if !IsUnreachable(fmt.Errorf("creating IPAddressPool x: %w", refused)) {
		t.Errorf("a refused connection is not unreachable: %v", refused)
	}

	slow, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	go func() {
		for {
			c, err := slow.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+slow.Addr().String()+"/apis", nil)
	_, timedOut := http.DefaultClient.Do(req)
	if timedOut == nil || IsUnreachable(timedOut) {
		t.Errorf("a connection that was made, then timed out, counts as unreachable: %v", timedOut)
	}

	if IsUnreachable(apierrors.NewNotFound(schema.GroupResource{Resource: "ipaddresspools"}, "x")) {
		t.Error("an answer from the API server counts as unreachable")
	}
}
