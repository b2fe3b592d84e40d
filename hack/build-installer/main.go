// Command build-installer writes the single-file installer: the kustomize build of
// config/default (CRDs, namespace, RBAC, Deployment, metrics Service) with the operator
// image set, as `kubectl kustomize` would print it.
//
//	go run ./hack/build-installer [-image IMG] [-o dist/install.yaml] [config/default]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/anycast-operator/anycast-operator/hack/generate"
)

func main() {
	image := flag.String("image", "", "operator image (REPOSITORY[:TAG][@DIGEST]); default: the one config/manager sets")
	out := flag.String("o", "dist/install.yaml", "output file (- for stdout)")
	flag.Parse()
	dir := "config/default"
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	b, err := generate.Kustomize(dir, *image)
	if err != nil {
		fail(err)
	}
	header := []byte("# anycast-operator installer: the kustomize build of " + dir + ". Apply with\n#   kubectl apply --server-side -f install.yaml\n# MetalLB's namespace (metallb-system) must exist first. See docs/install.md.\n")
	b = append(header, b...)
	if *out == "-" {
		_, err = os.Stdout.Write(b)
	} else {
		if err = os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "build-installer:", err)
	os.Exit(1)
}
